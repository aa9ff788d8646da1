"""What a rule hands to the alert state: a finding (a condition that holds now), and the
context every rule reads (the evaluation's clock, mailcow's live state, fetch failures)."""
from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlencode

from ..db import database

MAX_MESSAGES = 20      # correlation keys kept per alert: enough to click through, bounded


class Finding(NamedTuple):
    key: str                        # dedupe key: one open alert per key
    rule: str
    severity: str                   # warning | critical
    title: str                      # one line, for a chat message or a subject
    detail: str                     # what was measured, against which threshold
    count: int                      # the measured volume (shown, and tracked as it changes)
    link: str = ""                  # a path into the UI showing what is behind it
    message_keys: tuple[str, ...] = ()


class LiveState(NamedTuple):
    """mailcow's live state read for this evaluation; None where the read failed."""
    queue: list | None = None
    containers: dict | None = None
    storage: dict | None = None


class RuleContext(NamedTuple):
    now: int
    live: LiveState
    fetch_failures: int = 0         # failed fetch cycles in a row
    fetch_error: str | None = None
    key_refused: bool = False       # the last failure was mailcow refusing the API key (401)


def window_start(ctx: RuleContext, minutes: float) -> int:
    return ctx.now - int(minutes * 60)


def ui_link(path: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def message_keys_of_queue_ids(queue_ids: list[str]) -> tuple[str, ...]:
    """The messages (correlation keys) that carried these queue ids, first seen first."""
    if not queue_ids:
        return ()
    marks = ", ".join("?" for _ in queue_ids)
    rows = database.execute_sql(
        f"SELECT DISTINCT m.correlation_key FROM leg JOIN message m ON m.id = leg.message_ref "
        f"WHERE leg.queue_id IN ({marks}) ORDER BY m.first_seen LIMIT {MAX_MESSAGES}", queue_ids).fetchall()
    return tuple(row[0] for row in rows)


def message_keys_of_ids(message_ids: list[int]) -> tuple[str, ...]:
    if not message_ids:
        return ()
    marks = ", ".join("?" for _ in message_ids)
    rows = database.execute_sql(f"SELECT correlation_key FROM message WHERE id IN ({marks}) ORDER BY first_seen "
                                f"LIMIT {MAX_MESSAGES}", message_ids).fetchall()
    return tuple(row[0] for row in rows)


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0
