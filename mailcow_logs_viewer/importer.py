"""`python run.py import FILE...`: Postfix and Dovecot syslog files through the same parsers and store."""
from __future__ import annotations

import gzip
import os
import time
from datetime import timezone
from pathlib import Path

from .log_rows import DOVECOT, POSTFIX, Occurrences, Source, insert_rows
from .parsing.syslog import is_postfix_program, parse_syslog_line

CHUNK_LINES = 50000


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def _source_of(program: str) -> Source | None:
    if is_postfix_program(program):
        return POSTFIX
    # Dovecot logs to syslog as `dovecot` (the process is in the message, as mailcow serves it).
    return DOVECOT if program == "dovecot" else None


def import_files(files: list[str], year: int | None = None, tz=timezone.utc) -> dict:
    report = {"lines": 0, "postfix": 0, "dovecot": 0, "stored": 0, "skipped": 0}
    for name in files:
        path = Path(name)
        file_year = year or time.gmtime(os.stat(path).st_mtime).tm_year
        entries: dict[str, list] = {POSTFIX.name: [], DOVECOT.name: []}
        occurrences = {POSTFIX.name: Occurrences(), DOVECOT.name: Occurrences()}
        with _open(path) as handle:
            for raw in handle:
                report["lines"] += 1
                line = parse_syslog_line(raw.rstrip("\n"), file_year, tz)
                if line is None:
                    report["skipped"] += 1
                    continue
                source = _source_of(line.program)
                if source is None:
                    continue
                batch = entries[source.name]
                batch.append({"time": str(line.time), "priority": line.priority, "program": line.program,
                              "message": line.message})
                if len(batch) >= CHUNK_LINES:
                    report["stored"] += _store(source, batch, occurrences[source.name])
                    report[source.name] += len(batch)
                    entries[source.name] = []
        for source in (POSTFIX, DOVECOT):
            report["stored"] += _store(source, entries[source.name], occurrences[source.name])
            report[source.name] += len(entries[source.name])
    return report


def _store(source: Source, entries: list[dict], occurrences: Occurrences) -> int:
    """Entries in file order; numbered newest first like a fetch, stored oldest first."""
    occurrences.next_page()
    now = int(time.time())
    rows = [source.build(entry, occurrences.number(entry), now) for entry in reversed(entries)]
    return insert_rows(source, rows[::-1])
