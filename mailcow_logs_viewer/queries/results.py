"""What every typed result shares: the API's way of writing a time, stored JSON read back, and
the marker of a field an answer leaves out."""
from __future__ import annotations

import json
from datetime import datetime, timezone


class _Absent:
    """A field this particular answer does not have (not null: not there at all)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
INLINE = {"inline": True}     # dataclass field metadata: this nested result's fields stand in its place


def iso(epoch: int | float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_json(text: str | None, default):
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def page_of(query, order, offset: int, limit: int, model):
    """Rows `offset`..`offset+limit` of `query` in `order`: the position is found on the ids
    alone (the time indexes cover them), so a deep page does not read every row before it.

    Two statements on purpose: with the ids as a subquery SQLite may walk the whole order
    index testing each row against it; a literal list of at most `limit` ids it looks up."""
    ids = [row[0] for row in query.clone().select(model.id).order_by(*order).offset(offset).limit(limit).tuples()]
    return query.where(model.id.in_(ids)).order_by(*order)
