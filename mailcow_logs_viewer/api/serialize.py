"""Typed results (queries/) as JSON: a dataclass becomes an object of its fields, so each
answer's fields are written once, in the dataclass, in the order the answer has them. A field
holding ABSENT is left out; a field marked INLINE (a nested result) has its fields written in
its place."""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from functools import cache

from flask import jsonify

from ..queries.results import ABSENT


_SCALARS = frozenset((str, int, float, bool, type(None)))


@cache
def _fields(cls) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, bool(f.metadata.get("inline"))) for f in fields(cls))


def _object(value) -> dict:
    body = {}
    for name, inline in _fields(type(value)):
        item = getattr(value, name)
        if type(item) in _SCALARS:       # most fields: no call per field (a page has thousands)
            body[name] = item
        elif inline:
            body.update(_object(item))
        elif item is not ABSENT:
            body[name] = plain(item)
    return body


def plain(value):
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [plain(item) for item in value]
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if is_dataclass(value):
        return _object(value)
    return value


def answer(result, status: int = 200):
    return jsonify(plain(result)), status
