"""`python run.py import FILE...`: Postfix syslog files through the same parser and store."""
from __future__ import annotations

import gzip
import os
import time
from datetime import timezone
from pathlib import Path

from .log_rows import POSTFIX, Occurrences, insert_rows, postfix_row
from .parsing.syslog import is_postfix_program, parse_syslog_line

CHUNK_LINES = 50000


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def import_files(files: list[str], year: int | None = None, tz=timezone.utc) -> dict:
    report = {"lines": 0, "postfix": 0, "stored": 0, "skipped": 0}
    for name in files:
        path = Path(name)
        file_year = year or time.gmtime(os.stat(path).st_mtime).tm_year
        entries = []
        occurrences = Occurrences()
        with _open(path) as handle:
            for raw in handle:
                report["lines"] += 1
                line = parse_syslog_line(raw.rstrip("\n"), file_year, tz)
                if line is None:
                    report["skipped"] += 1
                    continue
                if not is_postfix_program(line.program):
                    continue
                entries.append({"time": str(line.time), "priority": line.priority, "program": line.program,
                                "message": line.message})
                if len(entries) >= CHUNK_LINES:
                    report["stored"] += _store(entries, occurrences)
                    report["postfix"] += len(entries)
                    entries = []
        report["stored"] += _store(entries, occurrences)
        report["postfix"] += len(entries)
    return report


def _store(entries: list[dict], occurrences: Occurrences) -> int:
    """Entries in file order; numbered newest first like a fetch, stored oldest first."""
    occurrences.next_page()
    now = int(time.time())
    rows = [postfix_row(entry, occurrences.number(entry), now) for entry in reversed(entries)]
    return insert_rows(POSTFIX, rows[::-1])
