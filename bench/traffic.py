"""What the fetch costs mailcow: bytes per cycle and per day, per source, against the new data.

    python bench/traffic.py                      the adaptive fetch (the app as it is)
    python bench/traffic.py --before             every first request at the full fetch count
                                                 (how the app fetched before issue 17)
    python bench/traffic.py --rates 400 --cycles 10 --quick

For each rate (messages an hour), in-process and on a fresh database: the simulated mailcow
(over loopback HTTP, default buffers: 10,000 Postfix and netfilter lines, 1,000 Rspamd rows)
is preloaded with an hour of traffic and fetched once (the first import), then three cycles
run unmeasured (the first request learns the rate from them). Then
`--cycles` steady cycles, each advancing the simulator by `--interval` seconds of traffic
(simulated time) and running one `Ingestor.fetch_all` with the default fetch counts; then
`--burst-cycles` cycles at 10x the rate, three cycles back at the normal rate unmeasured, and
a quarter of `--cycles` measured again ("after"). Per source it prints the bytes received per cycle
(mailcow's JSON bodies as sent, counted by the app's client), the bytes of the entries that
were new in that cycle (the same JSON encoding), the target (2x new + 20 KB per cycle), and the
bytes a day at that interval. After the burst it checks that no gap was recorded and that
every generated entry is stored exactly once.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.log_rows import SOURCES
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.models import Gap, NetfilterLine, PostfixLine, RspamdRow
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator
from mailcow_logs_viewer.simulator.log_lists import php_pretty

ALLOWANCE = 20_000
BURST = 10


class Recorder:
    """Every entry the simulator publishes, per source, and the JSON bytes of each batch."""

    def __init__(self, sim: SimulatedMailcow):
        self.entries: dict[str, list] = {name: [] for name in SOURCES}
        self.new_bytes: Counter = Counter()
        push = sim.push

        def recording_push(source, entries):
            entries = list(entries)
            if source in self.entries and entries:
                self.entries[source].extend(entries)
                # Each entry as mailcow prints it inside its array (4-space pretty print).
                self.new_bytes[source] += len(php_pretty(entries)) - 4
            push(source, entries)
        sim.push = recording_push


def _stored_once(recorder: Recorder) -> dict[str, str]:
    """Per source: 'ok' when the stored rows are exactly the generated entries."""
    verdict = {}
    postfix = Counter((int(e["time"]), e["program"], e["message"]) for e in recorder.entries["postfix"])
    stored = Counter(PostfixLine.select(PostfixLine.time, PostfixLine.program, PostfixLine.message).tuples())
    verdict["postfix"] = "ok" if postfix == stored else f"{sum((postfix - stored).values())} lost, " \
                                                        f"{sum((stored - postfix).values())} extra"
    for name, model in (("rspamd", RspamdRow), ("netfilter", NetfilterLine)):
        have, want = model.select().count(), len(recorder.entries[name])
        verdict[name] = "ok" if have == want else f"{want - have:+d} rows"
    return verdict


def run_rate(rate: float, args) -> dict:
    generator = TrafficGenerator(seed=args.seed, rate_per_hour=rate)
    sim = SimulatedMailcow(generator)
    recorder = Recorder(sim)
    sim.start()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key, "DATA_DIR": data_dir})
        open_database(settings.database_path)
        client = MailcowClient(sim.url, sim.api_key)
        clock = time.time() - 6 * 3600
        sim.preload(hours=1, now=clock)
        for name in SOURCES:       # what mailcow trimmed before the first import is not ours to check
            recorder.entries[name] = sim.buffer(name)[::-1]
        Ingestor(client, settings, clock=lambda: clock).fetch_all()     # the first import

        def cycles(n: int) -> dict:
            nonlocal clock
            got, new = Counter(), Counter()
            requests = Counter()
            for _ in range(n):
                new_before, got_before = Counter(recorder.new_bytes), Counter(client.received)
                requests_before = Counter(client.requests_made)
                clock += args.interval
                sim.advance(clock)
                Ingestor(client, settings, clock=lambda now=clock: now).fetch_all()
                got.update(client.received - got_before)
                new.update(recorder.new_bytes - new_before)
                requests.update(client.requests_made - requests_before)
            return {name: {"fetched": got[name] / n, "new": new[name] / n, "requests": requests[name] / n}
                    for name in SOURCES}

        cycles(3)                                          # the first page learns the rate
        steady = cycles(args.cycles)
        generator.rate_multiplier = BURST
        burst = cycles(args.burst_cycles)
        generator.rate_multiplier = 1.0
        cycles(3)                                          # back to normal: the first page shrinks again
        after = cycles(max(3, args.cycles // 4))
        gaps = Gap.select().count()
        once = _stored_once(recorder)
        client.close()
        database.close()
    sim.stop()
    return {"rate": rate, "steady": steady, "burst": burst, "after": after, "gaps": gaps, "once": once}


def _kb(n: float) -> str:
    return f"{n / 1000:,.1f} KB"


def report(result: dict, interval: float) -> bool:
    ok = True
    per_day = 86400 / interval
    print(f"\n{result['rate']:,.0f} messages an hour, a fetch every {interval:g} s")
    print(f"  {'source':<10}{'phase':<8}{'received/cycle':>16}{'new/cycle':>12}{'target':>12}"
          f"{'requests':>10}{'per day':>12}")
    total = Counter()
    for phase in ("steady", "burst", "after"):
        for name, row in result[phase].items():
            target = 2 * row["new"] + ALLOWANCE
            mark = "" if phase == "burst" or row["fetched"] <= target else "  over target"
            ok &= not mark
            print(f"  {name:<10}{phase:<8}{_kb(row['fetched']):>16}{_kb(row['new']):>12}{_kb(target):>12}"
                  f"{row['requests']:>10.1f}{row['fetched'] * per_day / 1e6:>9,.1f} MB{mark}")
            if phase == "steady":
                total.update({"fetched": row["fetched"], "new": row["new"]})
    print(f"  all sources, steady: {_kb(total['fetched'])} a cycle ({total['fetched'] * per_day / 1e6:,.1f} MB a day) "
          f"for {_kb(total['new'])} of new entries")
    lost = {name: verdict for name, verdict in result["once"].items() if verdict != "ok"}
    print(f"  after a {BURST}x burst: gaps {result['gaps']}, every entry stored once: "
          f"{'yes' if not lost else lost}")
    return ok and not lost and result["gaps"] == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="400,4000", help="messages an hour, comma separated")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between fetches (FETCH_INTERVAL)")
    parser.add_argument("--cycles", type=int, default=20, help="steady cycles measured")
    parser.add_argument("--burst-cycles", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", action="store_true",
                        help="first request at the full fetch count, as before issue 17")
    args = parser.parse_args(argv)
    if args.before:
        Ingestor._first_page_size = lambda self, name, has_stored, expected: self.page_sizes[name]
    ok = True
    for rate in (float(r) for r in args.rates.split(",")):
        ok &= report(run_rate(rate, args), args.interval)
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
