"""mailcow log entries as table rows: parsed fields beside the raw text, and a unique key.

The key is a 64-bit hash of the entry's fields and its occurrence among identical entries,
so that a line fetched twice is stored once while two identical events in the same second
(mailcow's times are whole seconds) are both kept. An entry that cannot be parsed becomes a
raw, unparsed row instead of being dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from hashlib import blake2b
from typing import Callable

from .db import database
from .direction import classify
from .parsing.dovecot import parse_dovecot
from .parsing.netfilter import parse_netfilter
from .parsing.postfix import parse_postfix
from .parsing.rspamd import RspamdRowError, map_rspamd_row

BATCH_ROWS = 2000       # rows per write transaction: readers never wait long


def entry_time(value) -> int | None:
    """mailcow's `time`: a string of digits for Postfix, an int for netfilter (PITFALLS 4)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def line_key(*parts) -> int:
    """A signed 64-bit key: SQLite's INTEGER, compact in the unique index."""
    digest = blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def raw_text(entry) -> str:
    try:
        return json.dumps(entry, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
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
            values = tuple(entry.items())
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


# ---------------------------------------------------------------- one builder per source

def postfix_row(entry, occurrence: int, fallback_time: int, _context=None) -> tuple:
    """One mailcow Postfix entry as a row; a malformed entry becomes a raw, unparsed row."""
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    program = entry.get("program") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str) or not isinstance(program, str):
        raw = raw_text(entry)
        when = when if when is not None else fallback_time
        return (line_key("raw", raw, occurrence), when, "?", "?", raw, False) + (None,) * 17
    priority = entry.get("priority") if isinstance(entry.get("priority"), str) else "info"
    event = parse_postfix(program, message)
    return (line_key(when, program, priority, message, occurrence), when, program, priority, message, True,
            event.kind, event.queue_id, event.message_id, event.sender, event.recipient, event.orig_to,
            event.status, event.relay, event.delay, event.dsn, event.reply, event.client_ip, event.client_host,
            event.sasl_username, event.size, event.nrcpt, event.linked_queue_id)


def netfilter_row(entry, occurrence: int, fallback_time: int, _context=None) -> tuple:
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str):
        raw = raw_text(entry)
        when = when if when is not None else fallback_time
        return (line_key("raw", raw, occurrence), when, "?", raw, False) + (None,) * 8 + (False,)
    priority = entry.get("priority") if isinstance(entry.get("priority"), str) else "info"
    event = parse_netfilter(message, priority)
    return (line_key(when, priority, message, occurrence), when, priority, message, True, event.action, event.ip,
            event.network, event.rule_id, event.attempts_left, event.ban_minutes, event.username,
            event.auth_method, event.auth_failure)


def dovecot_row(entry, occurrence: int, fallback_time: int, _context=None) -> tuple:
    """One mailcow Dovecot entry (same shape as Postfix's); an unknown message is kept raw, unparsed."""
    when = entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str):
        raw = raw_text(entry)
        return (line_key("raw", raw, occurrence), when if when is not None else fallback_time, "?", raw,
                False) + (None,) * 12
    priority = entry.get("priority") if isinstance(entry.get("priority"), str) else "info"
    event = parse_dovecot(message)
    return (line_key(when, priority, message, occurrence), when, event.priority or priority, message, event.parsed,
            event.kind, event.service, event.user, event.session, event.message_id, event.action, event.folder,
            event.target, event.detail, event.ip, event.attempts)


def rspamd_row(entry, occurrence: int, fallback_time: int, local_domains: frozenset[str]) -> tuple:
    try:
        record = map_rspamd_row(entry)
    except RspamdRowError:
        raw = raw_text(entry)
        when = entry_time(entry.get("unix_time")) if isinstance(entry, dict) else None
        return ((line_key("rspamd", raw, occurrence), when if when is not None else fallback_time, False, raw)
                + (None,) * 13 + (False, False, "unknown"))
    same = identity(entry)
    key = line_key("rspamd", *(same if isinstance(same, tuple) else (same,)), occurrence)
    direction = classify(record.has_auth, False, record.rcpt_smtp, local_domains)
    message_id = f"<{record.message_id}>" if record.message_id else None
    return (key, record.time, True, None, message_id, record.subject, record.size, record.sender_smtp,
            record.sender_mime, json.dumps(record.rcpt_smtp), json.dumps(record.rcpt_mime), record.score,
            record.required_score, record.action, json.dumps(record.symbols, ensure_ascii=False), record.ip,
            record.user, record.is_spam, record.has_auth, direction)


@dataclass(frozen=True)
class Source:
    name: str
    table: str
    columns: tuple[str, ...]
    build: Callable
    parsed_at: int          # position of the `parsed` flag in a row
    time_field: str         # the entry's time field

    def insert_sql(self, table: str | None = None, verb: str = "INSERT OR IGNORE") -> str:
        return (f"{verb} INTO {table or self.table} ({', '.join(self.columns)}) "
                f"VALUES ({', '.join('?' * len(self.columns))})")


POSTFIX = Source("postfix", "postfix_line", (
    "line_key", "time", "program", "priority", "message", "parsed", "kind", "queue_id", "message_id", "sender",
    "recipient", "orig_to", "status", "relay", "delay", "dsn", "reply", "client_ip", "client_host",
    "sasl_username", "size", "nrcpt", "linked_queue_id"), postfix_row, 5, "time")
NETFILTER = Source("netfilter", "netfilter_line", (
    "line_key", "time", "priority", "message", "parsed", "action", "ip", "network", "rule_id", "attempts_left",
    "ban_minutes", "username", "auth_method", "auth_failure"), netfilter_row, 4, "time")
RSPAMD = Source("rspamd", "rspamd_row", (
    "row_key", "time", "parsed", "raw", "message_id", "subject", "size", "sender_smtp", "sender_mime",
    "recipients_smtp", "recipients_mime", "score", "required_score", "action", "symbols", "ip", "user", "is_spam",
    "has_auth", "direction"), rspamd_row, 2, "unix_time")
DOVECOT = Source("dovecot", "dovecot_line", (
    "line_key", "time", "priority", "message", "parsed", "kind", "service", "user", "session", "message_id", "action",
    "folder", "target", "detail", "ip", "attempts"), dovecot_row, 4, "time")
SOURCES = {source.name: source for source in (POSTFIX, RSPAMD, NETFILTER, DOVECOT)}


def insert_rows(source: Source, rows: list[tuple]) -> int:
    """INSERT OR IGNORE in bounded IMMEDIATE transactions; returns how many rows were new."""
    connection = database.connection()
    stored = 0
    for start in range(0, len(rows), BATCH_ROWS):
        with database.atomic("IMMEDIATE"):
            before = connection.total_changes
            connection.executemany(source.insert_sql(), rows[start:start + BATCH_ROWS])
            stored += connection.total_changes - before
    return stored
