"""Fetch, dedupe, recover from gaps, store: every line mailcow still holds, stored exactly once.

mailcow serves the newest N entries of a list it trims every minute and has no cursor
(PITFALLS 1-8). So each fetch pages back through the range form until it meets lines already
stored; what mailcow trimmed before we got there is recorded as a gap. Each stored line has a
unique key (time, text, and its occurrence among identical lines of the same second), so
overlapping windows and restarts never store a line twice while two identical events are kept.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from hashlib import blake2b

from .blacklist import Blacklist
from .db import database
from .models import Gap, ImportState, LocalDomain, NetfilterLine, PostfixLine, RspamdRow
from .parsing.netfilter import parse_netfilter
from .parsing.postfix import parse_postfix
from .parsing.rspamd import RspamdRowError, map_rspamd_row
from .direction import classify
from .mailcow import MailcowAuthError

log = logging.getLogger(__name__)

SOURCES = ("postfix", "rspamd", "netfilter")
OVERLAP = 20            # entries re-requested at each page boundary to splice pages together
BATCH_ROWS = 2000       # rows per write transaction: readers never wait long
MAX_PAGES = 200


def line_key(*parts) -> int:
    """A signed 64-bit key: SQLite's INTEGER, compact in the unique index."""
    digest = blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _entry_time(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class FetchResult:
    source: str
    fetched: int = 0
    stored: int = 0
    unparsed: int = 0
    pages: int = 0
    gap_missed: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"fetched": self.fetched, "stored": self.stored, "unparsed": self.unparsed,
                "pages": self.pages, "gap_missed": self.gap_missed}


# ---------------------------------------------------------------- rows from entries

_POSTFIX_COLUMNS = ("line_key", "time", "program", "priority", "message", "parsed", "kind", "queue_id",
                    "message_id", "sender", "recipient", "orig_to", "status", "relay", "delay", "dsn",
                    "reply", "client_ip", "client_host", "sasl_username", "size", "nrcpt", "linked_queue_id")
_NETFILTER_COLUMNS = ("line_key", "time", "priority", "message", "parsed", "action", "ip", "network", "rule_id",
                      "attempts_left", "ban_minutes", "username", "auth_method", "auth_failure")
_RSPAMD_COLUMNS = ("row_key", "time", "parsed", "raw", "message_id", "subject", "size", "sender_smtp",
                   "sender_mime", "recipients_smtp", "recipients_mime", "score", "required_score", "action",
                   "symbols", "ip", "user", "is_spam", "has_auth", "direction")


def _raw_text(entry) -> str:
    try:
        return json.dumps(entry, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(entry)


def postfix_row(entry, occurrence: int, fallback_time: int) -> tuple:
    """One mailcow Postfix entry as a row; a malformed entry becomes a raw, unparsed row."""
    when = _entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    program = entry.get("program") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str) or not isinstance(program, str):
        raw = _raw_text(entry)
        when = when if when is not None else fallback_time
        return (line_key("raw", raw, occurrence), when, "?", "?", raw, False) + (None,) * 17
    priority = entry.get("priority") if isinstance(entry.get("priority"), str) else "info"
    event = parse_postfix(program, message)
    return (line_key(when, program, priority, message, occurrence), when, program, priority, message, True,
            event.kind, event.queue_id, event.message_id, event.sender, event.recipient, event.orig_to,
            event.status, event.relay, event.delay, event.dsn, event.reply, event.client_ip, event.client_host,
            event.sasl_username, event.size, event.nrcpt, event.linked_queue_id)


def netfilter_row(entry, occurrence: int, fallback_time: int) -> tuple:
    when = _entry_time(entry.get("time")) if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if when is None or not isinstance(message, str):
        raw = _raw_text(entry)
        when = when if when is not None else fallback_time
        return (line_key("raw", raw, occurrence), when, "?", raw, False) + (None,) * 8 + (False,)
    priority = entry.get("priority") if isinstance(entry.get("priority"), str) else "info"
    event = parse_netfilter(message, priority)
    return (line_key(when, priority, message, occurrence), when, priority, message, True, event.action, event.ip,
            event.network, event.rule_id, event.attempts_left, event.ban_minutes, event.username,
            event.auth_method, event.auth_failure)


def rspamd_row(entry, occurrence: int, fallback_time: int, local_domains: frozenset[str]) -> tuple:
    raw = _raw_text(entry)
    key = line_key("rspamd", raw, occurrence)
    try:
        record = map_rspamd_row(entry)
    except RspamdRowError:
        when = _entry_time(entry.get("unix_time")) if isinstance(entry, dict) else None
        return (key, when if when is not None else fallback_time, False, raw) + (None,) * 13 + (False, False, "unknown")
    direction = classify(record.has_auth, False, record.rcpt_smtp, local_domains)
    message_id = f"<{record.message_id}>" if record.message_id else None
    return (key, record.time, True, None, message_id, record.subject, record.size, record.sender_smtp,
            record.sender_mime, json.dumps(record.rcpt_smtp), json.dumps(record.rcpt_mime), record.score,
            record.required_score, record.action, json.dumps(record.symbols, ensure_ascii=False), record.ip,
            record.user, record.is_spam, record.has_auth, direction)


def _identity(entry):
    """What makes two entries the same event: their fields. A log entry's four string fields
    are compared as they are (cheap); anything else through its JSON text."""
    if type(entry) is dict and len(entry) <= 4:
        values = tuple(entry.items())
        try:
            hash(values)
            return values
        except TypeError:
            pass
    return _raw_text(entry)


def with_occurrences(entries_newest_first: list) -> list[tuple[object, int]]:
    """(entry, n): n counts identical earlier entries, so repeated events get distinct keys."""
    seen: dict = {}
    result = []
    for entry in reversed(entries_newest_first):
        identity = _identity(entry)
        n = seen.get(identity, 0)
        seen[identity] = n + 1
        result.append((entry, n))
    return result


# ---------------------------------------------------------------- storage

def _insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> int:
    """INSERT OR IGNORE in bounded IMMEDIATE transactions; returns how many rows were new."""
    if not rows:
        return 0
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection = database.connection()
    stored = 0
    for start in range(0, len(rows), BATCH_ROWS):
        with database.atomic("IMMEDIATE"):
            before = connection.total_changes
            connection.executemany(sql, rows[start:start + BATCH_ROWS])
            stored += connection.total_changes - before
    return stored


def local_domains() -> frozenset[str]:
    return frozenset(d.domain for d in LocalDomain.select(LocalDomain.domain))


def refresh_local_domains(client, configured: tuple[str, ...] = ()) -> list[str]:
    """Active domains and alias domains from mailcow, kept in the database for restarts."""
    found: dict[str, str] = {d: "configured" for d in configured}
    for item in client.collection("domain/all"):
        name = str(item.get("domain_name") or "").lower()
        if name and str(item.get("active", 1)) in ("1", "True", "true"):
            found[name] = "domain"
    try:
        alias_domains = client.collection("alias-domain/all")
    except Exception as error:  # older mailcow or a key without that right: domains still work
        log.info("alias domains not available: %s", error)
        alias_domains = []
    for item in alias_domains:
        name = str(item.get("alias_domain") or "").lower()
        if name and str(item.get("active", 1)) in ("1", "True", "true"):
            found.setdefault(name, "alias")
    now = int(time.time())
    with database.atomic("IMMEDIATE"):
        LocalDomain.delete().execute()
        if found:
            LocalDomain.insert_many([(d, k, now) for d, k in found.items()],
                                    fields=[LocalDomain.domain, LocalDomain.kind, LocalDomain.updated_at]).execute()
    return sorted(found)


# ---------------------------------------------------------------- fetching

class Ingestor:
    """Runs on the scheduler thread: the single writer of log data."""

    def __init__(self, client, settings, clock=time.time):
        self.client = client
        self.settings = settings
        self.clock = clock
        self.blacklist = Blacklist(settings.blacklist_emails)
        self.page_sizes = {"postfix": settings.fetch_count_postfix, "rspamd": settings.fetch_count_rspamd,
                           "netfilter": settings.fetch_count_netfilter}

    def fetch_all(self) -> dict:
        results, errors = {}, []
        for source in SOURCES:
            try:
                results[source] = self.fetch_source(source).as_dict()
            except Exception as error:
                self._record_state(source, error=f"{type(error).__name__}: {error}")
                errors.append(f"{source}: {error}")
                if isinstance(error, MailcowAuthError):
                    # The same key for every source: asking again only adds a failed login
                    # toward a netfilter ban of this host. The next cycle tries again.
                    break
        if errors:
            raise FetchFailed("; ".join(errors), results)
        return results

    def fetch_source(self, source: str) -> FetchResult:
        result = FetchResult(source)
        model = {"postfix": PostfixLine, "rspamd": RspamdRow, "netfilter": NetfilterLine}[source]
        newest_stored = model.select(model.time).order_by(model.time.desc()).limit(1).scalar()
        segments, ended = self._collect(source, newest_stored is not None, result)
        now = int(self.clock())
        rows = []
        for segment in segments:
            rows.extend(self._rows(source, segment, now, result))
        result.fetched = sum(len(s) for s in segments)
        if source == "postfix":
            rows = self.blacklist.filter_postfix(rows)
        elif source == "rspamd":
            rows = self.blacklist.filter_rspamd(rows)
        elif source == "netfilter":
            _pair_attempts(rows)
        table = model._meta.table_name
        columns = {"postfix": _POSTFIX_COLUMNS, "rspamd": _RSPAMD_COLUMNS, "netfilter": _NETFILTER_COLUMNS}[source]
        result.stored = _insert(table, columns, rows)
        if source == "postfix":
            self.blacklist.purge_hidden_queues()
        if ended and newest_stored is not None and result.fetched:
            self._record_gap(source, segments, newest_stored, result)
        self._record_state(source, result=result)
        return result

    def _collect(self, source: str, has_stored: bool, result: FetchResult) -> tuple[list[list], bool]:
        """Newest-first entries, as segments that were each one consistent view of the list.

        Returns (segments, ended): `ended` is True when mailcow's list ran out before we met
        a stored line, which on any run but the first means lines were trimmed unseen.
        """
        page_size = self.page_sizes[source]
        page = self.client.logs(source, count=page_size)
        result.pages = 1
        segments = [list(page)]
        total = len(page)
        while True:
            if len(page) < page_size:
                return segments, True
            if has_stored and self._reaches_stored(source, segments[-1]):
                return segments, False
            if result.pages >= MAX_PAGES:
                log.warning("%s: stopped paging back after %d pages", source, result.pages)
                return segments, False
            first = max(total - OVERLAP, 0) + 1
            page = self.client.logs(source, first=first, last=first + page_size - 1)
            result.pages += 1
            if not page:
                return segments, True
            spliced = _splice(segments[-1], page)
            if spliced is None:
                # New lines pushed more than a page between requests: keep the page as its own
                # segment; the unique keys still dedupe what overlaps.
                segments.append(list(page))
                total += len(page)
            else:
                segments[-1].extend(spliced)
                total += len(spliced)
            if len(page) < page_size:
                return segments, True

    def _reaches_stored(self, source: str, entries: list) -> bool:
        tail = entries[-OVERLAP:]
        now = int(self.clock())
        keys = [row[0] for row in self._rows(source, tail, now, FetchResult(source))]
        model = {"postfix": PostfixLine, "rspamd": RspamdRow, "netfilter": NetfilterLine}[source]
        key_field = model.row_key if source == "rspamd" else model.line_key
        return model.select().where(key_field.in_(keys)).exists()

    def _rows(self, source: str, entries: list, now: int, result: FetchResult) -> list[tuple]:
        rows = []
        domains = local_domains() if source == "rspamd" else None
        for entry, occurrence in with_occurrences(entries):
            if entry is None:
                result.unparsed += 1   # mailcow could not decode the stored line: nothing to keep
                continue
            if source == "postfix":
                row = postfix_row(entry, occurrence, now)
                ok = row[5]
            elif source == "netfilter":
                row = netfilter_row(entry, occurrence, now)
                ok = row[4]
            else:
                row = rspamd_row(entry, occurrence, now, domains)
                ok = row[2]
            if not ok:
                result.unparsed += 1
            rows.append(row)
        return rows

    def _record_gap(self, source: str, segments: list[list], newest_stored: int, result: FetchResult) -> None:
        entries = [e for s in segments for e in s]
        field_name = "unix_time" if source == "rspamd" else "time"
        times = [t for t in (_entry_time(e.get(field_name)) for e in entries if isinstance(e, dict)) if t is not None]
        if not times:
            return
        oldest, newest = min(times), max(times)
        if oldest <= newest_stored:
            return   # the list ran out exactly where our data begins: nothing missed
        span = max(newest - oldest, 1)
        missed = max(1, round(len(times) / span * (oldest - newest_stored)))
        result.gap_missed = missed
        Gap.create(source=source, start_time=newest_stored, end_time=oldest, estimated_missed=missed,
                   detected_at=int(self.clock()))
        log.warning("%s: gap between %s and %s, about %d lines were trimmed by mailcow before they could be "
                    "fetched (fetch more often or raise FETCH_COUNT_%s)", source, _iso(newest_stored), _iso(oldest),
                    missed, source.upper())

    def _record_state(self, source: str, result: FetchResult | None = None, error: str | None = None) -> None:
        now = int(self.clock())
        state, _ = ImportState.get_or_create(source=source)
        state.last_fetch_run = now
        state.last_error = error
        if result is not None:
            state.fetched += result.fetched
            state.stored += result.stored
            state.unparsed += result.unparsed
            if result.stored:
                state.last_import = now
        state.save()


class FetchFailed(RuntimeError):
    def __init__(self, message: str, results: dict):
        super().__init__(message)
        self.results = results


def _splice(have: list, page: list) -> list | None:
    """What `page` adds after `have`, found by locating have's last entries inside page."""
    tail = [_identity(e) for e in have[-OVERLAP:]]
    texts = [_identity(e) for e in page]
    width = len(tail)
    for offset in range(0, len(texts) - width + 1):
        if texts[offset:offset + width] == tail:
            return page[offset + width:]
    return None


def _pair_attempts(rows: list[tuple]) -> None:
    """Give each 'matched rule id' line the attempts left from its 'N more attempts' twin.

    mailcow logs the two in the same second (the consequence first, newest-first), so the
    twin is the warning for the same address in that second.
    """
    remaining: dict[tuple[int, str], int] = {}
    for row in rows:
        if row[4] and row[9] is not None and row[6]:
            remaining[(row[1], row[6])] = row[9]
    for index, row in enumerate(rows):
        if row[4] and row[8] is not None and row[9] is None and row[6]:
            attempts = remaining.get((row[1], row[6]))
            if attempts is not None:
                rows[index] = row[:9] + (attempts,) + row[10:]


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
