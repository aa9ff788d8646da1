"""What the correlator made of a database, as sorted text without row ids: two ingests of the
same backlog (same seed and --now) give the same file exactly when they correlated alike.

    python bench/correlation_digest.py DB OUT.txt

Messages are named by their correlation key; legs by queue id and first time; lines and
rows by their unique key. Used by bench/ingest_speed.py --digest to check that a speed-up
changed nothing.
"""
from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

_MESSAGE_SKIP = {"id", "updated_at", "related_ref"}


def digest(db_path: Path | str, out_path: Path | str) -> dict:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        key_of = dict(con.execute("SELECT id, correlation_key FROM message"))
        key_of[None] = None
        out: list[str] = []
        columns = [c[1] for c in con.execute("PRAGMA table_info(message)") if c[1] not in _MESSAGE_SKIP]
        for row in con.execute(f"SELECT {', '.join(columns)}, related_ref FROM message"):
            out.append("message " + repr(row[:-1] + (key_of.get(row[-1]),)))
        rcols = [c[1] for c in con.execute("PRAGMA table_info(recipient)") if c[1] not in ("id", "message_ref")]
        for row in con.execute(f"SELECT message_ref, {', '.join(rcols)} FROM recipient"):
            out.append("recipient " + repr((key_of[row[0]],) + row[1:]))
        lcols = [c[1] for c in con.execute("PRAGMA table_info(leg)") if c[1] not in ("id", "message_ref")]
        for row in con.execute(f"SELECT message_ref, {', '.join(lcols)} FROM leg"):
            out.append("leg " + repr((key_of.get(row[0]),) + row[1:]))
        for table, key in (("postfix_line", "line_key"), ("rspamd_row", "row_key")):
            for row in con.execute(f"SELECT time, {key}, message_ref FROM {table} WHERE message_ref IS NOT NULL"):
                out.append(f"{table} " + repr(row[:2] + (key_of.get(row[2]),)))
        for row in con.execute("SELECT time, line_key, message_ref, linked_ref, recipient FROM dovecot_line "
                               "WHERE message_ref IS NOT NULL OR linked_ref IS NOT NULL"):
            out.append("dovecot_line " + repr(row[:2] + (key_of.get(row[2]), key_of.get(row[3]), row[4])))
        counts = {name: con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
                  for name in ("message", "recipient", "leg", "postfix_line", "rspamd_row", "dovecot_line")}
    finally:
        con.close()
    out.sort()
    text = "\n".join(out) + "\n"
    Path(out_path).write_text(text)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "counts": counts}


if __name__ == "__main__":
    print(digest(sys.argv[1], sys.argv[2]))
