"""Raw SQL over many ids at once, for the writer's passes that read whole backlogs: rows as
dicts straight from the cursor (Peewee's row wrapping would dominate), `?` lists, id lists
cut to SQLite's bound-parameter limit, and many rows written by one statement."""
from __future__ import annotations

from collections.abc import Sequence

from .db import database

MAX_PARAMS = 900            # below SQLite's 999 bound parameters of older builds


def dicts(sql: str, params) -> list[dict]:
    cursor = database.execute_sql(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def marks(values) -> str:
    return ", ".join("?" * len(values))


def chunks(values: list, size: int = MAX_PARAMS):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def through_temp(table: str, columns: Sequence[str], rows, statement: str, params: Sequence = ()) -> None:
    """Runs `statement` (with `params`), which reads `temp.<table>` (`columns`: their
    definitions), once over all `rows` instead of once a row.

    Why: the message and recipient tables keep their search indexes with triggers, and a
    statement that fires a trigger opens a savepoint, at which FTS5 (SQLite 3.40) writes its
    pending terms to disk. One statement a row wrote one tiny index segment a row, to be merged
    again later: 360 us a message where one statement over a batch takes about 60 (issue 17).
    The temporary table lives in memory (PRAGMA temp_store) on the writer's connection.
    """
    conn = database.connection()
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({', '.join(columns)})")
    conn.execute(f"DELETE FROM temp.{table}")
    conn.executemany(f"INSERT INTO temp.{table} VALUES ({marks(columns)})", rows)
    conn.execute(statement, params)
    conn.execute(f"DELETE FROM temp.{table}")
