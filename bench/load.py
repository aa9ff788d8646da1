"""Concurrent API load while ingest runs: no errors, no "database is locked", a bounded WAL.

    python bench/load.py                               # 50 clients, 60 s, 5,000 Postfix lines a minute
    python bench/load.py --clients 10 --duration 10    # the smoke version (tests/test_load_smoke.py)

Starts two subprocesses in a temporary directory: the simulated mailcow (`run.py simulate`)
producing live traffic at the given rate (about 10 Postfix lines per message in its default
mix, so --lines-per-minute 5000 is --rate 30000 messages an hour), and the app (`run.py`,
waitress and the scheduler, FETCH_INTERVAL=10). Once the app has its first messages, N client
threads call a mix of API endpoints (lists, search, details, logs, stats, health, settings)
back to back for the duration, while a sampler reads the size of the `-wal` file and the
checkpoint sequence number in its header (which goes up each time SQLite restarts the WAL
after a checkpoint) every 0.1 s.

Prints requests served, errors, p50/p95/max latency, max WAL size, WAL restarts and the
Postfix lines stored during the load (lines mailcow logged in the last fetch interval are not
fetched yet when it ends, so the per-minute figure is a little under the produced rate); exits 1 if any request failed (non-2xx, exception,
timeout), "database is locked" appeared in a response or the app's output, or the WAL grew
beyond --max-wal-mb.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
LINES_PER_MESSAGE = 10.0          # the simulator's default mix (measured: 9.9 Postfix lines a message)
SIM_KEY = "SIM-API-KEY"
SETTINGS = ("MAILCOW_URL", "MAILCOW_API_KEY", "DATA_DIR", "FETCH_INTERVAL", "LOG_LEVEL", "APP_HOST", "APP_PORT",
            "AUTH_ENABLED", "APP_VERSION_URL", "MAILCOW_VERSION_URL", "DATABASE_FILE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, timeout: float, ok=lambda r: r.status_code < 500) -> requests.Response:
    deadline = time.time() + timeout
    while True:
        try:
            response = requests.get(url, timeout=5)
            if ok(response):
                return response
        except requests.RequestException:
            pass
        if time.time() > deadline:
            raise TimeoutError(f"{url} not ready within {timeout} s")
        time.sleep(0.2)


class _Child:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wal_state(path: Path) -> tuple[int, int | None]:
    """(size in bytes, checkpoint sequence number from the WAL header) or (0, None)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(32)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return 0, None
    if len(header) < 16:
        return size, None
    return size, struct.unpack(">I", header[12:16])[0]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _paths(keys: list[str], queue_ids: list[str], rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.20:
        return f"/api/messages?limit=50&page={rng.randint(1, 3)}"
    if choice < 0.30:
        return f"/api/messages?search={rng.choice(['example', 'user', 'bulk', 'info'])}&limit=50"
    if choice < 0.38:
        return f"/api/messages?status={rng.choice(['delivered', 'bounced', 'deferred', 'rejected', 'spam'])}&limit=25"
    if choice < 0.50 and keys:
        return f"/api/message/{rng.choice(keys)}/details"
    if choice < 0.60:
        return f"/api/logs/postfix?limit=100&page={rng.randint(1, 3)}"
    if choice < 0.65 and queue_ids:
        return f"/api/logs/postfix/by-queue/{rng.choice(queue_ids)}"
    if choice < 0.70:
        return "/api/logs/rspamd?limit=50"
    if choice < 0.74:
        return "/api/logs/netfilter?limit=50"
    if choice < 0.82:
        return "/api/stats/dashboard"
    if choice < 0.87:
        return "/api/stats/timeline"
    if choice < 0.90:
        return "/api/stats/recent-activity"
    if choice < 0.95:
        return "/api/health"
    return "/api/settings/info"


def run_load(clients: int = 50, duration: float = 60.0, lines_per_minute: float = 5000.0, fetch_interval: int = 10,
             max_wal_mb: float = 64.0, workdir: Path | None = None, keep: bool = False, verbose: bool = True,
             min_fetches: int = 0) -> dict:
    """Run the load and return the figures (see the module docstring).

    `min_fetches`: keep the load on past `duration` (up to 30 s more) until the fetch job has
    completed that many runs during the load, so a short run surely overlaps ingest."""
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="mlv-load-")) if own_dir else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    data_dir = base / "data"
    wal_path = data_dir / "mailcow-logs.db-wal"
    sim_port, app_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    rate = lines_per_minute * 60 / LINES_PER_MESSAGE
    say = print if verbose else (lambda *a, **k: None)
    simulator = _Child(["simulate", "--port", str(sim_port), "--seed", "5", "--rate", str(rate),
                        "--preload-hours", str(min(0.05, 2000 / rate)), "--interval", "2"], env, base / "simulator.log")
    app = None
    try:
        _wait(f"http://127.0.0.1:{sim_port}/api/v1/get/status/version", 60)
        env.update({"MAILCOW_URL": f"http://127.0.0.1:{sim_port}", "MAILCOW_API_KEY": SIM_KEY, "DATA_DIR": str(data_dir),
                    "FETCH_INTERVAL": str(fetch_interval), "LOG_LEVEL": "WARNING", "APP_HOST": "127.0.0.1",
                    "APP_PORT": str(app_port), "APP_VERSION_URL": "http://127.0.0.1:9/latest",
                    "MAILCOW_VERSION_URL": "http://127.0.0.1:9/latest"})
        app = _Child([], env, base / "app.log")
        url = f"http://127.0.0.1:{app_port}"
        _wait(f"{url}/api/health", 60)
        # Ready when the start-up fetch has completed (its messages are visible before its end).
        _wait(f"{url}/api/settings/info", 120,
              ok=lambda r: r.ok and r.json()["background_jobs"].get("fetch_logs", {}).get("runs", 0) >= 1)
        first = _wait(f"{url}/api/messages?limit=100", 60, ok=lambda r: r.ok and r.json().get("total", 0) > 0).json()
        keys = [m["correlation_key"] for m in first["data"]]
        lines = requests.get(f"{url}/api/logs/postfix?limit=200", timeout=30).json()["data"]
        queue_ids = sorted({line["queue_id"] for line in lines if line.get("queue_id")})
        info = requests.get(f"{url}/api/settings/info", timeout=30).json()
        stored_at_start = info["import_status"]["postfix"]["total_entries"]
        fetches_at_start = info["background_jobs"]["fetch_logs"]["runs"]
        say(f"app at {url}, mailcow at http://127.0.0.1:{sim_port} ({rate:.0f} messages/h), "
            f"{clients} clients for {duration:g} s")

        stop = threading.Event()
        lock = threading.Lock()
        latencies: list[float] = []
        errors: list[str] = []
        locked = [0]
        wal_samples: list[tuple[float, int, int | None]] = []

        def client(number: int) -> None:
            rng = random.Random(number)
            session = requests.Session()
            mine, failures = [], []
            while not stop.is_set():
                path = _paths(keys, queue_ids, rng)
                started = time.perf_counter()
                try:
                    response = session.get(url + path, timeout=60)
                    body = response.content
                except requests.RequestException as error:
                    failures.append(f"{path}: {type(error).__name__}: {error}")
                    continue
                mine.append(time.perf_counter() - started)
                if b"database is locked" in body:
                    with lock:
                        locked[0] += 1
                if response.status_code != 200:
                    failures.append(f"{path}: HTTP {response.status_code} {body[:200]!r}")
            with lock:
                latencies.extend(mine)
                errors.extend(failures)

        def sampler() -> None:
            while not stop.is_set():
                size, sequence = _wal_state(wal_path)
                wal_samples.append((time.time(), size, sequence))
                stop.wait(0.1)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
        watcher = threading.Thread(target=sampler, daemon=True)
        started = time.time()
        watcher.start()
        for thread in threads:
            thread.start()
        time.sleep(duration)
        deadline = time.time() + 30
        while min_fetches and time.time() < deadline:
            runs = requests.get(f"{url}/api/settings/info", timeout=30).json()["background_jobs"]["fetch_logs"]["runs"]
            if runs - fetches_at_start >= min_fetches:
                break
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(120)
        watcher.join(5)
        elapsed = time.time() - started
        unanswered = sum(thread.is_alive() for thread in threads)

        info = requests.get(f"{url}/api/settings/info", timeout=30).json()
        fetch_job = info["background_jobs"]["fetch_logs"]
        stored_at_end = info["import_status"]["postfix"]["total_entries"]
        app.stop()
        output = app.output()
        locked[0] += output.count("database is locked")
        sizes = [size for _, size, _ in wal_samples]
        sequences = [seq for _, _, seq in wal_samples if seq is not None]
        result = {
            "clients": clients,
            "duration_s": round(elapsed, 1),
            "requests": len(latencies),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "errors": len(errors) + unanswered,
            "error_examples": errors[:5],
            "database_locked": locked[0],
            "p50_ms": round(1000 * _percentile(latencies, 0.50), 1),
            "p95_ms": round(1000 * _percentile(latencies, 0.95), 1),
            "max_ms": round(1000 * max(latencies, default=0), 1),
            "wal_max_bytes": max(sizes, default=0),
            "wal_last_bytes": sizes[-1] if sizes else 0,
            "wal_restarts": (max(sequences) - min(sequences)) if sequences else 0,
            "wal_samples": len(sizes),
            "postfix_lines_ingested": stored_at_end - stored_at_start,
            "postfix_lines_per_minute": round((stored_at_end - stored_at_start) / elapsed * 60),
            "fetch_runs": fetch_job["runs"] - fetches_at_start,
            "fetch_failures": fetch_job["failures"],
            "fetch_last_error": fetch_job["last_error"],
            "traceback_in_app_output": "Traceback" in output,
        }
        result["ok"] = (result["errors"] == 0 and result["database_locked"] == 0 and result["requests"] > 0
                        and result["wal_max_bytes"] <= max_wal_mb * 1024 * 1024 and result["fetch_failures"] == 0
                        and not result["traceback_in_app_output"])
        return result
    finally:
        if app is not None:
            app.stop()
        simulator.stop()
        if own_dir and not keep:
            shutil.rmtree(base, ignore_errors=True)
        elif verbose:
            print(f"kept {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--lines-per-minute", type=float, default=5000.0, help="Postfix lines mailcow produces")
    parser.add_argument("--fetch-interval", type=int, default=10)
    parser.add_argument("--max-wal-mb", type=float, default=64.0, help="fail if the WAL file gets larger")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run_load(args.clients, args.duration, args.lines_per_minute, args.fetch_interval, args.max_wal_mb,
                      keep=args.keep)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"requests served   {result['requests']} ({result['requests_per_s']}/s, {result['clients']} clients, "
              f"{result['duration_s']} s)")
        print(f"errors            {result['errors']}  database locked: {result['database_locked']}"
              + (f"  e.g. {result['error_examples'][0]}" if result["error_examples"] else ""))
        print(f"latency           p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  max {result['max_ms']} ms")
        print(f"WAL               max {result['wal_max_bytes'] / 1048576:.1f} MB, last "
              f"{result['wal_last_bytes'] / 1048576:.1f} MB, {result['wal_restarts']} restarts after checkpoints")
        print(f"ingest            {result['postfix_lines_ingested']} Postfix lines "
              f"({result['postfix_lines_per_minute']}/min), {result['fetch_runs']} fetches, "
              f"{result['fetch_failures']} failed")
        print("OK" if result["ok"] else "FAILED")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
