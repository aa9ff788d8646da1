"""A simulated mailcow holding a large backlog, for bench/run.py (run as a subprocess).

    python bench/mailcow_backlog.py --port P --messages N [--hours 168] [--seed S] [--now EPOCH]

Generates N messages spread over the last `hours` with the demo's traffic mix
(rate_per_hour = N / hours), with the log buffers enlarged to hold all of it, serves the
mailcow API on 127.0.0.1:P and prints one JSON line describing what it generated. Then it
reads commands from stdin, one per line, and answers each with one JSON line:

    live LINES_PER_MINUTE INTERVAL   start live traffic at about that many Postfix lines a minute
    stats                            line counts so far
    stop                             exit
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator  # noqa: E402

BIG = 10 ** 9


def _say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--hours", type=float, default=168.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--api-key", default="SIM-API-KEY")
    ap.add_argument("--now", type=float, help="end the backlog at this epoch instead of now (repeatable runs)")
    args = ap.parse_args(argv)

    base_rate = args.messages / args.hours
    gen = TrafficGenerator(seed=args.seed, rate_per_hour=base_rate)
    sim = SimulatedMailcow(gen, api_key=args.api_key, buffer_postfix=BIG, buffer_rspamd=BIG,
                           buffer_netfilter=BIG, buffer_api=1000)
    started = time.perf_counter()
    now = args.now if args.now is not None else time.time()
    # Millions of long-lived dicts: the cyclic GC would rescan them over and over (generation
    # becomes superlinear). Off while preloading, then the survivors are frozen out of its way.
    gc.disable()
    sim.preload(args.hours, now)
    gc.freeze()
    gc.enable()
    generate_seconds = time.perf_counter() - started
    # Like mailcow's lists: exactly as long as what they hold now (live traffic trims the oldest).
    for source in ("postfix", "rspamd", "netfilter"):
        sim.buffers[source].maxlen = max(len(sim.buffers[source]), 1)
    sim.start("127.0.0.1", args.port)
    counts = dict(gen.line_counts)
    messages = sum(gen.flow_counts.values())
    _say({"ready": True, "url": sim.url, "line_counts": counts, "messages": messages,
          "truth_messages": len(gen.truth), "flow_counts": dict(gen.flow_counts),
          "generate_seconds": round(generate_seconds, 2), "base_rate_per_hour": base_rate})
    lines_per_message = counts.get("postfix", 0) / max(messages, 1)
    for raw in sys.stdin:
        parts = raw.split()
        if not parts:
            continue
        command = parts[0]
        if command == "live":
            lines_per_minute, interval = float(parts[1]), float(parts[2])
            # Catch up to wall-clock time at the backlog's rate first, so the live rate does
            # not apply retroactively to the minutes the ingest phase took.
            caught_up = sim.advance(time.time())
            wanted_per_hour = lines_per_minute * 60 / max(lines_per_message, 1e-9)
            multiplier = wanted_per_hour / base_rate
            with sim._gen_lock:
                # The next arrival was drawn at the backlog's rate (minutes away for small
                # backlogs): draw it again at the live rate.
                gen.rate_multiplier = multiplier
                gen._next_arrival = gen.clock + gen.rng.expovariate(gen._rate())
            sim.start_live(rate_multiplier=multiplier, interval=interval)
            _say({"live": True, "multiplier": multiplier, "messages_per_hour": wanted_per_hour,
                  "caught_up_entries": caught_up, "line_counts": dict(gen.line_counts)})
        elif command == "stats":
            _say({"line_counts": dict(gen.line_counts), "messages": sum(gen.flow_counts.values()),
                  "buffers": {s: len(sim.buffers[s]) for s in ("postfix", "rspamd", "netfilter")}})
        elif command == "stop":
            break
        else:
            _say({"error": f"unknown command {command!r}"})
    sim.stop()
    _say({"stopped": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
