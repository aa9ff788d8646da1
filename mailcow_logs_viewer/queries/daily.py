"""The daily counters (daily_counts.py) as the API and the CSV export read them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from peewee import fn

from ..models import DailyCount
from .scope import Scope

DAY = 86400
_EPOCH = date(1970, 1, 1)


def day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


@dataclass
class DailyCountRow:
    date: str           # the UTC day of the messages' first line, YYYY-MM-DD
    domain: str         # the local party's domain ("" when the message had none)
    mailbox: str
    direction: str
    status: str
    messages: int
    server: str         # the mailcow server the messages entered at


@dataclass
class DayTotal:
    date: str
    messages: int


@dataclass
class DailyCounts:
    total: int
    by_day: list[DayTotal]
    rows: list[DailyCountRow]
    rows_truncated: bool      # more rows matched than `limit`; by_day and total count them all


def _filtered(scope: Scope, filters: dict):
    query = DailyCount.select()
    for condition in scope.line_filter(DailyCount):
        query = query.where(condition)
    if "start_date" in filters:
        query = query.where(DailyCount.day >= filters["start_date"] // DAY)
    if "end_date" in filters:
        query = query.where(DailyCount.day <= filters["end_date"] // DAY)
    for name in ("domain", "mailbox"):
        if filters.get(name):
            query = query.where(getattr(DailyCount, name) == filters[name].strip().lower())
    for name in ("direction", "status"):
        if filters.get(name):
            query = query.where(getattr(DailyCount, name) == filters[name])
    return query


def _row(count: DailyCount) -> DailyCountRow:
    return DailyCountRow(day_text(count.day), count.domain, count.mailbox, count.direction, count.status,
                         count.messages, count.server)


_ORDER = (DailyCount.day.desc(), DailyCount.domain, DailyCount.mailbox, DailyCount.direction, DailyCount.status,
          DailyCount.server)


def daily_counts(scope: Scope, filters: dict, limit: int) -> DailyCounts:
    query = _filtered(scope, filters)
    by_day = [DayTotal(day_text(day), messages) for day, messages in
              query.clone().select(DailyCount.day, fn.SUM(DailyCount.messages)).group_by(DailyCount.day)
              .order_by(DailyCount.day.desc()).tuples()]
    rows = [_row(c) for c in query.order_by(*_ORDER).limit(limit + 1)]
    return DailyCounts(sum(d.messages for d in by_day), by_day, rows[:limit], len(rows) > limit)


def daily_rows_for_export(scope: Scope, filters: dict, limit: int):
    for count in _filtered(scope, filters).order_by(*_ORDER).limit(limit).iterator():
        yield _row(count)
