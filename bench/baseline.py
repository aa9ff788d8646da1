"""The floor the ingest is compared with: plain sqlite3 `executemany` of the same Postfix lines.

The same lines, fetched from the same simulated mailcow over HTTP in pages of `page` entries
and decoded from JSON, go into a fresh SQLite file (WAL, synchronous=NORMAL, as the app's) as
(time, priority, program, message) rows, one `executemany` per page in one transaction each,
no parsing, no index, no correlation. Lines per second of that, end to end and insert only.
"""
from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import requests


def plain_executemany(url: str, lines: int, page: int = 20000, api_key: str = "SIM-API-KEY") -> dict:
    session = requests.Session()
    session.headers["X-API-Key"] = api_key
    with tempfile.TemporaryDirectory() as directory:
        connection = sqlite3.connect(str(Path(directory) / "plain.db"))
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("CREATE TABLE line (time INTEGER, priority TEXT, program TEXT, message TEXT)")
        started = time.perf_counter()
        inserting = 0.0
        stored = 0
        for first in range(1, lines + 1, page):
            entries = session.get(f"{url}/api/v1/get/logs/postfix/{first}-{first + page - 1}", timeout=120).json()
            if not isinstance(entries, list):
                break
            rows = [(int(e["time"]), e["priority"], e["program"], e["message"]) for e in entries if e]
            t0 = time.perf_counter()
            with connection:
                connection.executemany("INSERT INTO line VALUES (?, ?, ?, ?)", rows)
            inserting += time.perf_counter() - t0
            stored += len(rows)
        total = time.perf_counter() - started
        connection.close()
    session.close()
    return {"lines": stored, "seconds": round(total, 2), "lines_per_s": round(stored / total),
            "insert_seconds": round(inserting, 2), "insert_lines_per_s": round(stored / max(inserting, 1e-9))}
