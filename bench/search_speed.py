"""Search speed: p50/p95 of /api/messages?search=<word> at scale, one word per place a word
search looks (the indexed message columns, the refusal text, a remote server's reply, the
address before alias rewriting), and the negated and field forms.

    python bench/search_speed.py --messages 200000 --keep        generate, ingest, measure
    python bench/search_speed.py --data DIR                      measure again on DIR

The backlog, ingest and serving are bench/insights_speed.py's (a dead mailcow port, so
nothing writes meanwhile); a database of an older schema is migrated at start-up, and the
time that takes is printed. The words are read from the database, so a rerun after a
change times the same queries; the answer digests show whether they still answer the same.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from insights_speed import bench_main
from run import pick_samples


def _one(con, sql: str, fallback: str) -> str:
    row = con.execute(sql).fetchone()
    return row[0] if row and row[0] else fallback


def _words(db: Path) -> list[tuple[str, str]]:
    """(where the word is, the word)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # A word of a remote reply that no refusal and no subject has.
        reply = _one(con, "SELECT reply FROM recipient WHERE reply LIKE '%connect to %' LIMIT 1", "")
        host = reply.split("connect to ", 1)[-1].split("[", 1)[0] if reply else "unreachable"
        alias = _one(con, "SELECT orig_to FROM recipient WHERE orig_to IS NOT NULL LIMIT 1", "hello@example.net")
    finally:
        con.close()
    subject = pick_samples(db, 42)["word"]
    return [("subject", subject), ("refusal", "greylisted"), ("reply", host), ("orig_to", alias.split("@")[0] + "@"),
            ("phrase", '"User unknown"'), ("negated", f"-{subject}"), ("subject:", f"subject:{subject}")]


def _urls(db: Path) -> list[tuple[str, str, str]]:
    return [(f"search {place}", word[:9], f"/api/messages?search={quote(word)}") for place, word in _words(db)]


if __name__ == "__main__":
    sys.exit(bench_main(__doc__.split("\n\n")[0], _urls, prefix="mlv-search-"))
