"""mailcow log entries as table rows: parsed fields beside the raw text, and a unique key.

The key is a 64-bit hash of the entry's fields and its occurrence among identical entries,
so that a line fetched twice is stored once while two identical events in the same second
(mailcow's times are whole seconds) are both kept. An entry that cannot be parsed becomes a
raw, unparsed row instead of being dropped.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from hashlib import blake2b
from typing import Callable, NamedTuple

from .db import database
from .direction import classify
from .mailcow import RawEntry
from .parsing.dovecot import parse_dovecot
from .parsing.netfilter import parse_netfilter
from .parsing.postfix import parse_postfix
from .parsing.rspamd import RspamdRowError, map_rspamd_row

BATCH_ROWS = 2000       # rows per write transaction: readers never wait long
# What SQLite's INTEGER holds, and the times a log line can have (up to year 9999, which is
# also as far as the API's ISO dates go): anything outside is bad data, not a number to store.
INT64_MAX = 2**63 - 1
TIME_MAX = 253402300799


def entry_time(value) -> int | None:
    """mailcow's `time`: a string of digits for Postfix, an int for netfilter (PITFALLS 4).

    Only ASCII digits count ("²" passes isdigit() but not int()), and only times up to the
    year 9999: anything else is "no usable time" and the entry is kept raw.
    """
    if type(value) is str:          # Postfix, every line: the fast path first
        value = value.strip()
        value = int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None
    elif isinstance(value, bool):
        return None
    elif isinstance(value, float):
        value = int(value) if math.isfinite(value) else None
    if isinstance(value, int) and 0 <= value <= TIME_MAX:
        return value
    return None


def bounded(value):
    """A parsed number SQLite can store and JSON can carry: an int64, a finite float, or None."""
    if value is None:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not -INT64_MAX <= value <= INT64_MAX:
        return None
    return value


def encodable(text: str) -> bool:
    """False for text SQLite cannot take: a lone surrogate (from a `\\ud800` escape) has no UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(row: tuple) -> bool:
    return all(type(v) is not str or encodable(v) for v in row)


def line_key(*parts) -> int:
    """A signed 64-bit key: SQLite's INTEGER, compact in the unique index."""
    digest = blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return _from_bytes(digest, "big", signed=True)


_from_bytes = int.from_bytes
_new = tuple.__new__


def raw_text(entry) -> str:
    """An entry as text to keep: its JSON, or mailcow's own text when it was not JSON.

    Non-ASCII stays readable unless the entry holds a lone surrogate, which only an escape
    can keep (SQLite stores UTF-8).
    """
    if isinstance(entry, RawEntry):
        return str(entry)
    try:
        text = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        return text if encodable(text) else json.dumps(entry, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return repr(entry)


# What tells two Rspamd history rows apart: serialising a whole row (symbols and all, a few
# kB) for every comparison would cost more than parsing it.
_RSPAMD_IDENTITY = ("unix_time", "message-id", "subject", "score", "action", "size", "ip", "user", "sender_smtp",
                    "time_real")


def identity(entry):
    """What makes two entries the same event: their fields. A log entry's few string fields
    are compared as they are (cheap), an Rspamd row by its scalar fields, anything else
    through its JSON text."""
    if type(entry) is dict:
        if len(entry) <= 4:
            # Values only: mailcow's log entries all have the same keys, and two malformed
            # entries that differ only in their keys merely share an occurrence count.
            values = tuple(entry.values())
        elif "unix_time" in entry:
            values = tuple(entry.get(name) for name in _RSPAMD_IDENTITY) + (str(entry.get("rcpt_smtp")),)
        else:
            return raw_text(entry)
        try:
            hash(values)
            return values
        except TypeError:
            pass
    return raw_text(entry)


class Occurrences:
    """Numbers identical entries newest first, across the pages of one fetch.

    Counting from the newest keeps the numbers stable when a later fetch reaches further
    back (the usual case); identical lines are within the same second, so two pages of
    memory are enough.
    """

    def __init__(self):
        self._current: dict = {}
        self._previous: dict = {}

    def next_page(self) -> None:
        self._previous, self._current = self._current, {}

    def number(self, entry) -> int:
        key = identity(entry)
        n = self._current.get(key, self._previous.get(key, 0))
        self._current[key] = n + 1
        return n


# ---------------------------------------------------------------- one row type per source
# Field names are the table's column names, in order: the staging table and the INSERT are
# built from them.

class PostfixRow(NamedTuple):
    line_key: int
    time: int | None           # None only until the ingestor gives an untimed entry one
    program: str
    priority: str
    message: str
    parsed: bool
    kind: str | None = None
    queue_id: str | None = None
    message_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    orig_to: str | None = None
    status: str | None = None
    relay: str | None = None
    delay: float | None = None
    dsn: str | None = None
    reply: str | None = None
    client_ip: str | None = None
    client_host: str | None = None
    sasl_username: str | None = None
    size: int | None = None
    nrcpt: int | None = None
    linked_queue_id: str | None = None


class NetfilterRow(NamedTuple):
    line_key: int
    time: int | None
    priority: str
    message: str
    parsed: bool
    action: str | None = None
    ip: str | None = None
    network: str | None = None
    rule_id: int | None = None
    attempts_left: int | None = None
    ban_minutes: int | None = None
    username: str | None = None
    auth_method: str | None = None
    auth_failure: bool = False


class DovecotRow(NamedTuple):
    line_key: int
    time: int | None
    priority: str
    message: str
    parsed: bool
    kind: str | None = None
    service: str | None = None
    user: str | None = None
    session: str | None = None
    message_id: str | None = None
    action: str | None = None
    folder: str | None = None
    target: str | None = None
    detail: str | None = None
    ip: str | None = None
    attempts: int | None = None


class RspamdHistoryRow(NamedTuple):
    row_key: int
    time: int | None
    parsed: bool
    raw: str | None = None
    message_id: str | None = None
    subject: str | None = None
    size: int | None = None
    sender_smtp: str | None = None
    sender_mime: str | None = None
    recipients_smtp: str | None = None     # JSON array
    recipients_mime: str | None = None     # JSON array
    score: float | None = None
    required_score: float | None = None
    action: str | None = None
    symbols: str | None = None             # JSON object
    ip: str | None = None
    user: str | None = None
    is_spam: bool = False
    has_auth: bool = False
    direction: str = "unknown"


# ---------------------------------------------------------------- one builder per source
# `fallback_time` is the time of an entry without a usable one; None leaves it to the caller
# (the ingestor takes a neighbour's, so that the row's identity stays the same next fetch).

def postfix_row(entry, occurrence: int, fallback_time: int | None, _context=None) -> PostfixRow:
    """One mailcow Postfix entry as a row; a malformed entry becomes a raw, unparsed row."""
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    program = entry.get("program") if isinstance(entry, dict) else None
    if (when is None or not isinstance(message, str) or not isinstance(program, str)
            or not encodable(message) or not encodable(program)):
        raw = raw_text(entry)
        return PostfixRow(line_key("raw", raw, occurrence), when if when is not None else fallback_time,
                          "?", "?", raw, False)
    priority = entry.get("priority")
    priority = priority if isinstance(priority, str) and encodable(priority) else "info"
    event = parse_postfix(program, message)
    # tuple.__new__ skips the NamedTuple's keyword-handling constructor: a fifth of the
    # cost of a row at hundreds of thousands of lines.
    return _new(PostfixRow, (
        line_key(when, program, priority, message, occurrence), when, program, priority, message, True,
        event.kind, event.queue_id, event.message_id, event.sender, event.recipient, event.orig_to, event.status,
        event.relay, bounded(event.delay), event.dsn, event.reply, event.client_ip, event.client_host,
        event.sasl_username, bounded(event.size), bounded(event.nrcpt), event.linked_queue_id))


def netfilter_row(entry, occurrence: int, fallback_time: int | None, _context=None) -> NetfilterRow:
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str) or not encodable(message):
        raw = raw_text(entry)
        return NetfilterRow(line_key("raw", raw, occurrence), when if when is not None else fallback_time,
                            "?", raw, False)
    priority = entry.get("priority")
    priority = priority if isinstance(priority, str) and encodable(priority) else "info"
    event = parse_netfilter(message, priority)
    return _new(NetfilterRow, (line_key(when, priority, message, occurrence), when, priority, message, True,
                               event.action, event.ip, event.network, event.rule_id, event.attempts_left,
                               event.ban_minutes, event.username, event.auth_method, event.auth_failure))


def dovecot_row(entry, occurrence: int, fallback_time: int | None, _context=None) -> DovecotRow:
    """One mailcow Dovecot entry (same shape as Postfix's); an unknown message is kept raw, unparsed."""
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str) or not encodable(message):
        raw = raw_text(entry)
        return DovecotRow(line_key("raw", raw, occurrence), when if when is not None else fallback_time,
                          "?", raw, False)
    priority = entry.get("priority")
    priority = priority if isinstance(priority, str) and encodable(priority) else "info"
    event = parse_dovecot(message)
    return _new(DovecotRow, (line_key(when, priority, message, occurrence), when, event.priority or priority, message,
                             event.parsed, event.kind, event.service, event.user, event.session, event.message_id,
                             event.action, event.folder, event.target, event.detail, event.ip,
                             bounded(event.attempts)))


def rspamd_row(entry, occurrence: int, fallback_time: int | None, local_domains: frozenset[str]) -> RspamdHistoryRow:
    try:
        record = map_rspamd_row(entry)
        if not 0 <= record.time <= TIME_MAX:
            raise RspamdRowError("unix_time out of range")
        same = identity(entry)
        key = line_key("rspamd", *(same if isinstance(same, tuple) else (same,)), occurrence)
        direction = classify(record.has_auth, False, record.rcpt_smtp, local_domains)
        message_id = f"<{record.message_id}>" if record.message_id else None
        row = RspamdHistoryRow(
            key, record.time, True, None, message_id, record.subject, bounded(record.size), record.sender_smtp,
            record.sender_mime, json.dumps(record.rcpt_smtp), json.dumps(record.rcpt_mime), bounded(record.score),
            bounded(record.required_score), record.action, json.dumps(record.symbols, ensure_ascii=False),
            record.ip, record.user, record.is_spam, record.has_auth, direction)
        if storable(row):
            return row
    except (RspamdRowError, ValueError, OverflowError):
        pass
    raw = raw_text(entry)
    when = entry_time(entry.get("unix_time")) if isinstance(entry, dict) else None
    return RspamdHistoryRow(line_key("rspamd", raw, occurrence), when if when is not None else fallback_time,
                            False, raw)


@dataclass(frozen=True)
class Source:
    name: str
    table: str
    row: type               # the NamedTuple of one row; its fields are the columns
    build: Callable
    time_field: str         # the entry's time field

    @property
    def columns(self) -> tuple[str, ...]:
        return self.row._fields

    def insert_sql(self, table: str | None = None, verb: str = "INSERT OR IGNORE", server: bool = True) -> str:
        """The row's columns, then (`server`) the server's name: a property of the fetch or the
        import, not of the entry, so the row types and their builders know nothing of it."""
        columns = self.columns + (("server",) if server else ())
        return f"{verb} INTO {table or self.table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


POSTFIX = Source("postfix", "postfix_line", PostfixRow, postfix_row, "time")
NETFILTER = Source("netfilter", "netfilter_line", NetfilterRow, netfilter_row, "time")
RSPAMD = Source("rspamd", "rspamd_row", RspamdHistoryRow, rspamd_row, "unix_time")
DOVECOT = Source("dovecot", "dovecot_line", DovecotRow, dovecot_row, "time")
SOURCES = {source.name: source for source in (POSTFIX, RSPAMD, NETFILTER, DOVECOT)}


def insert_rows(source: Source, rows: list[tuple], server: str) -> int:
    """INSERT OR IGNORE as the lines of `server`, in bounded IMMEDIATE transactions; returns how
    many rows were new."""
    connection = database.connection()
    stored = 0
    suffix = (server,)
    for start in range(0, len(rows), BATCH_ROWS):
        with database.atomic("IMMEDIATE"):
            before = connection.total_changes
            connection.executemany(source.insert_sql(), [tuple(row) + suffix for row in rows[start:start + BATCH_ROWS]])
            stored += connection.total_changes - before
    return stored
