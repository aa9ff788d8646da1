"""End-to-end performance benchmark: ingest, queries, concurrency with live ingest, scaling.

    python bench/run.py --messages 200000           one size
    python bench/run.py --messages 50000,200000     several sizes; p95 ratios largest/smallest
    python bench/run.py --scaling                   the same as --messages 50000,200000
    python bench/run.py --messages 5000 --quick     a smoke run (fewer repetitions, 20 s CPU window)

For each size, in fresh temporary DATA_DIR:
  1. bench/mailcow_backlog.py (subprocess) generates a 7-day backlog with the simulator's
     generator (demo mix, rate_per_hour = messages / 168), its buffers as large as what it
     generated, and serves it as mailcow over loopback HTTP.
  2. Ingest: bench/ingest_once.py (subprocess; the same calls as `python run.py fetch`)
     fetches everything over HTTP and correlates it. Wall time, Postfix lines/s, messages/s,
     peak RSS (wait4 rusage of that process).
  3. Queries: `python run.py` (waitress + scheduler, FETCH_INTERVAL=10) on that DATA_DIR;
     each endpoint is warmed up once, then timed over real HTTP (requests.Session):
     single client, then 8 concurrent clients while the simulator's live traffic runs
     (~2,000 Postfix lines a minute) and the scheduler fetches every 10 s.
  4. Scheduler cost: the app's CPU time (/proc/PID/stat) over a window of steady live
     traffic with no queries.
  5. Server peak RSS (VmHWM), database bytes per message, "database is locked" in its log.
One table is printed, and everything is written to bench/results/<timestamp>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DAY = 86400

# Target p95 (ms) per endpoint group, single client, at 200k messages (the numbers).
TARGET_MS = {"messages": 50, "details": 50, "dashboard": 50, "timeline": 50, "settings": 50,
             "search": 150, "logs": 100, "csv": 2000}
TARGET_LINES_PER_S = 20000
TARGET_RSS_MB = 250
TARGET_CPU_PERCENT = 5.0
TARGET_SCALING = 2.0
TARGET_CONCURRENT = 4.0


# ---------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(samples: list[float]) -> dict:
    return {"n": len(samples), "p50": percentile(samples, 50), "p95": percentile(samples, 95),
            "max": max(samples) if samples else None}


def proc_status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                out[line.split(":")[0]] = int(line.split()[1])   # kB
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks   # utime + stime


def wait_http(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up within {timeout} s")


class Backlog:
    """bench/mailcow_backlog.py as a subprocess, spoken to over its stdin/stdout."""

    def __init__(self, messages: int, seed: int, log_path: Path, timeout: float, now: float | None = None):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "mailcow_backlog.py"), "--port", str(self.port),
             "--messages", str(messages), "--seed", str(seed)] + (["--now", str(now)] if now is not None else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_path.open("wb"), text=True, cwd=ROOT)
        self.info = self._read(timeout)
        self.url = self.info["url"]

    def _read(self, timeout: float) -> dict:
        result: dict = {}

        def reader():
            line = self.proc.stdout.readline()
            if line:
                result.update(json.loads(line))
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(timeout)
        if not result:
            raise RuntimeError(f"simulated mailcow gave no answer within {timeout} s")
        return result

    def command(self, text: str, timeout: float = 120) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("stop", timeout=10)
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def app_env(data_dir: Path, mailcow_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({"MAILCOW_URL": mailcow_url, "MAILCOW_API_KEY": "SIM-API-KEY", "DATA_DIR": str(data_dir),
                "LOG_LEVEL": "WARNING", "TZ": "UTC",
                # No outbound requests from the version check.
                "APP_VERSION_URL": "http://127.0.0.1:9/", "MAILCOW_VERSION_URL": "http://127.0.0.1:9/"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---------------------------------------------------------------- ingest

def run_ingest(env: dict, out_path: Path, timeout: float, profile: Path | None, spy: str | None = None) -> dict:
    args = [sys.executable, str(BENCH / "ingest_once.py")]
    if profile:
        args += ["--profile", str(profile)]
    if spy:
        # Sampling, unlike cProfile, leaves the split between Python and SQLite as it is.
        args = ["py-spy", "record", "--format", "raw", "--rate", "200", "-o", spy, "--", *args]
    with out_path.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                raise TimeoutError(f"ingest did not finish within {timeout} s")
            time.sleep(0.05)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed ({proc.returncode}):\n{text[-3000:]}")
    # The result is the last JSON line: py-spy prints its own summary after it.
    result = json.loads([line for line in text.splitlines() if line.startswith("{")][-1])
    result.update(wall_seconds=wall, process_maxrss_kb=usage.ru_maxrss,
                  process_cpu_seconds=usage.ru_utime + usage.ru_stime)
    return result


# ---------------------------------------------------------------- query set

def pick_samples(db_path: Path, seed: int) -> dict:
    """Real values from the ingested database: a sender, a subject word, a day, 50 keys."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rng = random.Random(seed)
        ids = [r[0] for r in con.execute("SELECT id FROM message")]
        keys = [con.execute("SELECT correlation_key FROM message WHERE id = ?", (i,)).fetchone()[0]
                for i in rng.sample(ids, min(50, len(ids)))]
        senders = [r[0] for r in con.execute(
            "SELECT sender FROM message WHERE sender IS NOT NULL AND sender != '' AND direction = 'outbound' "
            "ORDER BY id")]
        if not senders:
            senders = [r[0] for r in con.execute("SELECT sender FROM message WHERE sender != '' ORDER BY id")]
        sender = rng.choice(senders)
        subjects = [r[0] for r in con.execute("SELECT subject FROM message WHERE subject IS NOT NULL AND subject != ''"
                                              " ORDER BY id LIMIT 2000")]
        words = sorted({w.strip(".,:;!?()[]\"'").lower() for s in subjects for w in s.split()
                        if len(w.strip(".,:;!?()[]\"'")) >= 5})
        word = rng.choice(words) if words else "invoice"
        lo, hi = con.execute("SELECT MIN(first_seen), MAX(first_seen) FROM message").fetchone()
        total = con.execute("SELECT COUNT(*) FROM message").fetchone()[0]
    finally:
        con.close()
    mid = lo + (hi - lo) // 2
    day_start = mid - mid % DAY
    return {"keys": keys, "sender": sender, "word": word, "messages": total,
            "day_start": datetime.fromtimestamp(day_start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "day_end": datetime.fromtimestamp(day_start + DAY - 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def query_set(samples: dict) -> list[tuple[str, str, object]]:
    """(name, group, path or callable(i) -> path)."""
    keys = samples["keys"]
    sender = samples["sender"]
    return [
        ("messages", "messages", "/api/messages"),
        ("messages sender=", "messages", f"/api/messages?sender={requests.utils.quote(sender)}"),
        ("messages status=bounced", "messages", "/api/messages?status=bounced"),
        ("messages direction=inbound", "messages", "/api/messages?direction=inbound"),
        ("messages one day", "messages",
         f"/api/messages?start_date={samples['day_start']}&end_date={samples['day_end']}"),
        ("messages page=200", "messages", "/api/messages?page=200"),
        ("search word", "search", f"/api/messages?search={requests.utils.quote(samples['word'])}"),
        ("search from:sender", "search", f"/api/messages?search={requests.utils.quote('from:' + sender)}"),
        ("message details", "details", lambda i: f"/api/message/{keys[i % len(keys)]}/details"),
        ("logs postfix", "logs", "/api/logs/postfix"),
        ("logs rspamd", "logs", "/api/logs/rspamd"),
        ("logs netfilter", "logs", "/api/logs/netfilter"),
        ("stats dashboard", "dashboard", "/api/stats/dashboard"),
        ("stats timeline 168h", "timeline", "/api/stats/timeline?hours=168"),
        ("settings info", "settings", "/api/settings/info"),
        ("csv export 10k", "csv", "/api/export/messages/csv"),
    ]


def timed_get(session: requests.Session, url: str) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    body = response.content
    return (time.perf_counter() - started) * 1000, response.status_code, body


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.locked = 0
        self.error_examples: list[str] = []

    def add(self, name: str, ms: float | None, status: int | None, body: bytes | str | None) -> None:
        with self.lock:
            if ms is not None and status == 200:
                self.samples.setdefault(name, []).append(ms)
                return
            self.errors[name] = self.errors.get(name, 0) + 1
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            if "database is locked" in text:
                self.locked += 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{name}: {status} {text[:200]}")


def one_request(session, base: str, name: str, target, i: int, tally: Tally) -> None:
    path = target(i) if callable(target) else target
    try:
        ms, status, body = timed_get(session, base + path)
        tally.add(name, ms, status, body)
    except requests.RequestException as error:
        tally.add(name, None, None, f"{type(error).__name__}: {error}")


def single_client(base: str, queries, reps: int, csv_reps: int) -> Tally:
    tally = Tally()
    session = requests.Session()
    for name, group, target in queries:
        one_request(session, base, "warmup", target, 0, Tally())
        n = csv_reps if group == "csv" else reps
        for i in range(n):
            one_request(session, base, name, target, i, tally)
    session.close()
    return tally


def concurrent_clients(base: str, queries, clients: int, rounds: int, csv_every: int) -> tuple[Tally, float]:
    """Each client runs `rounds` passes over the whole set (CSV on every csv_every-th pass), in its own order."""
    tally = Tally()

    def client(index: int):
        rng = random.Random(index)
        session = requests.Session()
        for r in range(rounds):
            order = list(queries)
            rng.shuffle(order)
            for name, group, target in order:
                if group == "csv" and (r + index) % csv_every:
                    continue
                one_request(session, base, name, target, index * 1000 + r, tally)
        session.close()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, time.perf_counter() - started


def info(base: str) -> dict:
    return requests.get(base + "/api/settings/info", timeout=60).json()


def fetch_runs(base: str) -> int:
    return info(base).get("background_jobs", {}).get("fetch_logs", {}).get("runs", 0)


def wait_fetch_cycle(base: str, timeout: float = 120) -> None:
    start = fetch_runs(base)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fetch_runs(base) > start:
            return
        time.sleep(0.5)
    raise TimeoutError("no fetch cycle finished")


def db_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("mailcow-logs.db*"))


def py_spy(pid: int, seconds: int, out: Path) -> subprocess.Popen | None:
    """py-spy record of the app for `seconds` (if py-spy is installed); returns the process."""
    from shutil import which
    exe = which("py-spy")
    if not exe:
        return None
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(seconds), "-r", "100", "-f", "raw",
                             "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


# ---------------------------------------------------------------- one size

def bench_size(messages: int, args, work: Path) -> dict:
    size_dir = work / f"m{messages}"
    data_dir = size_dir / "data"
    data_dir.mkdir(parents=True)
    result: dict = {"messages_requested": messages}
    log(f"[{messages}] generating the 7-day backlog")
    backlog = Backlog(messages, args.seed, size_dir / "simulator.log", timeout=args.timeout)
    app = None
    try:
        counts = backlog.info["line_counts"]
        result["generated"] = {"messages": backlog.info["messages"], "lines": counts,
                               "postfix_lines_per_message": round(counts["postfix"] / backlog.info["messages"], 2),
                               "generate_seconds": backlog.info["generate_seconds"]}
        log(f"[{messages}] generated {counts} for {backlog.info['messages']} messages "
            f"in {backlog.info['generate_seconds']} s; ingesting")

        # ---- ingest
        env = app_env(data_dir, backlog.url, FETCH_COUNT_POSTFIX=args.fetch_count,
                      FETCH_COUNT_RSPAMD=args.fetch_count, FETCH_COUNT_NETFILTER=args.fetch_count)
        profile = (RESULTS / f"{args.stamp}-ingest-{messages}.prof") if args.profile_ingest else None
        result["loadavg_before_ingest"] = os.getloadavg()
        ing = run_ingest(env, size_dir / "ingest.log", args.timeout, profile)
        stored_postfix = ing["fetch"]["postfix"]["stored"]
        result["ingest"] = {
            "wall_seconds": round(ing["wall_seconds"], 2),
            "fetch_seconds": round(ing["fetch_seconds"], 2),
            "correlate_seconds": round(ing["correlate_seconds"], 2),
            "postfix_lines_per_s": round(counts["postfix"] / ing["wall_seconds"]),
            # Insensitive to other load on the machine: lines per second of the app's own CPU time.
            "postfix_lines_per_cpu_s": round(counts["postfix"] / max(ing["process_cpu_seconds"], 1e-9)),
            "loadavg_after": os.getloadavg(),
            "messages_correlated": ing["correlate"]["messages"],
            "messages_per_s": round(ing["correlate"]["messages"] / ing["wall_seconds"]),
            "messages_per_s_correlate_only": round(ing["correlate"]["messages"] / max(ing["correlate_seconds"], 1e-9)),
            "peak_rss_mb": round(ing["process_maxrss_kb"] / 1024, 1),
            "cpu_seconds": round(ing["process_cpu_seconds"], 2),
            "fetch": ing["fetch"], "correlate": ing["correlate"],
            "complete": all(ing["fetch"][s]["stored"] == counts.get(s, 0) for s in ("postfix", "rspamd", "netfilter")),
            "profile": str(profile.with_suffix(".txt")) if profile else None,
        }
        if stored_postfix != counts["postfix"]:
            log(f"[{messages}] WARNING: stored {stored_postfix} Postfix lines of {counts['postfix']} generated")
        log(f"[{messages}] ingest {result['ingest']['wall_seconds']} s "
            f"({result['ingest']['postfix_lines_per_s']} Postfix lines/s, fetch {result['ingest']['fetch_seconds']} s, "
            f"correlate {result['ingest']['correlate_seconds']} s), peak RSS {result['ingest']['peak_rss_mb']} MB")
        size_after_ingest = db_bytes(data_dir)
        samples = pick_samples(data_dir / "mailcow-logs.db", args.seed)
        result["db"] = {"bytes": size_after_ingest, "messages": samples["messages"],
                        "bytes_per_message": round(size_after_ingest / max(samples["messages"], 1))}
        result["samples"] = {k: v for k, v in samples.items() if k != "keys"}

        # ---- server
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_env = app_env(data_dir, backlog.url, APP_HOST="127.0.0.1", APP_PORT=port, FETCH_INTERVAL=10,
                             CSV_EXPORT_LIMIT=10000, FETCH_COUNT_POSTFIX=args.serve_fetch_count,
                             FETCH_COUNT_RSPAMD=args.serve_fetch_count_small,
                             FETCH_COUNT_NETFILTER=args.serve_fetch_count_small)
        app_log = size_dir / "app.log"
        app = subprocess.Popen([sys.executable, str(ROOT / "run.py")], env=server_env, cwd=ROOT,
                               stdout=app_log.open("wb"), stderr=subprocess.STDOUT)
        wait_http(base + "/api/health", 60)
        # Let the start-up cycle (every job once) finish before timing anything.
        deadline = time.time() + 300
        while time.time() < deadline:
            jobs = info(base).get("background_jobs", {})
            if jobs and all(j.get("runs", 0) >= 1 and j.get("status") != "running"
                            for j in jobs.values() if "interval" in j):
                break
            time.sleep(0.5)
        queries = query_set(samples)

        log(f"[{messages}] single client: {args.reps} requests per endpoint ({args.csv_reps} for the CSV)")
        spy = py_spy(app.pid, args.spy_seconds, RESULTS / f"{args.stamp}-queries-{messages}.txt") \
            if args.profile_queries else None
        result["loadavg_before_queries"] = os.getloadavg()
        cpu_before_single = proc_cpu_seconds(app.pid)
        single = single_client(base, queries, args.reps, args.csv_reps)
        result["single_server_cpu_seconds"] = round(proc_cpu_seconds(app.pid) - cpu_before_single, 2)
        if spy:
            spy.send_signal(signal.SIGINT)   # py-spy writes what it has recorded and exits
            spy.wait(60)
        rss_after_single = proc_status(app.pid)

        # ---- concurrent, with live ingest
        live = backlog.command(f"live {args.live_lines_per_minute} 2")
        log(f"[{messages}] live traffic on (x{live['multiplier']:.2f}, {live['messages_per_hour']:.0f} msg/h); "
            f"{args.clients} concurrent clients")
        wait_fetch_cycle(base)
        before = info(base)
        conc, conc_seconds = concurrent_clients(base, queries, args.clients, args.rounds, args.csv_every)
        after = info(base)
        ingest_during = {
            "fetch_cycles": after["background_jobs"]["fetch_logs"]["runs"] - before["background_jobs"]["fetch_logs"]["runs"],
            "postfix_lines_stored": after["import_status"]["postfix"]["total_entries"]
            - before["import_status"]["postfix"]["total_entries"],
            "messages_added": after["correlation_status"]["total"] - before["correlation_status"]["total"],
            "seconds": round(conc_seconds, 1),
            "fetch_last_duration_seconds": after["background_jobs"]["fetch_logs"].get("last_duration_seconds"),
        }

        # ---- steady-state scheduler CPU, no queries
        log(f"[{messages}] scheduler CPU over {args.cpu_seconds} s of steady live traffic, no queries")
        wait_fetch_cycle(base)
        p0 = info(base)["import_status"]["postfix"]["total_entries"]
        c0, t0 = proc_cpu_seconds(app.pid), time.perf_counter()
        time.sleep(args.cpu_seconds)
        c1, t1 = proc_cpu_seconds(app.pid), time.perf_counter()
        p1 = info(base)["import_status"]["postfix"]["total_entries"]
        steady = {"seconds": round(t1 - t0, 1), "cpu_seconds": round(c1 - c0, 2),
                  "cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 2),
                  "postfix_lines_stored": p1 - p0,
                  "postfix_lines_per_minute": round((p1 - p0) * 60 / (t1 - t0))}

        status = proc_status(app.pid)
        app_output = app_log.read_text(errors="replace")
        result["server"] = {"peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
                            "rss_after_single_mb": round(rss_after_single.get("VmRSS", 0) / 1024, 1),
                            "rss_end_mb": round(status.get("VmRSS", 0) / 1024, 1),
                            "log_database_locked": app_output.count("database is locked"),
                            "log_errors": app_output.count(" ERROR ")}
        result["queries"] = {}
        for name, group, _ in queries:
            s = summary(single.samples.get(name, []))
            c = summary(conc.samples.get(name, []))
            result["queries"][name] = {"group": group, "target_ms": TARGET_MS[group], "single": s, "concurrent": c,
                                       "errors_single": single.errors.get(name, 0),
                                       "errors_concurrent": conc.errors.get(name, 0)}
        result["concurrent"] = {"clients": args.clients, "errors": sum(conc.errors.values()),
                                "database_locked": conc.locked, "error_examples": conc.error_examples,
                                "ingest_during": ingest_during}
        result["single_errors"] = {"errors": sum(single.errors.values()), "examples": single.error_examples}
        result["steady"] = steady
        result["db"]["bytes_end"] = db_bytes(data_dir)
        return result
    finally:
        if app is not None and app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(30)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
        backlog.stop()


# ---------------------------------------------------------------- report

def fmt(v, digits=1) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def verdicts(results: list[dict]) -> list[dict]:
    """Each target against the largest size (and against the smallest for the scaling ratio)."""
    big = results[-1]
    small = results[0] if len(results) > 1 else None
    out = []

    def add(what, value, target, ok, unit=""):
        out.append({"target": what, "value": value, "limit": target, "unit": unit, "pass": bool(ok)})
    ing = big["ingest"]
    add("ingest+correlate Postfix lines/s", ing["postfix_lines_per_s"], f">= {TARGET_LINES_PER_S}",
        ing["postfix_lines_per_s"] >= TARGET_LINES_PER_S)
    add("ingest process peak RSS", ing["peak_rss_mb"], f"<= {TARGET_RSS_MB}", ing["peak_rss_mb"] <= TARGET_RSS_MB, "MB")
    add("server peak RSS (queries + live ingest)", big["server"]["peak_rss_mb"], f"<= {TARGET_RSS_MB}",
        big["server"]["peak_rss_mb"] <= TARGET_RSS_MB, "MB")
    for name, q in big["queries"].items():
        p95 = q["single"]["p95"]
        add(f"p95 {name}", p95, f"<= {q['target_ms']}", p95 is not None and p95 <= q["target_ms"], "ms")
    for name, q in big["queries"].items():
        p95, c95 = q["single"]["p95"], q["concurrent"]["p95"]
        ratio = c95 / p95 if p95 and c95 else None
        add(f"concurrent/single p95 {name}", ratio and round(ratio, 2), f"<= {TARGET_CONCURRENT}",
            ratio is not None and ratio <= TARGET_CONCURRENT, "x")
    if small is not None:
        for name, q in big["queries"].items():
            p_small = small["queries"][name]["single"]["p95"]
            p_big = q["single"]["p95"]
            ratio = p_big / p_small if p_small and p_big else None
            add(f"p95 {name} {big['messages_requested']}/{small['messages_requested']}", ratio and round(ratio, 2),
                f"<= {TARGET_SCALING}", ratio is not None and ratio <= TARGET_SCALING, "x")
    conc = big["concurrent"]
    add("concurrent errors", conc["errors"], "0", conc["errors"] == 0)
    add("'database is locked' (responses + server log)", conc["database_locked"] + big["server"]["log_database_locked"],
        "0", conc["database_locked"] + big["server"]["log_database_locked"] == 0)
    add("scheduler CPU, steady traffic", big["steady"]["cpu_percent_of_one_core"], f"< {TARGET_CPU_PERCENT}",
        big["steady"]["cpu_percent_of_one_core"] < TARGET_CPU_PERCENT, "% of a core")
    return out


def table(results: list[dict], checks: list[dict]) -> str:
    lines = []
    sizes = [r["messages_requested"] for r in results]
    lines.append("Mailcow Logs Viewer benchmark  (" + ", ".join(f"{s:,} messages" for s in sizes) + ")")
    lines.append("")
    head = f"{'':30}" + "".join(f"{s:>14,}" for s in sizes)
    lines.append(head)

    def row(label, getter, digits=1):
        vals = []
        for r in results:
            try:
                vals.append(getter(r))
            except (KeyError, TypeError):
                vals.append(None)
        lines.append(f"{label:30}" + "".join(f"{fmt(v, digits):>14}" for v in vals))
    row("generated messages", lambda r: r["generated"]["messages"])
    row("generated Postfix lines", lambda r: r["generated"]["lines"]["postfix"])
    row("Postfix lines / message", lambda r: r["generated"]["postfix_lines_per_message"], 2)
    row("ingest wall s", lambda r: r["ingest"]["wall_seconds"])
    row("  fetch+parse+store s", lambda r: r["ingest"]["fetch_seconds"])
    row("  correlate s", lambda r: r["ingest"]["correlate_seconds"])
    row("ingest Postfix lines/s", lambda r: r["ingest"]["postfix_lines_per_s"])
    row("  per CPU-second of app", lambda r: r["ingest"]["postfix_lines_per_cpu_s"])
    row("  ingest process CPU s", lambda r: r["ingest"]["cpu_seconds"])
    row("load avg before ingest", lambda r: r["loadavg_before_ingest"][0], 2)
    row("load avg before queries", lambda r: r["loadavg_before_queries"][0], 2)
    row("messages correlated", lambda r: r["ingest"]["messages_correlated"])
    row("messages/s (end to end)", lambda r: r["ingest"]["messages_per_s"])
    row("messages/s (correlate only)", lambda r: r["ingest"]["messages_per_s_correlate_only"])
    row("ingest peak RSS MB", lambda r: r["ingest"]["peak_rss_mb"])
    row("server peak RSS MB", lambda r: r["server"]["peak_rss_mb"])
    row("DB bytes / message", lambda r: r["db"]["bytes_per_message"])
    row("DB MB", lambda r: r["db"]["bytes"] / 2 ** 20)
    row("steady CPU % of a core", lambda r: r["steady"]["cpu_percent_of_one_core"], 2)
    row("  Postfix lines/min then", lambda r: r["steady"]["postfix_lines_per_minute"])
    row("concurrent errors", lambda r: r["concurrent"]["errors"])
    row("  'database is locked'", lambda r: r["concurrent"]["database_locked"] + r["server"]["log_database_locked"])
    row("  lines ingested meanwhile", lambda r: r["concurrent"]["ingest_during"]["postfix_lines_stored"])
    lines.append("")
    big = results[-1]
    small = results[0] if len(results) > 1 else None
    lines.append(f"Latency ms at {big['messages_requested']:,} messages (single client: p50 / p95 / max; "
                 f"{big['concurrent']['clients']} clients + live ingest: p95)"
                 + (f"; scaling = p95 / p95 at {small['messages_requested']:,}" if small else ""))
    hdr = f"{'endpoint':28}{'target':>8}{'p50':>9}{'p95':>9}{'max':>9}{'conc p95':>10}{'conc/1':>8}"
    if small:
        hdr += f"{'p95 small':>10}{'scale':>7}"
    lines.append(hdr + "  ok")
    for name, q in big["queries"].items():
        s, c = q["single"], q["concurrent"]
        ratio = c["p95"] / s["p95"] if s["p95"] and c["p95"] else None
        ok = s["p95"] is not None and s["p95"] <= q["target_ms"] and (ratio is not None and ratio <= TARGET_CONCURRENT)
        text = (f"{name:28}{q['target_ms']:>8}{fmt(s['p50']):>9}{fmt(s['p95']):>9}{fmt(s['max']):>9}"
                f"{fmt(c['p95']):>10}{fmt(ratio, 2):>8}")
        if small:
            sp = small["queries"][name]["single"]["p95"]
            scale = s["p95"] / sp if sp and s["p95"] else None
            ok = ok and scale is not None and scale <= TARGET_SCALING
            text += f"{fmt(sp):>10}{fmt(scale, 2):>7}"
        lines.append(text + ("  ok" if ok else "  MISS"))
    lines.append("")
    lines.append("Targets:")
    for c in checks:
        if c["target"].startswith(("p95 ", "concurrent/single")):
            continue   # shown per endpoint above
        lines.append(f"  {'ok  ' if c['pass'] else 'MISS'} {c['target']}: {fmt(c['value'])} {c['unit']} (target {c['limit']})")
    missed = [c for c in checks if not c["pass"]]
    lines.append(f"  {len(checks) - len(missed)} of {len(checks)} targets met")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", default="200000", help="one size or a comma-separated list (default 200000)")
    ap.add_argument("--scaling", action="store_true", help="run 50000 and 200000 (overrides --messages)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and a 20 s CPU window")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=50, help="single-client requests per endpoint")
    ap.add_argument("--csv-reps", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7, help="passes over the query set per concurrent client")
    ap.add_argument("--csv-every", type=int, default=3, help="a concurrent client exports CSV every Nth pass")
    ap.add_argument("--fetch-count", type=int, default=20000, help="FETCH_COUNT_* for the ingest phase")
    ap.add_argument("--serve-fetch-count", type=int, default=2000, help="FETCH_COUNT_POSTFIX for the server")
    ap.add_argument("--serve-fetch-count-small", type=int, default=500, help="FETCH_COUNT_RSPAMD/NETFILTER for the server")
    ap.add_argument("--live-lines-per-minute", type=float, default=2000)
    ap.add_argument("--cpu-seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed for generating or ingesting one size")
    ap.add_argument("--profile-ingest", action="store_true", help="run the ingest under cProfile (slower)")
    ap.add_argument("--profile-queries", action="store_true", help="py-spy record the app during single-client queries")
    ap.add_argument("--spy-seconds", type=int, default=600, help="upper bound for the py-spy recording")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = ap.parse_args(argv)
    sizes = [50000, 200000] if args.scaling else [int(s) for s in args.messages.split(",") if s.strip()]
    sizes.sort()
    if args.quick:
        args.reps, args.csv_reps, args.rounds, args.cpu_seconds = 20, 3, 3, 20
    args.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mlv-bench-"))
    log(f"work directory {work}")
    results = []
    started = time.perf_counter()
    try:
        for size in sizes:
            results.append(bench_size(size, args, work))
    finally:
        if not args.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    checks = verdicts(results)
    text = table(results, checks)
    print(text)
    report = {"timestamp": args.stamp, "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "seconds": round(time.perf_counter() - started, 1),
              "settings": {k: v for k, v in vars(args).items() if k != "stamp"},
              "sizes": results, "targets": checks, "table": text}
    out = RESULTS / f"{args.stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
