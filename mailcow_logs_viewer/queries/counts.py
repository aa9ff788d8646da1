"""Totals that do not grow with the data: hourly counters, cached table sizes, capped counts."""
from __future__ import annotations

from ..db import database
from ..vocabulary import HOURLY_METRICS
from .filters import select_where
from .scope import ADMIN, Scope

_ROW_SUMS = ("COUNT(*), SUM(is_spam), SUM(final_status = 'bounced'), SUM(final_status = 'rejected'), "
             "SUM(direction = 'inbound'), SUM(direction = 'outbound'), SUM(direction = 'internal')")
HOUR = 3600


def hourly_counts(start: int | None = None, end: int | None = None, scope: Scope = ADMIN) -> dict[str, int]:
    """Messages whose first time is within [start, end], by metric: whole hours from the
    trigger-kept hourly counters (per server), the parts of an hour at either edge counted
    exactly from the first_seen index. Cost grows with the hours in the range, not with the
    messages. Counts everyone's mail: `scope` narrows it to servers only."""
    low = -(-start // HOUR) if start is not None else None       # first whole hour inside
    high = (end + 1) // HOUR if end is not None else None        # first hour past the last whole one
    if low is not None and high is not None and low >= high:
        return _row_counts(start, end, scope)                    # no whole hour inside
    servers, values = scope.servers_sql("server")
    where = " AND ".join(["1"] + [c for c, v in (("hour >= ?", low), ("hour < ?", high)) if v is not None]) + servers
    sums = ", ".join(f"COALESCE(SUM({m}), 0)" for m in HOURLY_METRICS)
    row = database.execute_sql(f"SELECT {sums} FROM message_hour WHERE {where}",
                               [v for v in (low, high) if v is not None] + values).fetchone()
    counts = dict(zip(HOURLY_METRICS, row))
    for edge in ((start, low * HOUR - 1) if low is not None else None, (high * HOUR, end) if high is not None else None):
        if edge is not None:
            for metric, value in _row_counts(*edge, scope).items():
                counts[metric] += value
    return counts


def _row_counts(start: int | None, end: int | None, scope: Scope = ADMIN) -> dict[str, int]:
    servers, values = scope.servers_sql("server")
    where = " AND ".join(["1"] + [c for c, v in (("first_seen >= ?", start), ("first_seen <= ?", end)) if v is not None])
    row = database.execute_sql(f"SELECT {_ROW_SUMS} FROM message WHERE {where}{servers}",
                               [v for v in (start, end) if v is not None] + values).fetchone()
    return {metric: value or 0 for metric, value in zip(HOURLY_METRICS, row)}


def hourly_metric(args: dict) -> str | None:
    """The hourly counter that answers this filter's total, if one does: no filter, or only
    a date range with one direction or one status the counters track."""
    others = {k for k, v in args.items() if v not in (None, "") and k not in ("page", "limit", "start_date", "end_date", "server")}
    if not others:
        return "total"
    if others == {"direction"} and args["direction"] in HOURLY_METRICS:
        return args["direction"]
    if others == {"status"} and args["status"] in HOURLY_METRICS:
        return args["status"]
    return None


_counts: dict[tuple, tuple[tuple, int]] = {}


def row_count(model, scope: Scope = ADMIN) -> int:
    """COUNT(*) of a whole table (of the servers in `scope`), recounted only when its first
    or last id moved.

    Counting millions of lines on every page view grows with the data; rows are added at
    the end (new ids) and removed from the start (retention), so an unchanged MIN(id) and
    MAX(id) mean an unchanged count. (A blacklist purge, which deletes in the middle, is
    picked up by the next insert.)
    """
    table = model._meta.table_name
    # Two statements: SQLite answers a lone MIN or MAX of the rowid from the b-tree's edge,
    # but both in one SELECT make it scan the table.
    bounds = tuple(database.execute_sql(f"SELECT {edge}(id) FROM {table}").fetchone()[0] for edge in ("MIN", "MAX"))
    key = (table, scope.servers)
    cached = _counts.get(key)
    if cached is None or cached[0] != bounds:
        cached = (bounds, select_where(model, scope.servers_filter(model), model.id).count())
        _counts[key] = cached
    return cached[1]


def capped_count(query, cap: int | None) -> int:
    """COUNT(*) that stops at `cap`: a text search over millions of lines must not scan them all
    just to print a total (MAX_SEARCH_RESULTS)."""
    if cap is None:
        return query.count()
    return query.limit(cap).count()
