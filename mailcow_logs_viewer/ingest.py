"""Fetch, dedupe, recover from gaps, store: every line mailcow still holds, stored exactly once.

mailcow serves the newest N entries of a list it trims every minute and has no cursor
(PITFALLS 1-8). So each fetch pages back through the range form until it meets lines already
stored; what mailcow trimmed before we got there is recorded as a gap. Rows carry a unique key
(log_rows), so overlapping windows and restarts never store a line twice.

Pages arrive newest first but lines must be stored oldest first: the correlator reads them
in that order, and a fetch cut short (crash, full disk) must leave the older part stored so
that the next fetch pages back to it. Pages therefore go to a staging table as they arrive
(memory stays bounded by one page however far a fetch reaches back) and move to the log
table in time order, in bounded transactions, once the fetch is complete.

A fetch is also a cost to mailcow (PHP reads Redis and encodes JSON; PITFALLS 36), so it
starts small: the first request asks for about as many entries as the last fetches found new,
and pages grow only while they do not reach what is stored. At steady state the traffic
follows the new lines; a burst costs a few growing pages, never a loss.
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

from .blacklist import Blacklist
from .privacy import SubjectRedactor
from .db import database
from .domains import local_domains
from .log_rows import SOURCES, NetfilterRow, Occurrences, Source, identity
from .mailcow import MailcowAuthError, MailcowError, MailcowUndecodable
from .models import Gap, ImportState
from .staging import Staging
from .traffic import Traffic

log = logging.getLogger(__name__)

OVERLAP = 20            # entries re-requested at each page boundary to splice pages together
MAX_PAGES = 1000
# The first request of a fetch: what the last fetches found new, with room for a busier
# minute, plus a few entries that are certainly stored already (they show where we are).
FIRST_PAGE_MIN = 10
FIRST_PAGE_FACTOR = 1.25
FIRST_PAGE_MARGIN = 5
GROWTH = 4              # each further page is this much bigger, up to the fetch count
# Rspamd keeps 1,000 history rows and each is a few kB of JSON: bigger pages only cost memory.
MAX_RSPAMD_PAGE = 1000


# ---------------------------------------------------------------- fetching

@dataclass
class FetchResult:
    source: str
    fetched: int = 0
    stored: int = 0
    unparsed: int = 0
    pages: int = 0
    gap_missed: int = 0
    oldest: int | None = None
    newest: int | None = None
    timed: int = 0
    hidden: int = 0          # rows the blacklist kept out
    bytes: int = 0           # received from mailcow for this source
    requests: int = 0

    def as_dict(self) -> dict:
        return {"fetched": self.fetched, "stored": self.stored, "unparsed": self.unparsed,
                "pages": self.pages, "gap_missed": self.gap_missed, "bytes": self.bytes,
                "requests": self.requests}

    def saw_all(self, times: list[int]) -> None:
        """The times of parsed entries: how far back the fetch reached, for gap estimates."""
        if times:
            self.timed += len(times)
            self.oldest = min(times) if self.oldest is None else min(self.oldest, min(times))
            self.newest = max(times) if self.newest is None else max(self.newest, max(times))


class Ingestor:
    """Fetches one mailcow server and stores its lines as that server's (`server`, by default
    the single server of the settings). Its writes are serialized by `write_lock` (runtime.py
    runs each server's fetch on a thread of its own; the HTTP requests run outside the lock)."""

    def __init__(self, client, settings, server: str | None = None, write_lock=None, clock=time.time):
        self.client = client
        self.settings = settings
        self.clock = clock
        self.server = server or settings.server_name
        self.write_lock = write_lock or nullcontext()
        self.blacklist = Blacklist(settings.blacklist_emails, self.server)
        self.redactor = SubjectRedactor(settings.redact_subjects)
        self.page_sizes = {"postfix": settings.fetch_count_postfix,
                           "rspamd": min(settings.fetch_count_rspamd, MAX_RSPAMD_PAGE),
                           "netfilter": settings.fetch_count_netfilter,
                           "dovecot": settings.fetch_count_dovecot}

    def fetch_all(self) -> dict:
        results, errors, causes = {}, [], []
        for name in SOURCES:
            try:
                results[name] = self.fetch_source(name).as_dict()
            except Exception as error:
                with self.write_lock:
                    self._record_state(name, error=f"{type(error).__name__}: {error}")
                errors.append(f"{name}: {error}")
                causes.append(error)
                if isinstance(error, MailcowAuthError):
                    # The same key for every source: asking again only adds a failed login
                    # toward a netfilter ban of this host. The next cycle tries again.
                    break
        if errors:
            raise FetchFailed("; ".join(errors), results, causes)
        return results

    def fetch_source(self, name: str) -> FetchResult:
        source = SOURCES[name]
        result = FetchResult(name)
        newest_stored = database.execute_sql(f"SELECT MAX(time) FROM {source.table} WHERE server = ?",
                                             (self.server,)).fetchone()[0]
        with self.write_lock:
            staging = Staging(source, self.server)
        traffic = Traffic(self.server, name)
        bytes_before, requests_before = self.client.received[name], self.client.requests_made[name]
        try:
            ended = self._fetch_pages(source, newest_stored is not None, traffic.expected_new, staging, result)
        finally:
            result.bytes = self.client.received[name] - bytes_before
            result.requests = self.client.requests_made[name] - requests_before
            traffic.add(int(self.clock()), result.bytes, result.requests)
            with self.write_lock:
                traffic.save()
        with self.write_lock:
            result.stored = staging.move()
            if newest_stored is not None:    # a first import says nothing about the rate
                traffic.saw_new(result.stored + result.hidden)
                traffic.save()
            if name == "postfix":
                self.blacklist.purge_hidden_queues()
            if ended and newest_stored is not None and result.timed:
                self._record_gap(name, newest_stored, result)
            self._record_state(name, result=result)
        return result

    def _first_page_size(self, name: str, has_stored: bool, expected_new: int | None) -> int:
        full = self.page_sizes[name]
        if not has_stored:
            return full          # the first run takes everything mailcow holds anyway
        if expected_new is None:
            return min(full, FIRST_PAGE_MIN)
        wanted = math.ceil(expected_new * FIRST_PAGE_FACTOR) + FIRST_PAGE_MARGIN
        return min(full, max(FIRST_PAGE_MIN, wanted))

    def _fetch_pages(self, source: Source, has_stored: bool, expected_new: int | None, staging: Staging,
                     result: FetchResult) -> bool:
        """Stage pages from the newest back to the first one that meets stored lines.

        Returns True when mailcow's list ran out first: on any run but the first, the lines
        before it were trimmed unseen. The next page is requested while the current one is
        parsed and staged, so that mailcow's time to answer overlaps ours.
        """
        full = self.page_sizes[source.name]
        occurrences = Occurrences()
        context = local_domains() if source.name == "rspamd" else None
        with ThreadPoolExecutor(1, thread_name_prefix=f"fetch-{source.name}") as requests:
            page, size = self._request(source.name, 1, self._first_page_size(source.name, has_stored, expected_new))
            result.pages, position, new, tail = 1, 0, page, []
            while True:
                position += len(new)
                tail = (tail + list(new))[-OVERLAP:]
                ended = len(page) < size
                if ended or (has_stored and self._reaches_stored(source, tail, context)):
                    self._stage(source, new, occurrences, context, staging, result)
                    return ended
                if result.pages >= MAX_PAGES:
                    self._stage(source, new, occurrences, context, staging, result)
                    log.warning("%s: stopped paging back after %d pages", source.name, result.pages)
                    return False
                first = max(position - OVERLAP, 0) + 1
                upcoming = requests.submit(self._request, source.name, first, min(full, size * GROWTH))
                self._stage(source, new, occurrences, context, staging, result)
                page, size = upcoming.result()
                result.pages += 1
                if not page:
                    return True
                new = _splice(tail, page)
                if new is None:
                    # More lines were pushed than a page between two requests: take the page
                    # whole and number it afresh, so that what overlaps gets the same keys as
                    # before and is deduplicated by the unique index.
                    new, occurrences = page, Occurrences()

    def _request(self, name: str, first: int, size: int) -> tuple[list, int]:
        """The page of `size` entries from position `first`, and the size it was asked for.

        A body that is not even a JSON array (cut short on the way, say) is asked for again
        in halves: a smaller page may come through whole, and the loop pages on from there.
        """
        while True:
            try:
                if first == 1:
                    return self.client.logs(name, count=size), size
                return self.client.logs(name, first=first, last=first + size - 1), size
            except MailcowUndecodable as error:
                if size <= 1:
                    raise
                size //= 2
                log.info("%s; asking for %d entries instead", error, size)

    def _stage(self, source: Source, entries: list, occurrences: Occurrences, context, staging: Staging,
               result: FetchResult) -> None:
        occurrences.next_page()
        rows = self._rows(source, entries, occurrences, context, result)
        built = len(rows)
        with self.write_lock:      # the blacklist keeps the queues it hides in the database
            if source.name == "postfix":
                rows = self.blacklist.filter_postfix(rows)
            elif source.name == "rspamd":
                rows = self.blacklist.filter_rspamd(rows)
            elif source.name == "dovecot":
                rows = self.blacklist.filter_dovecot(rows)
            else:
                _pair_attempts(rows)
            result.hidden += built - len(rows)
            staging.add(self.redactor.rows(source.name, rows))

    def _rows(self, source: Source, entries: list, occurrences: Occurrences, context,
              result: FetchResult) -> list[tuple]:
        build, number = source.build, occurrences.number
        rows = [build(entry, number(entry), None, context) for entry in entries if entry is not None]
        # None: mailcow could not decode the stored line, nothing to keep (but counted).
        result.fetched += len(entries)
        parsed_times = [row.time for row in rows if row.parsed]
        result.unparsed += len(entries) - len(parsed_times)
        result.saw_all(parsed_times)
        if len(parsed_times) < len(rows) and any(row.time is None for row in rows):
            rows = self._give_times(rows)
        return rows

    def _give_times(self, rows: list) -> list:
        """Entries without a usable time take the time of the next older entry that has one
        (or the newer one, or now): the entries above them in mailcow's list come and go, the
        ones below stay put until trimmed, so the time stays the same from fetch to fetch."""
        older = None
        timed = []
        for row in reversed(rows):
            if row.time is not None:
                older = row.time
            timed.append(older)
        timed.reverse()
        newer, now = None, int(self.clock())
        given = []
        for row, older in zip(rows, timed):
            if row.time is not None:
                newer = row.time
                given.append(row)
            else:
                given.append(row._replace(time=older if older is not None else newer if newer is not None else now))
        return given

    def _reaches_stored(self, source: Source, tail: list, context) -> bool:
        rows = [row for row in self._rows(source, tail, Occurrences(), context, FetchResult(source.name))
                if row.parsed]
        if not rows:
            return False
        # One look-up in the unique index (time, key, server) per row of the page. Not a row-value
        # `IN (VALUES ...)`: SQLite answers that by reading the whole index (70-210 ms a page
        # at 700k lines, every fetch), a join from the page's rows is a search per row.
        pairs = [value for row in rows for value in (row.time, row[0])]
        key = source.columns[0]
        found = database.execute_sql(
            f"WITH page(time, {key}) AS (VALUES {', '.join(['(?, ?)'] * len(rows))}) "
            f"SELECT 1 FROM page CROSS JOIN {source.table} AS stored ON stored.time = page.time "
            f"AND stored.{key} = page.{key} AND stored.server = ? LIMIT 1", [*pairs, self.server]).fetchone()
        return found is not None

    def _record_gap(self, name: str, newest_stored: int, result: FetchResult) -> None:
        if result.oldest <= newest_stored:
            return   # the list ran out exactly where our data begins: nothing missed
        span = max(result.newest - result.oldest, 1)
        missed = max(1, round(result.timed / span * (result.oldest - newest_stored)))
        result.gap_missed = missed
        Gap.create(server=self.server, source=name, start_time=newest_stored, end_time=result.oldest, estimated_missed=missed,
                   detected_at=int(self.clock()))
        log.warning("%s %s: gap between %s and %s, about %d lines were trimmed by mailcow before they could be "
                    "fetched (fetch more often or raise FETCH_COUNT_%s)", self.server, name, _iso(newest_stored),
                    _iso(result.oldest), missed, name.upper())

    def _record_state(self, name: str, result: FetchResult | None = None, error: str | None = None) -> None:
        now = int(self.clock())
        state, _ = ImportState.get_or_create(server=self.server, source=name)
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
    def __init__(self, message: str, results: dict, causes: list[Exception]):
        super().__init__(message)
        self.results = results
        self.causes = causes

    @property
    def mailcow_error(self) -> MailcowError | None:
        """The first failure that was mailcow's, if any (a full disk is ours, not mailcow's)."""
        return next((c for c in self.causes if isinstance(c, MailcowError)), None)


def _splice(have: list, page: list) -> list | None:
    """What `page` adds after `have`, found by locating have's last entries inside page.

    The overlap sits near the top of the page (shifted by what mailcow logged between two
    requests), so identities are computed only as far as the search goes.
    """
    tail = [identity(e) for e in have[-OVERLAP:]]
    width = len(tail)
    seen: list = []
    for entry in page:
        seen.append(identity(entry))
        if len(seen) >= width and seen[-width:] == tail:
            return page[len(seen):]
    return None


def _pair_attempts(rows: list[NetfilterRow]) -> None:
    """Give each 'matched rule id' line the attempts left from its 'N more attempts' twin.

    mailcow logs the two in the same second (the consequence first, newest-first), so the
    twin is the warning for the same address in that second.
    """
    remaining: dict[tuple[int, str], int] = {}
    for row in rows:
        if row.parsed and row.attempts_left is not None and row.ip:
            remaining[(row.time, row.ip)] = row.attempts_left
    for index, row in enumerate(rows):
        if row.parsed and row.rule_id is not None and row.attempts_left is None and row.ip:
            attempts = remaining.get((row.time, row.ip))
            if attempts is not None:
                rows[index] = row._replace(attempts_left=attempts)


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
