"""Summarise a py-spy `--format raw` (collapsed stacks) file: the hottest functions.

    python bench/spy_top.py bench/results/<stamp>-queries-<size>.txt [--top 25] [--match mailcow_logs_viewer]

Prints, in % of the non-idle samples, the functions with the most own time and the
project functions (frames whose file matches --match) with the most inclusive time.
Idle waitress/scheduler threads (frames in select/wait/sleep with nothing else) are left out.
"""
from __future__ import annotations

import argparse
from collections import Counter

IDLE = ("select (selectors.py", "wait (threading.py", "poll (", "_stop.wait", "accept (socket.py",
        "readinto (socket.py", "sleep", "handler_thread (waitress", "get (queue.py",
        "_worker (concurrent/futures/thread.py")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--match", default="mailcow_logs_viewer")
    args = ap.parse_args()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in open(args.path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].startswith(i) or i in frames[-1] for i in IDLE):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if args.match in frame:
                inclusive[frame] += n
    if not total:
        print("no busy samples")
        return 0
    print(f"{total} busy samples\n\nown time:")
    for frame, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print(f"\ninclusive time, frames matching {args.match!r}:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
