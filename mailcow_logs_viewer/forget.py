"""`python run.py forget ADDRESS`: remove every line, row, message and counter detail that names
an address (a GDPR erasure request), and say what went.

A message that names the address (sender, recipient, login, subject, reason) goes whole, with
its legs, recipients and every line of its legs (a `client=` line does not name anyone, but it
is part of that person's mail); then every remaining line or row whose text names it. The
daily counters keep their numbers but lose the mailbox: its rows are folded into the domain's
row without a mailbox (""). Deleted pages are zeroed (secure_delete) and the file is vacuumed
and its WAL truncated, so the address is not left in free pages either. Running it again finds
nothing and removes nothing.
"""
from __future__ import annotations

from typing import NamedTuple

from .db import SEARCH_INDEXES, database
from .leg_rule import line_in_leg
from .models import Leg, PostfixLine
from .sql_batches import chunks, dicts, marks


class Removed(NamedTuple):
    table: str
    rows: int


# table -> text columns that can name an address (LIKE: a substring, ASCII case-insensitive)
_NAMING = {
    "postfix_line": ("message", "sender", "recipient", "orig_to", "sasl_username", "reply"),
    "rspamd_row": ("raw", "subject", "sender_smtp", "sender_mime", "recipients_smtp", "recipients_mime", "user",
                   "symbols"),
    "dovecot_line": ("message", "user", "recipient", "target", "detail"),
    "netfilter_line": ("message", "username"),
    "leg": ("sender", "sasl_username"),
    "alert": ("title", "detail", "message_keys", "link"),
    "alert_notification": ("payload", "last_error"),
    "state": ("value",),
}
_MESSAGE_NAMING = ("sender", "recipients", "subject", "user", "reject_reason")
_RECIPIENT_NAMING = ("recipient", "orig_to", "redirected_to", "auto_reply", "reply")


def _like(columns) -> str:
    return " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)


def _pattern(address: str) -> str:
    escaped = address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _ids(sql: str, params) -> list[int]:
    return [row[0] for row in database.execute_sql(sql, params)]


def _messages_naming(pattern: str) -> list[int]:
    found = set(_ids(f"SELECT id FROM message WHERE {_like(_MESSAGE_NAMING)}", [pattern] * len(_MESSAGE_NAMING)))
    found |= set(_ids(f"SELECT message_ref FROM recipient WHERE {_like(_RECIPIENT_NAMING)}",
                      [pattern] * len(_RECIPIENT_NAMING)))
    return sorted(found)


def _delete(table: str, where: str, params) -> int:
    with database.atomic("IMMEDIATE"):
        return database.execute_sql(f"DELETE FROM {table} WHERE {where}", params).rowcount


def _delete_messages(ids: list[int]) -> dict[str, int]:
    counts = dict.fromkeys(("message", "recipient", "leg", "postfix_line", "rspamd_row", "dovecot_line"), 0)
    for part in chunks(ids, 300):
        with database.atomic("IMMEDIATE"):
            legs = list(Leg.select().where(Leg.message_ref.in_(part)).dicts())
            for leg in legs:
                counts["postfix_line"] += PostfixLine.delete().where(line_in_leg(leg)).execute()
            params = list(part)
            for table, where in (("postfix_line", "message_ref"), ("rspamd_row", "message_ref"),
                                 ("dovecot_line", "message_ref"), ("dovecot_line", "linked_ref"),
                                 ("recipient", "message_ref"), ("leg", "message_ref"), ("message", "id")):
                counts[table] += database.execute_sql(
                    f"DELETE FROM {table} WHERE {where} IN ({marks(part)})", params).rowcount
    return counts


def _fold_counters(address: str) -> int:
    """The mailbox's daily counts join the domain's row without a mailbox: numbers stay, the name goes."""
    with database.atomic("IMMEDIATE"):
        conn = database.connection()
        rows = conn.execute("SELECT day, server, domain, direction, status, messages FROM daily_count "
                            "WHERE mailbox = ?", (address,)).fetchall()
        conn.executemany("INSERT INTO daily_count (day, server, domain, mailbox, direction, status, messages) "
                         "VALUES (?, ?, ?, '', ?, ?, ?) ON CONFLICT(day, server, domain, mailbox, direction, status) "
                         "DO UPDATE SET messages = messages + excluded.messages", rows)
        conn.execute("DELETE FROM daily_count WHERE mailbox = ?", (address,))
    return len(rows)


def forget(address: str) -> list[Removed]:
    """Remove everything naming `address`; returns what went, table by table (zeros included)."""
    address = address.strip().lower()
    pattern = _pattern(address)
    database.execute_sql("PRAGMA secure_delete = ON")     # freed pages are zeroed, not left with the text
    counts = _delete_messages(_messages_naming(pattern))
    for table, columns in _NAMING.items():
        if table == "leg":
            # A leg without a message (an aborted session) still has lines of its queue id.
            for leg in dicts(f"SELECT queue_id, server, first_time, last_time FROM leg WHERE {_like(columns)}",
                             [pattern] * len(columns)):
                counts["postfix_line"] += _delete_leg_lines(leg)
        counts[table] = counts.get(table, 0) + _delete(table, _like(columns), [pattern] * len(columns))
    counts["daily_count (mailbox folded)"] = _fold_counters(address)
    _leave_no_copy()
    return [Removed(table, rows) for table, rows in counts.items()]


def _delete_leg_lines(leg: dict) -> int:
    with database.atomic("IMMEDIATE"):
        return PostfixLine.delete().where(line_in_leg(leg)).execute()


def _leave_no_copy() -> None:
    """Old copies of the rows: the full-text indexes' segments, free pages, the WAL."""
    for index in SEARCH_INDEXES:
        database.execute_sql(f"INSERT INTO {index}({index}) VALUES ('optimize')")
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute_sql("VACUUM")
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
