"""The staging table a fetch fills as pages arrive (newest first) and empties into the log
table oldest first, in bounded transactions, once the fetch is complete (ingest.py)."""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from .db import database
from .log_rows import Source

log = logging.getLogger(__name__)

MOVE_BATCH = 5000       # rows moved from staging per transaction
# An entry without a usable time has no time in its identity; "already stored" is then
# looked for among unparsed rows this close to the time it was given (a neighbour's, which
# moves little between fetches). The look-up scans that stretch of the (time, key) index.
UNTIMED_WINDOW = 3600


class Staging:
    """A scratch copy of a log table without indexes: cheap to fill, emptied by `move`.

    It lives in a separate file attached to the writer's connection, without journal or
    syncs: its rows are disposable (a fetch starts by emptying it), so writing them twice
    through the WAL, as the main file would, buys nothing.
    """

    def __init__(self, source: Source, server: str):
        self.source = source
        self.server = server
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
        # A file per server: each server is fetched on its own thread and connection (runtime.py).
        return f"{database.database}-staging-{self.server}"

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
                # As plain tuples: sqlite3 binds an exact tuple faster than a NamedTuple.
                database.connection().executemany(self.source.insert_sql(self.table, "INSERT", server=False),
                                                  map(tuple, rows))

    def move(self) -> int:
        """Into the log table, oldest first (staged newest first), a batch per transaction."""
        connection = database.connection()
        columns = ", ".join(self.source.columns)
        key, table = self.source.columns[0], self.source.table
        # An unparsed row's time may be a neighbour's, which can differ from one fetch to the
        # next: its key (the raw text) decides whether it is stored already. A step of its
        # own, so that the move of the parsed rows stays one plain INSERT ... SELECT.
        connection.execute(f"DELETE FROM {self.table} AS s WHERE NOT s.parsed AND EXISTS (SELECT 1 FROM main.{table} "
                           f"AS m WHERE m.parsed = 0 AND m.{key} = s.{key} AND m.server = ? AND m.time BETWEEN "
                           f"s.time - {UNTIMED_WINDOW} AND s.time + {UNTIMED_WINDOW})", (self.server,))
        highest = connection.execute(f"SELECT MAX(rowid) FROM {self.table}").fetchone()[0] or 0
        stored = 0
        while highest > 0:
            lowest = max(1, highest - MOVE_BATCH + 1)
            with database.atomic("IMMEDIATE"):
                before = connection.total_changes
                connection.execute(f"INSERT OR IGNORE INTO main.{table} ({columns}, server) SELECT {columns}, ? "
                                   f"FROM {self.table} WHERE rowid BETWEEN ? AND ? ORDER BY rowid DESC",
                                   (self.server, lowest, highest))
                stored += connection.total_changes - before
            highest = lowest - 1
        connection.execute(f"DROP TABLE {self.table}")
        if connection.execute("PRAGMA staging.freelist_count").fetchone()[0] > 2560:
            connection.execute("VACUUM staging")   # give a big first import's 10+ MB back to the disk
        return stored
