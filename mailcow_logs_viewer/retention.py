"""Daily clean-up: delete what is older than RETENTION_DAYS, a small batch at a time.

Small batches keep each write transaction short so that readers never wait; the freed pages
go to SQLite's free list and are reused by the next inserts, so the file stops growing.
"""
from __future__ import annotations

import json
import logging
import time

from .db import database
from .sql_batches import chunks, marks
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

# The raw tier: (table, time column), gone after RETENTION_DAYS. A leg without a message (an
# aborted session, a probe) is no more than its lines and goes with them.
_RAW_TABLES = (("postfix_line", "time"), ("rspamd_row", "time"), ("netfilter_line", "time"),
               ("dovecot_line", "time"), ("gap", "end_time"))
_TOP_SYMBOLS = 5


def _outside(column: str, kept: list[tuple[int, int]]) -> tuple[str, tuple]:
    return "".join(f" AND {column} NOT BETWEEN ? AND ?" for _ in kept), tuple(t for r in kept for t in r)


def _batch(select_sql: str, params: tuple, act) -> int:
    """One bounded transaction: up to BATCH ids chosen by `select_sql`, handed to `act`."""
    conn = database.connection()
    with database.atomic("IMMEDIATE"):
        ids = [row[0] for row in conn.execute(f"{select_sql} LIMIT {BATCH}", params)]
        if ids:
            act(conn, ids, ", ".join("?" * len(ids)))
        return len(ids)


def _repeat(select_sql: str, params: tuple, act) -> int:
    total = 0
    while (count := _batch(select_sql, params, act)) == BATCH:
        total += count
    return total + count


def _delete(table: str):
    def act(conn, ids, marks):
        if table == "message":
            conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks})", ids)
            conn.execute(f"DELETE FROM leg WHERE message_ref IN ({marks})", ids)
        conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", ids)
    return act


def _keep_verdict(conn, ids, marks) -> None:
    """A message whose raw lines go keeps its Rspamd verdict's action and strongest symbols
    (the score is on it already) and says that its lines were cleaned up."""
    latest: dict[int, tuple] = {}
    for message, action, symbols in conn.execute(
            f"SELECT message_ref, action, symbols FROM rspamd_row WHERE message_ref IN ({marks}) AND parsed = 1 "
            "ORDER BY time, id", ids):
        latest[message] = (action, symbols)
    updates = []
    for message in ids:
        action, symbols = latest.get(message, (None, None))
        scored = [(name, (data or {}).get("score") or 0) for name, data in decode(symbols).items()]
        top = sorted(scored, key=lambda item: -abs(item[1]))[:_TOP_SYMBOLS]
        updates.append((action, json.dumps(top) if top else None, message))
    conn.executemany("UPDATE message SET raw_lines_removed = 1, spam_action = ?, spam_symbols = ? WHERE id = ?",
                     updates)


def decode(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def with_raw_lines(message_ids) -> list[int]:
    """These messages, less those whose raw lines were cleaned up: those cannot be recomputed
    (their facts are gone) and are kept as they were last computed."""
    ids = sorted(set(message_ids))
    frozen: set[int] = set()
    for part in chunks(ids):
        frozen |= {m for (m,) in database.execute_sql(
            f"SELECT id FROM message WHERE raw_lines_removed = 1 AND id IN ({marks(part)})", part)}
    return [m for m in ids if m not in frozen]


def cleanup(retention_days: int, message_retention_days: int = 90, counter_retention_days: int | None = None,
            now: float | None = None) -> dict:
    """The three tiers: raw lines (RETENTION_DAYS), messages (MESSAGE_RETENTION_DAYS), daily
    counters (COUNTER_RETENTION_DAYS, None: forever); each deleted in bounded batches."""
    now = now or time.time()
    line_cutoff = int(now - retention_days * 86400)
    message_cutoff = int(now - max(message_retention_days, retention_days) * 86400)
    kept = kept_ranges()
    deleted = {}
    where, params = _outside("last_seen", kept)
    deleted["message"] = _repeat(f"SELECT id FROM message WHERE first_seen < ? AND last_seen < ?{where}",
                                 (message_cutoff, message_cutoff, *params), _delete("message"))
    # The messages that stay are marked before their lines go, so a message never shows an
    # empty story unannounced.
    deleted["raw_lines_removed"] = _repeat(
        f"SELECT id FROM message INDEXED BY message_with_raw_lines WHERE raw_lines_removed = 0 AND first_seen < ? "
        f"AND last_seen < ?{where}", (line_cutoff, line_cutoff, *params), _keep_verdict)
    where, params = _outside("last_time", kept)
    deleted["leg"] = _repeat(f"SELECT id FROM leg WHERE message_ref IS NULL AND last_time < ?{where}",
                             (line_cutoff, *params), _delete("leg"))
    for table, column in _RAW_TABLES:
        where, params = _outside(column, kept)
        deleted[table] = _repeat(f"SELECT id FROM {table} WHERE {column} < ?{where}", (line_cutoff, *params),
                                 _delete(table))
    if counter_retention_days is not None:
        deleted["daily_count"] = _delete_counters(int(now) // 86400 - counter_retention_days)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute_sql("PRAGMA optimize")
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted


def _delete_counters(first_kept_day: int) -> int:
    """A day at a time: a day holds one row per mailbox, direction and status, a bounded batch."""
    total = 0
    while True:
        with database.atomic("IMMEDIATE"):
            day = database.execute_sql("SELECT MIN(day) FROM daily_count").fetchone()[0]
            if day is None or day >= first_kept_day:
                return total
            total += database.execute_sql("DELETE FROM daily_count WHERE day = ?", (day,)).rowcount
