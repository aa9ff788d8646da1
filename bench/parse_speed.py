"""Measure parse_postfix throughput on real log lines.

Reads realmail-sample/postfix.log and the lightmeter mail.log files from ../shared/corpus,
splits them with parse_syslog_line, keeps the Postfix lines, repeats them to ~500k lines
and times parse_postfix alone (syslog splitting is timed separately).

    python bench/parse_speed.py [--lines N] [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailcow_logs_viewer.parsing.postfix import parse_postfix  # noqa: E402
from mailcow_logs_viewer.parsing.syslog import is_postfix_program, parse_syslog_line  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SOURCES = [
    CORPUS / "realmail-sample" / "postfix.log",
    CORPUS / "lightmeter-controlcenter" / "complete_tar_extracted" / "logs_sample" / "mail.log",
    CORPUS / "lightmeter-controlcenter" / "complete_tar_extracted" / "logs_sample" / "mail.log.1",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    raw: list[str] = []
    for p in SOURCES:
        if p.exists():
            raw.extend(p.read_text(encoding="utf-8", errors="replace").splitlines())
    if not raw:
        print(f"no corpus found under {CORPUS}", file=sys.stderr)
        return 1

    t0 = time.perf_counter()
    parsed = [parse_syslog_line(l, 2021) for l in raw]
    t_sys = time.perf_counter() - t0
    items = [(s.program, s.message) for s in parsed if s is not None and is_postfix_program(s.program)]
    reps = max(1, args.lines // len(items))
    work = items * reps
    print(f"corpus: {len(raw)} lines, {len(items)} Postfix lines; repeated x{reps} -> {len(work)} lines")
    print(f"syslog split: {len(raw) / t_sys:,.0f} lines/s")

    best = float("inf")
    kinds: dict[str, int] = {}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for prog, msg in work:
            parse_postfix(prog, msg)
        best = min(best, time.perf_counter() - t0)
    for prog, msg in items:
        k = parse_postfix(prog, msg).kind
        kinds[k] = kinds.get(k, 0) + 1
    print("kinds (one copy):", ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    print(f"parse_postfix: {len(work) / best:,.0f} lines/s (best of {args.rounds}, {best:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
