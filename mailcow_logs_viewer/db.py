"""The deferred Peewee database, its pragmas, and schema versions with in-place migrations.

The schema version lives in SQLite's `user_version`. A new file gets the current schema in
one go; an older file is upgraded step by step by MIGRATIONS, each in its own transaction,
so an interrupted upgrade leaves the file at a consistent version.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from peewee import DatabaseError, InterfaceError, SqliteDatabase

# Python's sqlite3 binds only exact ints, floats and strings directly: for None and bool it first
# looks for an adapter, and finds none only after two failed attribute look-ups, each raising
# and clearing an exception. Rows with many empty columns (a Postfix line has 23, most of
# them NULL) spent more time there than in SQLite: binding the ingest bench's 267k lines
# took 4.8 CPU seconds, 2.9 with these (issue 17). They bind what sqlite3 would bind anyway.
sqlite3.register_adapter(type(None), lambda value: None)
sqlite3.register_adapter(bool, int)


class _Database(SqliteDatabase):
    def rollback(self):
        # On SQLITE_FULL (and I/O errors) at COMMIT, SQLite has already rolled the transaction
        # back; a second ROLLBACK fails with "no transaction is active" and that error would
        # replace the real one ("database or disk is full") in the job status and the log.
        if not self.is_closed() and not self.connection().in_transaction:
            return
        super().rollback()


# Thread-local connections: each waitress thread reads through its own connection while the
# scheduler thread writes; WAL lets them run side by side.
database = _Database(None)

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",      # durable at checkpoints; WAL keeps the file consistent on a crash
    # No column is declared a foreign key: the `*_ref` columns are plain integers that the
    # correlator rewrites while it rebuilds messages, and retention and the blacklist delete
    # lines and messages in separate bounded batches, so a declared constraint would fail
    # mid-pass. The pragma costs nothing while nothing is declared, and stays on so a key
    # declared later with its deletes is enforced.
    "foreign_keys": 1,
    "busy_timeout": 10000,        # ms a reader or the writer waits for a lock before giving up
    "cache_size": -8000,          # 8 MB page cache per connection (one per waitress thread)
    "temp_store": "memory",
    "wal_autocheckpoint": 2000,   # pages; keeps the WAL file bounded under steady ingest
}

# Version 2 indexed these; version 12 added the refusal text, and the recipients' remote reply
# and address before alias rewriting in an index of their own, so that a plain word search
# ("greylisted", "User unknown", a remote queue id) reads indexes, not every message.
_MESSAGE_FTS_V2 = ("sender", "recipients", "subject", "message_id", "queue_ids", "user", "ip")
MESSAGE_FTS_COLUMNS = (*_MESSAGE_FTS_V2, "reject_reason")
RECIPIENT_FTS_COLUMNS = ("orig_to", "reply")
SEARCH_INDEXES = ("message_fts", "recipient_fts")

# The trigram tokenizer makes MATCH a substring search (>= 3 characters), which keeps the
# spec's "search in sender, recipient, ..." semantics while using an index instead of LIKE '%x%'.
_FTS_SQL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS {table}_fts USING fts5({cols}, content='{table}', content_rowid='id', "
    "tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER IF NOT EXISTS {table}_fts_insert AFTER INSERT ON {table} BEGIN "
    "INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.id, {new}); END",
    "CREATE TRIGGER IF NOT EXISTS {table}_fts_delete AFTER DELETE ON {table} BEGIN "
    "INSERT INTO {table}_fts({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
    # Recomputing a row rewrites all its columns; the index changes only when the text did.
    "CREATE TRIGGER IF NOT EXISTS {table}_fts_update AFTER UPDATE OF {cols} ON {table} WHEN {changed} BEGIN "
    "INSERT INTO {table}_fts({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old}); "
    "INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.id, {new}); END",
]


def _fts_statements(table: str = "message", columns: tuple[str, ...] = MESSAGE_FTS_COLUMNS) -> list[str]:
    """The external-content index `<table>_fts` over `columns`, and the triggers that keep it."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    return [sql.format(table=table, cols=cols, new=new, old=old, changed=changed) for sql in _FTS_SQL]


def _search_index_statements() -> list[str]:
    return _fts_statements() + _fts_statements("recipient", RECIPIENT_FTS_COLUMNS)


def _migration_2_message_search(db: SqliteDatabase) -> None:
    """Version 2: a trigram full-text index over messages, filled from existing rows."""
    for statement in _fts_statements(columns=_MESSAGE_FTS_V2):
        db.execute_sql(statement)
    db.execute_sql("INSERT INTO message_fts(message_fts) VALUES ('rebuild')")


# Messages per hour of their first time, kept by triggers so that every path that writes
# messages (correlation, retention, the blacklist) keeps them exact. The dashboard and the
# timeline sum at most 720 of these rows instead of counting up to millions of messages.
_HOURLY_COLUMNS = {"total": "1", "spam": "{m}.is_spam", "bounced": "{m}.final_status = 'bounced'",
                   "rejected": "{m}.final_status = 'rejected'", "inbound": "{m}.direction = 'inbound'",
                   "outbound": "{m}.direction = 'outbound'", "internal": "{m}.direction = 'internal'"}


def _hourly_statements(per_server: bool = True) -> list[str]:
    """The table and its triggers; per server since version 10 (`server=` on the dashboard),
    per hour alone before (migration 3 keeps its own form)."""
    names = ", ".join(_HOURLY_COLUMNS)
    key, key_values = ("hour, server", "{m}.first_seen / 3600, {m}.server") if per_server else \
        ("hour", "{m}.first_seen / 3600")

    def add(m: str) -> str:
        values = ", ".join(expr.format(m=m) for expr in _HOURLY_COLUMNS.values())
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in _HOURLY_COLUMNS)
        return (f"INSERT INTO message_hour ({key}, {names}) VALUES ({key_values.format(m=m)}, {values}) "
                f"ON CONFLICT({key}) DO UPDATE SET {updates};")

    def remove(m: str) -> str:
        updates = ", ".join(f"{c} = {c} - ({expr.format(m=m)})" for c, expr in _HOURLY_COLUMNS.items())
        where = f"hour = {m}.first_seen / 3600" + (f" AND server = {m}.server" if per_server else "")
        return f"UPDATE message_hour SET {updates} WHERE {where};"

    watched = ("first_seen", "is_spam", "final_status", "direction") + (("server",) if per_server else ())
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in watched)
    columns = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _HOURLY_COLUMNS)
    return [
        ("CREATE TABLE IF NOT EXISTS message_hour (hour INTEGER NOT NULL, server VARCHAR(255) NOT NULL, "
         f"{columns}, PRIMARY KEY (hour, server))") if per_server else
        f"CREATE TABLE IF NOT EXISTS message_hour (hour INTEGER PRIMARY KEY, {columns})",
        f"CREATE TRIGGER IF NOT EXISTS message_hour_insert AFTER INSERT ON message BEGIN {add('new')} END",
        f"CREATE TRIGGER IF NOT EXISTS message_hour_delete AFTER DELETE ON message BEGIN {remove('old')} END",
        f"CREATE TRIGGER IF NOT EXISTS message_hour_update AFTER UPDATE OF {', '.join(watched)} ON message "
        f"WHEN {changed} BEGIN {remove('old')} {add('new')} END",
    ]


def _migration_3_hourly_counts(db: SqliteDatabase) -> None:
    """Version 3: per-hour message counts, filled from existing rows."""
    for statement in _hourly_statements(per_server=False):
        db.execute_sql(statement)
    sums = ", ".join(f"SUM({expr.format(m='message')})" for expr in _HOURLY_COLUMNS.values())
    db.execute_sql(f"INSERT INTO message_hour (hour, {', '.join(_HOURLY_COLUMNS)}) "
                   f"SELECT first_seen / 3600, {sums} FROM message GROUP BY first_seen / 3600")


def _migration_4_alerts(db: SqliteDatabase) -> None:
    """Version 4: alerts and their notification outbox (alerts/)."""
    from .models import ALERT_TABLES
    db.create_tables(ALERT_TABLES)


def _migration_5_mailbox_stage(db: SqliteDatabase) -> None:
    """Version 5: the Dovecot log, and each recipient's mailbox step (issue 18)."""
    from .models import DovecotLine, Recipient

    db.create_tables([DovecotLine])
    for table, column in (("message", "related_kind VARCHAR(255)"), ("recipient", "folder VARCHAR(255)"),
                          ("recipient", "redirected_to TEXT"), ("recipient", "auto_reply TEXT"),
                          ("recipient", "reason TEXT")):
        if column.split()[0] not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
    Recipient._schema.create_indexes(safe=True)     # the new ones; existing ones are kept


def _migration_6_message_order(db: SqliteDatabase) -> None:
    """Version 6: an index in the messages list's order, so a deep page skips index entries
    instead of sorting every message before it."""
    db.execute_sql('CREATE INDEX IF NOT EXISTS "message_first_seen" ON "message" ("first_seen")')


def _migration_7_delivery_delays(db: SqliteDatabase) -> None:
    """Version 7: the delivered recipients' delays by message (insights), a partial index."""
    from .models import Recipient
    Recipient._schema.create_indexes(safe=True)


def _migration_8_audit_log(db: SqliteDatabase) -> None:
    """Version 8: the audit log of sign-ins and exports (audit.py)."""
    from .models import AuditEvent
    db.create_tables([AuditEvent])


def _migration_9_tiers(db: SqliteDatabase) -> None:
    """Version 9: the longer memory in tiers (issue 15): messages outlive their raw lines,
    daily counters outlive the messages. Existing messages are counted from what they are now,
    by migration 10 (the counters' key has a server since then, which messages get there)."""
    from .models import DailyCount, Message

    for column in ("raw_lines_removed INTEGER NOT NULL DEFAULT 0", "spam_action VARCHAR(255)", "spam_symbols TEXT",
                   "counted INTEGER NOT NULL DEFAULT 0"):
        if column.split()[0] not in {c.name for c in db.get_columns("message")}:
            db.execute_sql(f"ALTER TABLE message ADD COLUMN {column}")
    db.create_tables([DailyCount])
    Message._schema.create_indexes(safe=True)     # message_with_raw_lines; existing ones are kept


def _rebuild(db: SqliteDatabase, model, copy_sql: str, params: tuple) -> None:
    """A table whose key changes: SQLite cannot alter a primary key, so a new table is made from
    the model and filled from the old one."""
    table = model._meta.table_name
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_old"')
    db.create_tables([model])
    db.execute_sql(copy_sql.format(new=table, old=f"{table}_old"), params)
    db.execute_sql(f'DROP TABLE "{table}_old"')


def _migration_10_servers(db: SqliteDatabase, server_name: str) -> None:
    """Version 10: several mailcow servers (issue 15). Every existing line, row, message, leg and
    gap was the one server's: a `server` column with that name as its constant DEFAULT (O(1) in
    SQLite: old rows are not rewritten). The log tables' unique key gains the server (an index
    rebuild); import_state and daily_count, keyed by it, are rebuilt."""
    from .daily_counts import count_uncounted
    from .models import LOG_TABLES, DailyCount, Gap, ImportState, Leg, Message

    quoted = server_name.replace("'", "''")
    for model in (*LOG_TABLES, Message, Leg, Gap):
        table = model._meta.table_name
        if "server" not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f"ALTER TABLE \"{table}\" ADD COLUMN server VARCHAR(255) NOT NULL DEFAULT '{quoted}'")
    for model in LOG_TABLES:
        key = "row_key" if model._meta.table_name == "rspamd_row" else "line_key"
        db.execute_sql(f'DROP INDEX IF EXISTS "{model._meta.table_name}_time_{key}"')
    for model in (*LOG_TABLES, Message):
        model._schema.create_indexes(safe=True)
    _rebuild(db, ImportState, "INSERT INTO {new} (server, source, last_import, last_fetch_run, last_error, unparsed, "
             "fetched, stored) SELECT ?, source, last_import, last_fetch_run, last_error, unparsed, fetched, stored "
             "FROM {old}", (server_name,))
    _rebuild(db, DailyCount, "INSERT INTO {new} (day, server, domain, mailbox, direction, status, messages) "
             "SELECT day, ?, domain, mailbox, direction, status, messages FROM {old}", (server_name,))
    count_uncounted()     # a file from before version 9: its messages start the counters
    # The hourly counters, per server: rebuilt from the messages (a few rows an hour).
    for name in ("insert", "delete", "update"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS message_hour_{name}")
    db.execute_sql("DROP TABLE IF EXISTS message_hour")
    for statement in _hourly_statements():
        db.execute_sql(statement)
    sums = ", ".join(f"SUM({expr.format(m='message')})" for expr in _HOURLY_COLUMNS.values())
    db.execute_sql(f"INSERT INTO message_hour (hour, server, {', '.join(_HOURLY_COLUMNS)}) "
                   f"SELECT first_seen / 3600, server, {sums} FROM message GROUP BY first_seen / 3600, server")
    # The domains mailcow named so far were the one server's (domains.py keeps them per server).
    db.execute_sql("INSERT OR REPLACE INTO state (key, value) SELECT 'local_domains:' || ?, json_group_object(domain, kind) "
                   "FROM local_domain WHERE kind != 'configured' HAVING count(*) > 0", (server_name,))
    # Per-server state kept under keys: what fetching cost, the queues the blacklist hides.
    for prefix in ("fetch_traffic:", "blacklist_hidden_queues"):
        db.execute_sql("UPDATE state SET key = ? || ':' || ? || substr(key, ?) WHERE key LIKE ?",
                       (prefix.rstrip(":"), server_name, len(prefix.rstrip(":")) + 1, prefix.rstrip(":") + "%"))


def _migration_11_cycle_indexes(db: SqliteDatabase) -> None:
    """Version 11: partial indexes of the messages without a Postfix line and of the NOQUEUE
    refusals (models.py), so the correlator's per-cycle look-ups at them stop reading every
    message and hours of lines. Building them reads each table once (seconds at millions of lines)."""
    from .models import Message, PostfixLine
    Message._schema.create_indexes(safe=True)
    PostfixLine._schema.create_indexes(safe=True)


def _migration_12_search_beyond_messages(db: SqliteDatabase) -> None:
    """Version 12: the refusal text in the messages' index, and an index of the recipients'
    remote replies and addresses before alias rewriting (see MESSAGE_FTS_COLUMNS). An FTS5
    table cannot gain a column: the messages' index is made anew; both are filled from the
    rows (24 s at 200k messages)."""
    for name in ("insert", "delete", "update"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS message_fts_{name}")
    db.execute_sql("DROP TABLE IF EXISTS message_fts")
    for statement in _search_index_statements():
        db.execute_sql(statement)
    for index in SEARCH_INDEXES:
        db.execute_sql(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


def _migration_13_permanent_refusals(db: SqliteDatabase) -> None:
    """Version 13: the partial index of recipients with a permanent status code (models.py),
    which the dashboard's permanent/temporary split of refusals reads."""
    from .models import Recipient
    Recipient._schema.create_indexes(safe=True)


# MIGRATIONS[n] upgrades a file from version n+1 to n+2. Version 1 is the first release's schema.
MIGRATIONS = [_migration_2_message_search, _migration_3_hourly_counts, _migration_4_alerts, _migration_5_mailbox_stage,
              _migration_6_message_order, _migration_7_delivery_delays, _migration_8_audit_log, _migration_9_tiers,
              _migration_10_servers, _migration_11_cycle_indexes, _migration_12_search_beyond_messages,
              _migration_13_permanent_refusals]
# Migrations that need to know which server an existing single-server file's rows came from.
_NEEDS_SERVER_NAME = {_migration_10_servers}
SCHEMA_VERSION = len(MIGRATIONS) + 1


class StorageError(RuntimeError):
    """The database file cannot be used (not a database, corrupt, or unreadable)."""


def _check_is_database(path: Path) -> None:
    """Refuse a file that is not SQLite before Peewee (or WAL mode) touches it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(16)
    if header != b"SQLite format 3\x00":
        raise StorageError(f"{path} is not a SQLite database; it was left untouched. Move it away or set DATA_DIR.")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA quick_check").fetchone()
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StorageError(f"{path} is corrupt ({error}); it was left untouched.") from None
    if not result or result[0] != "ok":
        raise StorageError(f"{path} is corrupt ({result[0] if result else 'no answer'}); it was left untouched.")
    if version > SCHEMA_VERSION:
        # Refuse before WAL mode or a migration touches a file a newer release wrote.
        raise StorageError(f"{path} is from a newer release (schema {version}, this release knows "
                           f"{SCHEMA_VERSION}); it was left untouched.")


def begin_reading() -> None:
    """The connection of a request thread refuses writes (PRAGMA query_only) while it serves a
    request: only the writer thread writes log data, messages and counters. A database that
    cannot be opened is left to the view, which reports it (the health checks answer 503)."""
    _set_query_only(1)


def end_reading(_error=None) -> None:
    # The same thread may write after the request (tests drive ingest and requests from one thread).
    _set_query_only(0)


def _set_query_only(value: int) -> None:
    if database.database is None:
        return
    try:
        database.execute_sql(f"PRAGMA query_only = {value}")
    except (DatabaseError, InterfaceError):
        pass


def open_database(path: Path | str, server_name: str | None = None) -> SqliteDatabase:
    """Bind the deferred database to `path` and bring its schema to SCHEMA_VERSION.
    `server_name` (settings.server_name) is the server an older single-server file's rows
    belong to; only a file from before several servers needs it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_is_database(path)
    if not database.is_closed():
        database.close()
    database.init(str(path), pragmas=PRAGMAS, check_same_thread=False)
    try:
        migrate(database, server_name)
    except DatabaseError as error:
        database.close()
        raise StorageError(f"{path} could not be opened: {error}") from None
    return database


def migrate(db: SqliteDatabase, server_name: str | None = None) -> int:
    """Create or upgrade the schema; returns the version the file had before."""
    from .models import ALL_TABLES

    version = db.execute_sql("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StorageError(f"the database is from a newer release (schema {version}, this release knows {SCHEMA_VERSION})")
    if version == 0 and not db.get_tables():
        with db.atomic("IMMEDIATE"):
            db.create_tables(ALL_TABLES)
            for statement in _search_index_statements() + _hourly_statements():
                db.execute_sql(statement)
            db.execute_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return 0
    for step in range(max(version, 1), SCHEMA_VERSION):
        migration = MIGRATIONS[step - 1]
        if migration in _NEEDS_SERVER_NAME and not server_name:
            raise StorageError("the database is from before several servers: the server its rows came from "
                               "must be named (open_database(..., server_name=settings.server_name))")
        with db.atomic("IMMEDIATE"):
            if migration in _NEEDS_SERVER_NAME:
                migration(db, server_name)
            else:
                migration(db)
            db.execute_sql(f"PRAGMA user_version = {step + 1}")
    return version
