"""The database file: pragmas, schema version, the v1 -> v2 migration over existing rows, and
refusing files that are not (or not yet) ours without touching them."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailcow_logs_viewer.config import ENV_VARIABLES
from mailcow_logs_viewer.db import SCHEMA_VERSION, StorageError, database, open_database
from mailcow_logs_viewer.models import ALL_TABLES, Message

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_database():
    yield
    if not database.is_closed():
        database.close()


def pragma(name: str):
    return database.execute_sql(f"PRAGMA {name}").fetchone()[0]


def fts_ids(text: str) -> set[int]:
    rows = database.execute_sql("SELECT rowid FROM message_fts WHERE message_fts MATCH ?",
                                ('"' + text.replace('"', '""') + '"',)).fetchall()
    return {row[0] for row in rows}


def add_message(key: str, sender: str, subject: str, recipients: str = "bob@example.org") -> Message:
    now = int(time.time())
    return Message.create(correlation_key=key, server="mx", sender=sender, subject=subject, recipients=recipients,
                          queue_ids="ABC123", first_seen=now, last_seen=now, updated_at=now)


def test_new_file_pragmas_and_version(tmp_path):
    path = tmp_path / "sub" / "new.db"
    open_database(path)
    assert path.exists()
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 1
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") >= 1000
    assert pragma("user_version") == SCHEMA_VERSION
    tables = set(database.get_tables())
    assert {m._meta.table_name for m in ALL_TABLES} <= tables
    assert "message_fts" in tables
    database.close()
    # WAL is a property of the file: a plain connection sees it too
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert plain.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reopen_current_file_keeps_rows(tmp_path):
    path = tmp_path / "data.db"
    open_database(path)
    add_message("k1", "alice@example.com", "hello")
    database.close()
    open_database(path)
    assert Message.select().count() == 1
    assert pragma("user_version") == SCHEMA_VERSION


def test_fts_follows_inserts_updates_deletes(tmp_path):
    open_database(tmp_path / "data.db")
    m = add_message("k1", "alice@example.com", "Quarterly invoice")
    assert fts_ids("invoice") == {m.id}
    m.subject = "Weekly report"
    m.save()
    assert fts_ids("invoice") == set()
    assert fts_ids("weekly") == {m.id}      # trigram, case-insensitive substring
    m.delete_instance()
    assert fts_ids("weekly") == set()


def _build_version_1(path: Path) -> None:
    database.init(str(path))
    database.connect()
    database.create_tables(ALL_TABLES)
    database.execute_sql("PRAGMA user_version = 1")
    add_message("key-a", "alice@example.com", "Invoice 2024-07")
    add_message("key-b", "carol@other.net", "Meeting notes", recipients="dave@example.org")
    database.close()


def test_migration_from_version_1(tmp_path):
    path = tmp_path / "old.db"
    _build_version_1(path)
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA user_version").fetchone()[0] == 1
        assert not plain.execute("SELECT name FROM sqlite_master WHERE name='message_fts'").fetchall()

    open_database(path, server_name="mx")
    assert pragma("user_version") == SCHEMA_VERSION
    assert sorted(m.correlation_key for m in Message.select()) == ["key-a", "key-b"]
    a = Message.get(Message.correlation_key == "key-a")
    b = Message.get(Message.correlation_key == "key-b")
    # the index was built from the rows that were already there
    assert fts_ids("invoice") == {a.id}
    assert fts_ids("carol@other") == {b.id}
    assert fts_ids("dave@") == {b.id}
    # ...and the triggers keep it up to date from now on
    c = add_message("key-c", "erin@example.com", "Invoice reminder")
    assert fts_ids("invoice") == {a.id, c.id}
    database.close()

    # opening again is a no-op, not a second migration
    open_database(path)
    assert pragma("user_version") == SCHEMA_VERSION
    assert fts_ids("invoice") == {a.id, c.id}


def test_migration_is_seen_by_the_api_search(tmp_path, make_settings):
    from mailcow_logs_viewer import create_app

    settings = make_settings()
    settings.database_path.parent.mkdir(parents=True)
    _build_version_1(settings.database_path)
    client = create_app(settings).test_client()
    response = client.get("/api/messages?search=invoice")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["total"] == 1
    assert body["data"][0]["sender"] == "alice@example.com"


def test_not_a_database_is_refused_untouched(tmp_path):
    path = tmp_path / "mailcow-logs.db"
    content = os.urandom(8192)
    path.write_bytes(content)
    with pytest.raises(StorageError) as caught:
        open_database(path)
    message = str(caught.value)
    assert str(path) in message and "not a SQLite database" in message
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


def test_corrupt_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "corrupt.db"
    open_database(path)
    add_message("k1", "alice@example.com", "hello")
    database.close()
    data = bytearray(path.read_bytes())
    # keep the header, wreck the rest of the first page and the pages after it
    data[100:] = os.urandom(len(data) - 100)
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageError) as caught:
        open_database(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == bytes(data)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as plain:
        plain.execute("CREATE TABLE something (x)")
        plain.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    content = path.read_bytes()
    with pytest.raises(StorageError) as caught:
        open_database(path)
    assert "newer" in str(caught.value) and str(path) in str(caught.value)
    # refused before anything (WAL mode, a migration) touched it
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert [r[0] for r in plain.execute("SELECT name FROM sqlite_master")] == ["something"]


def test_cli_fetch_on_a_non_database_exits_2_with_one_line(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    content = os.urandom(4096)
    (data_dir / "mailcow-logs.db").write_bytes(content)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    env.update(MAILCOW_URL="http://127.0.0.1:9", MAILCOW_API_KEY="TEST-KEY", DATA_DIR=str(data_dir))
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "fetch"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "not a SQLite database" in lines[0]
    assert "Traceback" not in result.stderr
    assert (data_dir / "mailcow-logs.db").read_bytes() == content


# ---------------------------------------------------------------- several servers (migration 10)

OLD_SCHEMA = Path(__file__).parent / "schemas" / "version_9.sql"


def _build_version_9(path: Path) -> None:
    """A single-server file as the release before several servers wrote it, with a row in every
    table that gains a server."""
    with sqlite3.connect(path) as plain:
        plain.executescript(OLD_SCHEMA.read_text())
        plain.executescript("""
            INSERT INTO postfix_line (line_key, time, program, priority, message, parsed, kind, queue_id)
                VALUES (7, 1000, 'postfix/qmgr', 'info', 'ABC1: removed', 1, 'removed', 'ABC1');
            INSERT INTO rspamd_row (row_key, time, parsed, is_spam, has_auth, direction) VALUES (8, 1000, 1, 0, 0, 'inbound');
            INSERT INTO netfilter_line (line_key, time, priority, message, parsed, auth_failure)
                VALUES (9, 1000, 'warn', 'Banning 192.0.2.1', 1, 0);
            INSERT INTO dovecot_line (line_key, time, priority, message, parsed) VALUES (10, 1000, 'info', 'x', 1);
            INSERT INTO message (correlation_key, queue_ids, recipients, recipient_count, direction, final_status,
                is_complete, is_spam, has_postfix, has_rspamd, expired_unlinked, first_seen, last_seen, updated_at,
                raw_lines_removed, counted, sender)
                VALUES ('k', 'ABC1', 'bob@example.org', 0, 'inbound', 'delivered', 1, 0, 1, 0, 0, 1000, 1000, 1000, 0, 1,
                        'alice@example.net');
            INSERT INTO leg (queue_id, message_ref, role, removed, first_time, last_time)
                VALUES ('ABC1', 1, 'primary', 1, 1000, 1000);
            INSERT INTO gap (source, start_time, end_time, estimated_missed, detected_at) VALUES ('postfix', 1, 2, 3, 4);
            INSERT INTO import_state (source, last_import, unparsed, fetched, stored) VALUES ('postfix', 1000, 1, 5, 4);
            INSERT INTO daily_count (day, domain, mailbox, direction, status, messages)
                VALUES (0, 'example.org', 'bob@example.org', 'inbound', 'delivered', 1);
            INSERT INTO state (key, value) VALUES ('fetch_traffic:postfix', '{"bytes": 1234, "requests": 2}');
            INSERT INTO state (key, value) VALUES ('blacklist_hidden_queues', '{}');
        """)


def _condition(plain, index: str) -> str:
    """A partial index's WHERE, as written."""
    sql = plain.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)).fetchone()[0]
    return " ".join(sql.split(" WHERE ", 1)[1].split())


def _schema(path: Path) -> dict:
    """Columns (but their DEFAULT: a migrated column keeps the old server's name as its default),
    indexes with a partial index's condition, and triggers with their statements."""
    with sqlite3.connect(path) as plain:
        tables = [r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        schema = {}
        for table in tables:
            columns = [(c[1], c[2], c[3], c[5]) for c in plain.execute(f'PRAGMA table_info("{table}")')]
            indexes = sorted((i[2], i[3], i[4], tuple(c[2] for c in plain.execute(f'PRAGMA index_info("{i[1]}")')),
                              _condition(plain, i[1]) if i[4] else None)
                             for i in plain.execute(f'PRAGMA index_list("{table}")'))
            schema[table] = (columns, indexes)
        schema["triggers"] = sorted((name, " ".join(sql.split())) for name, sql in plain.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        schema["without rowid"] = sorted(r[0] for r in plain.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%'"))
    return schema


def test_a_single_server_file_migrates_in_place_and_its_rows_belong_to_server_name(tmp_path):
    from mailcow_logs_viewer.log_rows import POSTFIX, insert_rows, postfix_row
    from mailcow_logs_viewer.models import DailyCount, Gap, ImportState
    from mailcow_logs_viewer.traffic import Traffic

    path = tmp_path / "old.db"
    _build_version_9(path)
    with pytest.raises(StorageError, match="server"):
        open_database(path)                  # which server the rows came from must be said
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA user_version").fetchone()[0] == 9      # left as it was
    open_database(path, server_name="mx-old")
    assert pragma("user_version") == SCHEMA_VERSION
    for table in ("postfix_line", "rspamd_row", "netfilter_line", "dovecot_line", "message", "leg", "gap",
                  "import_state", "daily_count"):
        assert database.execute_sql(f"SELECT DISTINCT server FROM {table}").fetchall() == [("mx-old",)], table
    state = ImportState.get(server="mx-old", source="postfix")
    assert (state.fetched, state.stored, state.unparsed, state.last_import) == (5, 4, 1, 1000)
    assert [(c.server, c.mailbox, c.messages) for c in DailyCount.select()] == [("mx-old", "bob@example.org", 1)]
    assert Gap.get().server == "mx-old"
    assert Traffic("mx-old", "postfix").bytes_total == 1234
    assert database.execute_sql("SELECT key FROM state ORDER BY key").fetchall() == [
        ("blacklist_hidden_queues:mx-old",), ("fetch_traffic:mx-old:postfix",)]
    # The same line at the same second from another server is another line; from the same, a duplicate.
    entry = {"time": "1000", "priority": "info", "program": "postfix/qmgr", "message": "ABC1: removed"}
    same = postfix_row(entry, 0, None)
    database.execute_sql("UPDATE postfix_line SET line_key = ?", (same.line_key,))
    assert insert_rows(POSTFIX, [same], "mx-old") == 0
    assert insert_rows(POSTFIX, [same], "mx2") == 1
    database.close()

    fresh = tmp_path / "new.db"
    open_database(fresh)
    database.close()
    assert _schema(path) == _schema(fresh)


def test_a_file_from_before_the_reply_index_finds_refusals_replies_and_alias_addresses(make_settings):
    """Version 12 made the refusal text, the remote replies and the address before alias
    rewriting searchable through indexes: a file from before finds them after migrating."""
    from mailcow_logs_viewer import create_app

    settings = make_settings()
    settings.database_path.parent.mkdir(parents=True)
    _build_version_9(settings.database_path)
    with sqlite3.connect(settings.database_path) as plain:
        plain.executescript("""
            INSERT INTO message (correlation_key, queue_ids, recipients, recipient_count, direction, final_status,
                is_complete, is_spam, has_postfix, has_rspamd, expired_unlinked, first_seen, last_seen, updated_at,
                raw_lines_removed, counted, sender, reject_reason)
                VALUES ('refused', '', 'carol@example.org', 1, 'inbound', 'rejected', 1, 0, 1, 0, 0, 1001, 1001, 1001,
                        0, 1, 'spam@bulk.test', '<carol@example.org>: Recipient address rejected: Greylisted');
            INSERT INTO recipient (message_ref, recipient, orig_to, status, dsn, reply, attempts)
                VALUES (1, 'bob@example.org', 'sales@example.org', 'bounced', '5.1.1',
                        'host mx.remote.test[198.51.100.7] said: 550 5.1.1 User unknown', 1);
        """)
    client = create_app(settings).test_client()
    for word, key in (("greylisted", "refused"), ('"user unknown"', "k"), ("sales@", "k"), ("198.51.100", "k")):
        body = client.get("/api/messages", query_string={"search": word}).get_json()
        assert [m["correlation_key"] for m in body["data"]] == [key], word
