"""Raw SQL over many ids at once, for the writer's passes that read whole backlogs: rows as
dicts straight from the cursor (Peewee's row wrapping would dominate), `?` lists, and id
lists cut to SQLite's bound-parameter limit."""
from __future__ import annotations

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
