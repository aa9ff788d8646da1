"""Daily clean-up: delete what is older than RETENTION_DAYS, a small batch at a time.

Small batches keep each write transaction short so that readers never wait; the freed pages
go to SQLite's free list and are reused by the next inserts, so the file stops growing.
"""
from __future__ import annotations

import json
import logging
import time

from .db import database
from .models import State

log = logging.getLogger(__name__)

BATCH = 5000
# Time ranges of imported history (`run.py import`), kept whatever their age: an import of
# last year's logs is meant to be looked at, not deleted by the next night's clean-up.
_KEPT_KEY = "retention_kept_ranges"
MAX_KEPT_RANGES = 50


def kept_ranges() -> list[tuple[int, int]]:
    row = State.get_or_none(State.key == _KEPT_KEY)
    return [tuple(r) for r in json.loads(row.value)] if row else []


def keep_range(start: int, end: int) -> None:
    """Keep [start, end] through clean-ups; overlapping ranges merge, the oldest go past 50."""
    merged: list[list[int]] = []
    for first, last in sorted(kept_ranges() + [(start, end)]):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    with database.atomic("IMMEDIATE"):
        State.insert(key=_KEPT_KEY, value=json.dumps(merged[-MAX_KEPT_RANGES:])).on_conflict_replace().execute()

# (table, time column): messages go first so that no message outlives its lines.
_TABLES = (("message", "last_seen"), ("leg", "last_time"), ("postfix_line", "time"),
           ("rspamd_row", "time"), ("netfilter_line", "time"), ("dovecot_line", "time"), ("gap", "end_time"))


def _delete_batch(table: str, column: str, cutoff: int, kept: list[tuple[int, int]]) -> int:
    conn = database.connection()
    outside = "".join(f" AND {column} NOT BETWEEN ? AND ?" for _ in kept)
    with database.atomic("IMMEDIATE"):
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE {column} < ?{outside} LIMIT {BATCH}",
                                              (cutoff, *[t for r in kept for t in r]))]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        if table == "message":
            conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks})", ids)
        conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", ids)
        return len(ids)


def cleanup(retention_days: int, now: float | None = None) -> dict:
    cutoff = int((now or time.time()) - retention_days * 86400)
    deleted = {}
    kept = kept_ranges()
    for table, column in _TABLES:
        total = 0
        while True:
            count = _delete_batch(table, column, cutoff, kept)
            total += count
            if count < BATCH:
                break
        deleted[table] = total
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute_sql("PRAGMA optimize")
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted
