"""One fetch-and-correlate cycle, exactly what `python run.py fetch` does, with each step timed.

Reads the same environment as run.py (MAILCOW_URL, MAILCOW_API_KEY, DATA_DIR, FETCH_COUNT_*).
Prints one JSON line: seconds for refresh_domains, fetch_all (per source: fetched, stored,
pages) and the correlator's run, plus this process's peak RSS and CPU time.

    python bench/ingest_once.py [--profile OUT.prof]

With --profile the whole cycle runs under cProfile; OUT.prof (pstats) and OUT.txt (the top
functions by cumulative and by own time) are written. BENCH_CLOCK (an epoch) fixes the clock
of the ingestor and the correlator, and BENCH_DIGEST (a path) writes what the correlator made
of the backlog there (bench/correlation_digest.py): two runs of the same backlog can then be
compared line for line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from correlation_digest import digest  # noqa: E402
from mailcow_logs_viewer.config import load_settings  # noqa: E402
from mailcow_logs_viewer.db import open_database  # noqa: E402
from mailcow_logs_viewer.ingest import Ingestor  # noqa: E402
from mailcow_logs_viewer.runtime import Runtime  # noqa: E402


def cycle() -> dict:
    settings = load_settings(dict(os.environ))
    t0 = time.perf_counter()
    open_database(settings.database_path)
    runtime = Runtime(settings)
    fixed = os.environ.get("BENCH_CLOCK")
    clock = (lambda: float(fixed)) if fixed else time.time
    runtime.correlator.clock = clock
    try:
        t1 = time.perf_counter()
        runtime.refresh_domains()
        t2 = time.perf_counter()
        c2 = time.process_time()
        fetched = Ingestor(runtime.client, settings, clock=clock).fetch_all()
        t3 = time.perf_counter()
        c3 = time.process_time()
        correlated = runtime.correlator.run()
        t4 = time.perf_counter()
        c4 = time.process_time()
    finally:
        runtime.client.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    digest_seconds = 0.0
    if os.environ.get("BENCH_DIGEST"):
        digest(settings.database_path, os.environ["BENCH_DIGEST"])
        digest_seconds = time.perf_counter() - t4
    return {"digest_seconds": digest_seconds, "open_seconds": t1 - t0, "domains_seconds": t2 - t1, "fetch_seconds": t3 - t2,
            "correlate_seconds": t4 - t3, "fetch_cpu_seconds": c3 - c2, "correlate_cpu_seconds": c4 - c3,
            "total_seconds": t4 - t0, "fetch": fetched, "correlate": correlated,
            "maxrss_kb": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile")
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import io
        import pstats
        # CPU time, not wall time: on a shared machine the wall clock mostly measures the others.
        profiler = cProfile.Profile(time.process_time)
        result = profiler.runcall(cycle)
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(40)
        Path(args.profile).with_suffix(".txt").write_text(out.getvalue())
    else:
        result = cycle()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
