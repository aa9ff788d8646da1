"""`python run.py import FILE...`: Postfix and Dovecot syslog files through the same parsers and store.

BSD timestamps carry no year and no zone (PITFALLS 34). Without `--year`, a line gets the
year of its file's modification time (never later than now), unless that would place it
after that time: syslog rotation then implies last year (a December line in a file written
in January). RFC 3339 lines carry their own year and zone. The zone of BSD lines is `--tz`
(default TZ). Imported time ranges are recorded so that the daily clean-up keeps them
(retention.keep_range) unless the import asked otherwise.
"""
from __future__ import annotations

import gzip
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from .log_rows import DOVECOT, POSTFIX, Occurrences, Source, insert_rows
from .privacy import rewind_anonymized
from .retention import keep_range
from .parsing.syslog import is_postfix_program, parse_syslog_line

CHUNK_LINES = 50000


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


# A BSD line up to this far after its file's time is clock skew, not last year's.
FUTURE_SLACK = 86400


def _parse(raw: str, year: int | None, written: float, tz, years: set[int]):
    """One line; without an explicit year, the year that does not put it after `written`."""
    if year is not None or not raw[:1].isalpha():
        return parse_syslog_line(raw, year or time.gmtime(written).tm_year, tz)
    guess = datetime.fromtimestamp(written, tz).year
    line = parse_syslog_line(raw, guess, tz)
    if line is not None and line.time > written + FUTURE_SLACK:
        guess -= 1
        line = parse_syslog_line(raw, guess, tz)
    if line is not None:
        years.add(guess)
    return line


def _source_of(program: str) -> Source | None:
    if is_postfix_program(program):
        return POSTFIX
    # Dovecot logs to syslog as `dovecot` (the process is in the message, as mailcow serves it).
    return DOVECOT if program == "dovecot" else None


def import_files(files: list[str], year: int | None = None, tz=timezone.utc, retain: bool = True, *,
                 server: str) -> dict:
    """Store the Postfix and Dovecot lines of these files as `server`'s; the report says which
    years BSD lines got (`years`) and the time range stored (`first`, `last`)."""
    report = {"lines": 0, "postfix": 0, "dovecot": 0, "stored": 0, "skipped": 0, "years": {}, "first": None,
              "last": None}
    for name in files:
        path = Path(name)
        written = min(os.stat(path).st_mtime, time.time())
        years: set[int] = {year} if year else set()
        entries: dict[str, list] = {POSTFIX.name: [], DOVECOT.name: []}
        occurrences = {POSTFIX.name: Occurrences(), DOVECOT.name: Occurrences()}
        with _open(path) as handle:
            for raw in handle:
                report["lines"] += 1
                line = _parse(raw.rstrip("\n"), year, written, tz, years)
                if line is None:
                    report["skipped"] += 1
                    continue
                report["first"] = line.time if report["first"] is None else min(report["first"], line.time)
                report["last"] = line.time if report["last"] is None else max(report["last"], line.time)
                source = _source_of(line.program)
                if source is None:
                    continue
                batch = entries[source.name]
                batch.append({"time": str(line.time), "priority": line.priority, "program": line.program,
                              "message": line.message})
                if len(batch) >= CHUNK_LINES:
                    report["stored"] += _store(source, batch, occurrences[source.name], server)
                    report[source.name] += len(batch)
                    entries[source.name] = []
        for source in (POSTFIX, DOVECOT):
            report["stored"] += _store(source, entries[source.name], occurrences[source.name], server)
            report[source.name] += len(entries[source.name])
        report["years"][name] = sorted(years)
    if report["first"] is not None:
        rewind_anonymized(report["first"])     # old imported lines: the next IP pass looks at them
        if retain:
            keep_range(report["first"], report["last"])
    return report


def _store(source: Source, entries: list[dict], occurrences: Occurrences, server: str) -> int:
    """Entries in file order; numbered newest first like a fetch, stored oldest first."""
    occurrences.next_page()
    now = int(time.time())
    rows = [source.build(entry, occurrences.number(entry), now) for entry in reversed(entries)]
    return insert_rows(source, rows[::-1], server)
