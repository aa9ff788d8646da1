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
"""
from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .blacklist import Blacklist
from .db import database
from .log_rows import SOURCES, Occurrences, Source, identity
from .mailcow import MailcowAuthError, MailcowError
from .models import Gap, ImportState, LocalDomain

log = logging.getLogger(__name__)

OVERLAP = 20            # entries re-requested at each page boundary to splice pages together
MOVE_BATCH = 5000       # rows moved from staging per transaction
MAX_PAGES = 1000
# Rspamd keeps 1,000 history rows and each is a few kB of JSON: bigger pages only cost memory.
MAX_RSPAMD_PAGE = 1000


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

    def as_dict(self) -> dict:
        return {"fetched": self.fetched, "stored": self.stored, "unparsed": self.unparsed,
                "pages": self.pages, "gap_missed": self.gap_missed}

    def saw(self, when: int | None) -> None:
        if when is not None:
            self.timed += 1
            self.oldest = when if self.oldest is None else min(self.oldest, when)
            self.newest = when if self.newest is None else max(self.newest, when)


class Staging:
    """A scratch copy of a log table without indexes: cheap to fill, emptied by `move`.

    It lives in a separate file attached to the writer's connection, without journal or
    syncs: its rows are disposable (a fetch starts by emptying it), so writing them twice
    through the WAL, as the main file would, buys nothing.
    """

    def __init__(self, source: Source):
        self.source = source
        self.table = f"staging.{source.table}"
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            # Without a journal, a write cut short (a full disk, a crash) can leave the file
            # unreadable. Its content is disposable: start a new one.
            log.warning("staging file unusable (%s); starting a new one", error)
            self._detach()
            Path(self.path).unlink(missing_ok=True)
            self._prepare()

    @property
    def path(self) -> str:
        return database.database + "-staging"

    def _prepare(self) -> None:
        connection = database.connection()
        if "staging" not in {row[1] for row in connection.execute("PRAGMA database_list")}:
            connection.execute("ATTACH DATABASE ? AS staging", (self.path,))
            connection.execute("PRAGMA staging.journal_mode = OFF")
            connection.execute("PRAGMA staging.synchronous = OFF")
        connection.execute(f"DROP TABLE IF EXISTS {self.table}")
        connection.execute(f"CREATE TABLE {self.table} AS "
                           f"SELECT {', '.join(self.source.columns)} FROM main.{self.source.table} WHERE 0")

    @staticmethod
    def _detach() -> None:
        connection = database.connection()
        if "staging" in {row[1] for row in connection.execute("PRAGMA database_list")}:
            connection.execute("DETACH DATABASE staging")

    def add(self, rows: list[tuple]) -> None:
        if rows:
            with database.atomic("IMMEDIATE"):
                database.connection().executemany(self.source.insert_sql(self.table, "INSERT"), rows)

    def move(self) -> int:
        """Into the log table, oldest first (staged newest first), a batch per transaction."""
        connection = database.connection()
        columns = ", ".join(self.source.columns)
        highest = connection.execute(f"SELECT MAX(rowid) FROM {self.table}").fetchone()[0] or 0
        stored = 0
        while highest > 0:
            lowest = max(1, highest - MOVE_BATCH + 1)
            with database.atomic("IMMEDIATE"):
                before = connection.total_changes
                connection.execute(f"INSERT OR IGNORE INTO main.{self.source.table} ({columns}) SELECT {columns} "
                                   f"FROM {self.table} WHERE rowid BETWEEN ? AND ? ORDER BY rowid DESC",
                                   (lowest, highest))
                stored += connection.total_changes - before
            highest = lowest - 1
        connection.execute(f"DROP TABLE {self.table}")
        if connection.execute("PRAGMA staging.freelist_count").fetchone()[0] > 2560:
            connection.execute("VACUUM staging")   # give a big first import's 10+ MB back to the disk
        return stored


class Ingestor:
    """Runs on the scheduler thread: the single writer of log data."""

    def __init__(self, client, settings, clock=time.time):
        self.client = client
        self.settings = settings
        self.clock = clock
        self.blacklist = Blacklist(settings.blacklist_emails)
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
        newest_stored = database.execute_sql(f"SELECT MAX(time) FROM {source.table}").fetchone()[0]
        staging = Staging(source)
        ended = self._fetch_pages(source, newest_stored is not None, staging, result)
        result.stored = staging.move()
        if name == "postfix":
            self.blacklist.purge_hidden_queues()
        if ended and newest_stored is not None and result.timed:
            self._record_gap(name, newest_stored, result)
        self._record_state(name, result=result)
        return result

    def _fetch_pages(self, source: Source, has_stored: bool, staging: Staging, result: FetchResult) -> bool:
        """Stage pages from the newest back to the first one that meets stored lines.

        Returns True when mailcow's list ran out first: on any run but the first, the lines
        before it were trimmed unseen. The next page is requested while the current one is
        parsed and staged, so that mailcow's time to answer overlaps ours.
        """
        page_size = self.page_sizes[source.name]
        occurrences = Occurrences()
        context = local_domains() if source.name == "rspamd" else None
        with ThreadPoolExecutor(1, thread_name_prefix=f"fetch-{source.name}") as requests:
            page = self.client.logs(source.name, count=page_size)
            result.pages, position, new, tail = 1, 0, page, []
            while True:
                position += len(new)
                tail = (tail + list(new))[-OVERLAP:]
                ended = len(page) < page_size
                if ended or (has_stored and self._reaches_stored(source, tail, context)):
                    self._stage(source, new, occurrences, context, staging, result)
                    return ended
                if result.pages >= MAX_PAGES:
                    self._stage(source, new, occurrences, context, staging, result)
                    log.warning("%s: stopped paging back after %d pages", source.name, result.pages)
                    return False
                first = max(position - OVERLAP, 0) + 1
                upcoming = requests.submit(self.client.logs, source.name, first=first, last=first + page_size - 1)
                self._stage(source, new, occurrences, context, staging, result)
                page = upcoming.result()
                result.pages += 1
                if not page:
                    return True
                new = _splice(tail, page)
                if new is None:
                    # More lines were pushed than a page between two requests: take the page
                    # whole and number it afresh, so that what overlaps gets the same keys as
                    # before and is deduplicated by the unique index.
                    new, occurrences = page, Occurrences()

    def _stage(self, source: Source, entries: list, occurrences: Occurrences, context, staging: Staging,
               result: FetchResult) -> None:
        occurrences.next_page()
        rows = self._rows(source, entries, occurrences, context, result)
        if source.name == "postfix":
            rows = self.blacklist.filter_postfix(rows)
        elif source.name == "rspamd":
            rows = self.blacklist.filter_rspamd(rows)
        elif source.name == "dovecot":
            rows = self.blacklist.filter_dovecot(rows)
        else:
            _pair_attempts(rows)
        staging.add(rows)

    def _rows(self, source: Source, entries: list, occurrences: Occurrences, context,
              result: FetchResult) -> list[tuple]:
        now = int(self.clock())
        rows = []
        for entry in entries:
            result.fetched += 1
            if entry is None:
                result.unparsed += 1   # mailcow could not decode the stored line: nothing to keep
                continue
            row = source.build(entry, occurrences.number(entry), now, context)
            if not row[source.parsed_at]:
                result.unparsed += 1
            if row[source.parsed_at]:
                result.saw(row[1])
            rows.append(row)
        return rows

    def _reaches_stored(self, source: Source, tail: list, context) -> bool:
        rows = self._rows(source, tail, Occurrences(), context, FetchResult(source.name))
        if not rows:
            return False
        # (time, key) is the unique index: a row-value IN list is answered from it directly.
        pairs = [value for row in rows for value in (row[1], row[0])]
        found = database.execute_sql(
            f"SELECT 1 FROM {source.table} WHERE (time, {source.columns[0]}) IN "
            f"(VALUES {', '.join(['(?, ?)'] * len(rows))}) LIMIT 1", pairs).fetchone()
        return found is not None

    def _record_gap(self, name: str, newest_stored: int, result: FetchResult) -> None:
        if result.oldest <= newest_stored:
            return   # the list ran out exactly where our data begins: nothing missed
        span = max(result.newest - result.oldest, 1)
        missed = max(1, round(result.timed / span * (result.oldest - newest_stored)))
        result.gap_missed = missed
        Gap.create(source=name, start_time=newest_stored, end_time=result.oldest, estimated_missed=missed,
                   detected_at=int(self.clock()))
        log.warning("%s: gap between %s and %s, about %d lines were trimmed by mailcow before they could be "
                    "fetched (fetch more often or raise FETCH_COUNT_%s)", name, _iso(newest_stored),
                    _iso(result.oldest), missed, name.upper())

    def _record_state(self, name: str, result: FetchResult | None = None, error: str | None = None) -> None:
        now = int(self.clock())
        state, _ = ImportState.get_or_create(source=name)
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
