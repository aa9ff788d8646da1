"""Bytes per message in each storage tier, and what 50,000 messages a day would need.

    python bench/storage_tiers.py [--messages 10000] [--seed 42] [--per-day 50000]
                                  [--line-days 30] [--message-days 365]

Generates `--messages` messages over one day with the simulator's traffic mix, fetches them
over loopback HTTP like the app does (Ingestor + Correlator, real SQLite file), then measures
each tier with SQLite's dbstat (pages of every table and index, after VACUUM):

- raw lines: postfix_line, rspamd_row, netfilter_line, dovecot_line, gap (RETENTION_DAYS)
- messages: message, leg, recipient, the full-text index, the hourly counts
  (MESSAGE_RETENTION_DAYS), measured again after the clean-up removed the raw lines
  (the messages then carry their verdict summary)
- daily counters: daily_count (COUNTER_RETENTION_DAYS)

and projects `--per-day` messages a day kept `--line-days` days as lines and `--message-days`
days as messages, with a year of counters at their worst (one row per message: every message
of the day from or to a different mailbox; bytes per row measured on 50,000 added rows).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailcow_logs_viewer.db import SEARCH_INDEXES  # noqa: E402
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator  # noqa: E402

BIG = 10 ** 9
TIERS = {"raw lines": ("postfix_line", "rspamd_row", "netfilter_line", "dovecot_line", "gap"),
         "messages": ("message", "leg", "recipient", "message_fts", "recipient_fts", "message_hour"),
         "daily counters": ("daily_count",)}


def _tier_bytes() -> tuple[dict[str, int], dict[str, int]]:
    """Bytes per tier, and per table (its indexes included; each full-text index as one)."""
    from mailcow_logs_viewer.db import database

    database.execute_sql("VACUUM")
    owner = {name: table for name, table in database.execute_sql("SELECT name, tbl_name FROM sqlite_master")}
    tiers: dict[str, int] = defaultdict(int)
    tables: dict[str, int] = defaultdict(int)
    for name, size in database.execute_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        table = owner.get(name, name)
        table = next((index for index in SEARCH_INDEXES if table.startswith(index)), table)
        tier = next((t for t, names in TIERS.items() if table in names), "other")
        tiers[tier] += size
        tables[table] += size
    return dict(tiers), dict(tables)


def _counter_row_bytes(measured: int, rows: int, extra: int = 50000) -> float:
    """Bytes per counter row: a simulated day has too few mailboxes to fill more than a few
    pages, so add rows shaped like a big day's (one per mailbox) and measure the difference."""
    from mailcow_logs_viewer.db import database

    with database.atomic("IMMEDIATE"):
        database.connection().executemany(
            "INSERT INTO daily_count (day, server, domain, mailbox, direction, status, messages) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(30000 + i // 5000, "mx1", f"customer{i % 50}.example", f"first.last{i % 5000}@customer{i % 50}.example",
              "inbound", "delivered", 3) for i in range(extra)])
    grown = _tier_bytes()[0].get("daily counters", 0)
    return (grown - measured) / extra


def _mib(value: float) -> str:
    return f"{value / 2 ** 20:,.1f} MiB" if value < 2 ** 30 else f"{value / 2 ** 30:,.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--per-day", type=int, default=50000)
    ap.add_argument("--line-days", type=int, default=30)
    ap.add_argument("--message-days", type=int, default=365)
    args = ap.parse_args(argv)

    from mailcow_logs_viewer import create_app
    from mailcow_logs_viewer.config import load_settings
    from mailcow_logs_viewer.db import database
    from mailcow_logs_viewer.models import DailyCount, Message, PostfixLine
    from mailcow_logs_viewer.retention import cleanup
    from mailcow_logs_viewer.runtime import Runtime

    sim = SimulatedMailcow(TrafficGenerator(seed=args.seed, rate_per_hour=args.messages / 24),
                           buffer_postfix=BIG, buffer_rspamd=BIG, buffer_netfilter=BIG, buffer_dovecot=BIG)
    now = time.time()
    sim.preload(24, now)
    sim.start()
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key, "DATA_DIR": data,
                                  "FETCH_COUNT_POSTFIX": "20000", "FETCH_COUNT_RSPAMD": "5000",
                                  "FETCH_COUNT_NETFILTER": "20000", "FETCH_COUNT_DOVECOT": "20000"})
        runtime = Runtime(settings)
        create_app(settings, runtime)
        runtime.refresh_domains()
        started = time.perf_counter()
        runtime.fetch_and_correlate()
        ingest = time.perf_counter() - started
        messages, lines = Message.select().count(), PostfixLine.select().count()
        before, _ = _tier_bytes()
        started = time.perf_counter()
        cleanup(1, 90, now=now + 2 * 86400)          # every raw line is now past RETENTION_DAYS
        clean = time.perf_counter() - started
        after, tables = _tier_bytes()
        counter_rows = DailyCount.select().count()
        row_bytes = _counter_row_bytes(after.get("daily counters", 0), counter_rows)
        runtime.client.close()
        database.close()
    sim.stop()

    raw = before.get("raw lines", 0) / messages
    kept = after.get("messages", 0) / messages
    live = before.get("messages", 0) / messages
    print(f"{messages:,} messages, {lines:,} Postfix lines ({lines / messages:.1f} per message); "
          f"ingest {ingest:.1f} s, clean-up of every raw line {clean:.1f} s")
    print(f"raw lines        {raw:8,.0f} bytes per message")
    print(f"messages         {live:8,.0f} bytes per message with lines, {kept:,.0f} after their lines are gone")
    print("  of which " + ", ".join(f"{t} {tables.get(t, 0) / messages:,.0f}" for t in TIERS["messages"]))
    print(f"daily counters   {row_bytes:8,.0f} bytes per row (one row per day, mailbox, direction and status; "
          f"this day: {counter_rows:,} rows for {messages:,} messages)")
    per_day = args.per_day
    projected = {"raw lines": raw * per_day * args.line_days, "messages": kept * per_day * args.message_days,
                 # at most one row per message: every message from or to another mailbox
                 "daily counters": row_bytes * per_day * 365}
    print(f"projection for {per_day:,} messages a day: {args.line_days} days of lines "
          f"{_mib(projected['raw lines'])}, {args.message_days} days of messages {_mib(projected['messages'])}, "
          f"a year of counters at most {_mib(projected['daily counters'])}; total {_mib(sum(projected.values()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
