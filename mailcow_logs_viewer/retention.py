"""Daily clean-up: delete what is older than RETENTION_DAYS, a small batch at a time.

Small batches keep each write transaction short so that readers never wait; the freed pages
go to SQLite's free list and are reused by the next inserts, so the file stops growing.
"""
from __future__ import annotations

import logging
import time

from .db import database

log = logging.getLogger(__name__)

BATCH = 5000

# (table, time column): messages go first so that no message outlives its lines.
_TABLES = (("message", "last_seen"), ("leg", "last_time"), ("postfix_line", "time"),
           ("rspamd_row", "time"), ("netfilter_line", "time"), ("dovecot_line", "time"), ("gap", "end_time"))


def _delete_batch(table: str, column: str, cutoff: int) -> int:
    conn = database.connection()
    with database.atomic("IMMEDIATE"):
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE {column} < ? LIMIT {BATCH}", (cutoff,))]
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
    for table, column in _TABLES:
        total = 0
        while True:
            count = _delete_batch(table, column, cutoff)
            total += count
            if count < BATCH:
                break
        deleted[table] = total
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute_sql("PRAGMA optimize")
    if any(deleted.values()):
        log.info("retention: deleted %s", deleted)
    return deleted
