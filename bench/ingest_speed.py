"""Ingest speed only: the backlog, one fetch-and-correlate cycle, and the plain executemany floor.

    python bench/ingest_speed.py --messages 50000 [--profile] [--now EPOCH --digest OUT.txt]

The ingest phase of bench/run.py (same backlog, same subprocess, same FETCH_COUNT_*=20000)
without the query phases, plus bench/baseline.py on the same lines in the same run. Prints
Postfix lines/s end to end (and per step), the floor, and their ratio. With --now (the
backlog's end and the ingest's clock) and --digest, what the correlator made of the backlog
is written to OUT.txt (bench/correlation_digest.py): two runs with the same --now, --seed and
--messages must give identical files, whatever the code's speed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import plain_executemany
from run import RESULTS, Backlog, app_env, log, run_ingest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fetch-count", type=int, default=20000)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--profile", action="store_true", help="run the ingest under cProfile (slower)")
    ap.add_argument("--spy", help="record the ingest with py-spy (collapsed stacks) into this file")
    ap.add_argument("--now", type=int, help="the backlog ends at this epoch, and the ingest's clock stands there")
    ap.add_argument("--digest", help="write what the correlator made of the backlog to this file")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (database, logs)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mlv-ingest-"))
    try:
        log(f"generating {args.messages} messages")
        backlog = Backlog(args.messages, args.seed, work / "simulator.log", timeout=args.timeout, now=args.now)
        try:
            lines = backlog.info["line_counts"]["postfix"]
            env = app_env(work / "data", backlog.url, FETCH_COUNT_POSTFIX=args.fetch_count,
                          FETCH_COUNT_RSPAMD=args.fetch_count, FETCH_COUNT_NETFILTER=args.fetch_count)
            if args.now is not None:
                env["BENCH_CLOCK"] = str(args.now)
            if args.digest:
                env["BENCH_DIGEST"] = str(Path(args.digest).resolve())
            RESULTS.mkdir(parents=True, exist_ok=True)
            profile = RESULTS / f"ingest-{args.messages}.prof" if args.profile else None
            log(f"ingesting {lines} Postfix lines")
            ingest = run_ingest(env, work / "ingest.log", args.timeout, profile, spy=args.spy)
            log("plain executemany of the same lines")
            floor = plain_executemany(backlog.url, lines, args.fetch_count)
        finally:
            backlog.stop()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    # Writing the digest is not part of the ingest.
    ingest["wall_seconds"] -= ingest["digest_seconds"]
    end_to_end = lines / ingest["wall_seconds"]
    result = {"messages": args.messages, "postfix_lines": lines,
              "ingest_wall_seconds": round(ingest["wall_seconds"], 2),
              "fetch_seconds": round(ingest["fetch_seconds"], 2),
              "correlate_seconds": round(ingest["correlate_seconds"], 2),
              # CPU of the ingest process per step: what a loaded machine distorts least.
              "fetch_cpu_seconds": round(ingest["fetch_cpu_seconds"], 2),
              "correlate_cpu_seconds": round(ingest["correlate_cpu_seconds"], 2),
              "postfix_lines_per_s": round(end_to_end),
              "fetch_parse_store_lines_per_s": round(lines / ingest["fetch_seconds"]),
              # Less sensitive to other load on a shared machine: per second of the ingest's CPU.
              "postfix_lines_per_cpu_s": round(lines / ingest["process_cpu_seconds"]),
              "ingest_cpu_seconds": round(ingest["process_cpu_seconds"], 2),
              "plain_executemany": floor,
              "ratio_to_plain": round(end_to_end / floor["lines_per_s"], 3),
              "complete": ingest["fetch"]["postfix"]["stored"] == lines}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
