"""Insights speed: p50/p95 of /api/insights/{domains,mailboxes,destinations,reasons} at scale.

    python bench/insights_speed.py --messages 50000              generate, ingest, measure
    python bench/insights_speed.py --data DIR --keep             the same, keeping DIR for a rerun
    python bench/insights_speed.py --data DIR                    measure again on DIR (no ingest)

The backlog and the ingest are bench/run.py's (a 7-day backlog of the simulator's demo mix,
fetched over loopback HTTP). Then `python run.py` serves the database (its scheduler pointed at
a dead port, so nothing writes meanwhile) and each endpoint is asked over real HTTP for three
ranges ending at the newest message: all time (no dates), the last 7 days and the last day;
one warm-up request, then --reps timed ones (time to the last byte, and the server's CPU
time per request, which a busy machine inflates less). Rerunning on a kept DIR
after a code change gives before and after on the same data; the JSON answers' digest is
printed too, so the two runs can be checked to answer the same.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ROOT, Backlog, app_env, free_port, log, percentile, proc_cpu_seconds, run_ingest, wait_http

DAY = 86400
ENDPOINTS = ("domains", "domains?kind=remote", "mailboxes", "destinations", "reasons")


def _ingest(data: Path, messages: int, seed: int, timeout: float) -> None:
    backlog = Backlog(messages, seed, data.parent / f"{data.name}-simulator.log", timeout=timeout)
    try:
        log(f"ingesting {backlog.info['line_counts']['postfix']} Postfix lines of {backlog.info['messages']} messages")
        env = app_env(data, backlog.url, FETCH_COUNT_POSTFIX=20000, FETCH_COUNT_RSPAMD=20000,
                      FETCH_COUNT_NETFILTER=20000)
        run_ingest(env, data.parent / f"{data.name}-ingest.log", timeout, None)
    finally:
        backlog.stop()


def _ranges(db: Path) -> dict[str, str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        newest = con.execute("SELECT MAX(first_seen) FROM message").fetchone()[0]
    finally:
        con.close()

    def stamp(epoch: int) -> str:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = f"end_date={stamp(newest)}"
    return {"all time": "", "7 days": f"start_date={stamp(newest - 7 * DAY)}&{end}",
            "1 day": f"start_date={stamp(newest - DAY)}&{end}"}


def _urls(ranges: dict[str, str]) -> list[tuple[str, str, str]]:
    """(endpoint, range name, path and query) for every insights endpoint and range."""
    urls = []
    for endpoint in ENDPOINTS:
        for name, query in ranges.items():
            joiner = "&" if "?" in endpoint else "?"
            urls.append((endpoint, name, f"/api/insights/{endpoint}" + (joiner + query if query else "")))
    return urls


def measure(base: str, pid: int, urls: list[tuple[str, str, str]], reps: int) -> list[tuple]:
    """(label, range, p50 ms, p95 ms, server CPU ms per request, answer digest) per url."""
    rows = []
    with requests.Session() as session:
        for label, name, path in urls:
            first = session.get(base + path, timeout=600)
            first.raise_for_status()
            timings = []
            cpu = proc_cpu_seconds(pid)
            for _ in range(reps):
                started = time.perf_counter()
                session.get(base + path, timeout=600).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            # The server's own CPU time: on a shared machine wall times include waiting for a core.
            cpu_ms = (proc_cpu_seconds(pid) - cpu) * 1000 / reps
            digest = hashlib.sha256(first.content).hexdigest()[:12]
            rows.append((label, name, percentile(timings, 50), percentile(timings, 95), cpu_ms, digest))
            log(f"{label:22s} {name:9s} p50 {rows[-1][2]:8.1f} ms  p95 {rows[-1][3]:8.1f} ms  cpu {cpu_ms:7.1f} ms")
    return rows


def bench_main(description: str, urls_of, argv=None, prefix: str = "mlv-insights-") -> int:
    """Generate and ingest a backlog (or reuse --data), serve it, and time urls_of(db)'s
    (label, range, path) requests."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--data", type=Path, help="DATA_DIR to use; ingested into when it has no database yet")
    ap.add_argument("--keep", action="store_true", help="keep a temporary DATA_DIR (printed)")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args(argv)
    data = args.data or Path(tempfile.mkdtemp(prefix=prefix)) / "data"
    db = data / "mailcow-logs.db"
    app = None
    try:
        if not db.exists():
            data.mkdir(parents=True, exist_ok=True)
            log(f"generating {args.messages} messages into {data}")
            _ingest(data, args.messages, args.seed, args.timeout)
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            messages = con.execute("SELECT COUNT(*) FROM message").fetchone()[0]
            recipients = con.execute("SELECT COUNT(*) FROM recipient").fetchone()[0]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Port 9 (discard) refuses: the scheduler's fetches fail fast and write no log data.
        env = app_env(data, "http://127.0.0.1:9", APP_HOST="127.0.0.1", APP_PORT=port, FETCH_INTERVAL=86400)
        started = time.perf_counter()
        app = subprocess.Popen([sys.executable, str(ROOT / "run.py")], env=env, cwd=ROOT,
                               stdout=(data.parent / f"{data.name}-app.log").open("ab"), stderr=subprocess.STDOUT)
        wait_http(base + "/api/health", 1800)
        log(f"server up in {time.perf_counter() - started:.1f} s (includes any migration)")
        rows = measure(base, app.pid, urls_of(db), args.reps)
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)
        if args.data is None and not args.keep:
            shutil.rmtree(data.parent, ignore_errors=True)
    print(f"{messages} messages, {recipients} recipients; {args.reps} timed requests each (ms; cpu: the "
          f"server's CPU time per request); load average {os.getloadavg()[0]:.1f}")
    print(f"{'endpoint':22s} {'range':9s} {'p50':>8s} {'p95':>8s} {'cpu':>8s}  answer")
    for label, name, p50, p95, cpu_ms, digest in rows:
        print(f"{label:22s} {name:9s} {p50:8.1f} {p95:8.1f} {cpu_ms:8.1f}  {digest}")
    if args.data is None and args.keep:
        print(f"kept {data}")
    return 0


def main(argv=None) -> int:
    return bench_main(__doc__.split("\n\n")[0], lambda db: _urls(_ranges(db)), argv)


if __name__ == "__main__":
    sys.exit(main())
