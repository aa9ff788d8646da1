"""Daily counters: messages per UTC day, local party (domain and mailbox), direction and status,
kept for COUNTER_RETENTION_DAYS after the messages themselves are gone (a compliance counter).

Counting rule (README "Counting rules"): a message counts once per party on our side. An
outbound message counts for its sender with the message's status; any other message counts
once per recipient with that recipient's status (a message to three mailboxes counts three
times, once for each); a message without recipients counts for its sender (or nobody, "").

The writer keeps them: the correlator recomputes messages inside `recounting(ids)`, which takes
the messages' contributions out before they are rewritten and puts the new ones in, in the
same transaction; so a status that changes (deferred, then delivered) moves its count instead
of adding one, and the counters always equal `recount_rows()` over the messages that exist.
Deleting messages outside that path (the clean-up, `forget`) leaves the counters alone: that
is what lets them outlive the messages.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import NamedTuple

from .db import database
from .sql_batches import chunks, dicts, marks

DAY = 86400


class CountKey(NamedTuple):
    day: int
    server: str
    domain: str
    mailbox: str
    direction: str
    status: str


def _domain(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else ""


def _parties(message: dict, recipients: list[dict]) -> list[tuple[str, str]]:
    """(mailbox, status) pairs this message counts for: the one counting rule."""
    if message["direction"] != "outbound" and recipients:
        return [((r["recipient"] or "").lower(), r["status"]) for r in recipients]
    return [((message["sender"] or "").lower(), message["final_status"])]


def _contributions(messages: list[dict], recipients: dict[int, list[dict]]) -> Counter:
    counts: Counter = Counter()
    for m in messages:
        day = m["first_seen"] // DAY
        for mailbox, status in _parties(m, recipients.get(m["id"], [])):
            counts[CountKey(day, m["server"], _domain(mailbox), mailbox, m["direction"], status)] += 1
    return counts


def _load(where: str, params) -> Counter:
    messages = dicts(f"SELECT id, first_seen, server, direction, final_status, sender FROM message WHERE {where}", params)
    recipients: dict[int, list[dict]] = {}
    for part in chunks([m["id"] for m in messages]):
        for row in dicts(f"SELECT message_ref, recipient, status FROM recipient WHERE message_ref IN ({marks(part)})",
                         part):
            recipients.setdefault(row["message_ref"], []).append(row)
    return _contributions(messages, recipients)


def contributions(message_ids: list[int]) -> Counter:
    """What these messages count for now (only those already counted)."""
    counts: Counter = Counter()
    for part in chunks(list(message_ids)):
        counts += _load(f"counted = 1 AND id IN ({marks(part)})", part)
    return counts


def _add(delta: Counter) -> None:
    conn = database.connection()
    changes = [(*key, n) for key, n in delta.items() if n]
    conn.executemany("INSERT INTO daily_count (day, server, domain, mailbox, direction, status, messages) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(day, server, domain, mailbox, direction, status) "
                     "DO UPDATE SET messages = messages + excluded.messages", changes)
    if any(n < 0 for *_, n in changes):
        conn.execute("DELETE FROM daily_count WHERE messages <= 0")


@contextmanager
def recounting(message_ids: list[int]):
    """Around a rewrite of these messages (inside the writer's transaction): their old
    contributions come out, the rewritten ones (deleted ones: none) go in."""
    before = contributions(message_ids)
    yield
    conn = database.connection()
    for part in chunks(list(message_ids)):
        conn.execute(f"UPDATE message SET counted = 1 WHERE id IN ({marks(part)})", part)
    after = contributions(message_ids)
    delta = Counter(after)
    delta.subtract(before)
    _add(delta)


def recount_rows() -> Counter:
    """The counters as the messages that exist now would make them (tests, the migration)."""
    return _load("1 = 1", ())


def count_uncounted() -> None:
    """Count the messages not counted yet (migration 10: a file from before the counters starts
    them from what is stored). Safe at any time: a message still being correlated is counted
    as it is now, and its recompute moves the count (recounting)."""
    conn = database.connection()
    _add(_load("counted = 0", ()))
    conn.execute("UPDATE message SET counted = 1 WHERE counted = 0")


def stored_rows() -> Counter:
    return Counter({CountKey(*row[:6]): row[6] for row in database.execute_sql(
        "SELECT day, server, domain, mailbox, direction, status, messages FROM daily_count")})
