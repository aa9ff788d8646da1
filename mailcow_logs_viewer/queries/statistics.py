"""Dashboard counters, the hourly timeline, top spam symbols, top blocked IPs, latest messages.

Definitions (also in the README, so numbers can be checked by hand):
- messages: messages by their own first time, in rolling windows ending now, or at `end`
  (every stats endpoint takes it: imported history can be looked at where it lies);
- spam: messages Rspamd judged spam (reject, add header, rewrite subject);
- failed deliveries: messages whose status is bounced (a bounce or an expiry); rejected ones
  are counted apart under `rejected`, split into permanent (a 5xx for some recipient) and
  temporary (4xx only: greylisting never retried, a lone 4xx NOQUEUE refusal);
- discarded: messages with a recipient a Sieve rule discarded (the mailbox stage), apart
  from deliveries;
- auth failures: netfilter `matched rule id` lines whose trigger is a failed login (SASL,
  Dovecot, mailcow UI/API, SOGo), each attempt once (`auth_failure_count`, the one rule the
  dashboard, the security page, the digest and the alert rules share).
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from ..db import database
from ..models import Message, NetfilterLine
from .counts import hourly_counts
from .filters import select_where
from .messages import NEWEST_FIRST, recipients_of
from .results import iso
from .scope import Scope

HOUR, DAY = 3600, 86400


@dataclass
class Dashboard:
    messages: dict
    discarded: dict
    spam: dict
    failed_deliveries: dict
    rejected: dict
    auth_failures: dict
    direction: dict
    window_end: str
    data_range: dict


@dataclass
class TimelineBucket:
    hour: str
    total: int
    spam: int
    clean: int
    failed: int
    rejected: int


@dataclass
class Trigger:
    symbol: str
    count: int
    average_score: float | None


@dataclass
class BlockedIp:
    ip: str
    count: int
    last_seen: str | None
    bans: int


@dataclass
class ActivityItem:
    time: str
    sender: str | None
    recipient: str | None
    subject: str | None
    direction: str
    status: str
    is_spam: bool
    correlation_key: str


def is_auth_failure():
    """What an authentication failure is, for every count of them."""
    return NetfilterLine.auth_failure == True  # noqa: E712


def auth_failure_count(start: int, end: int | None = None, scope: Scope | None = None) -> int:
    """Auth failures in [start, end]: netfilter lines whose trigger is a failed login, each
    attempt once. The dashboard, the digest and the auth alert rules count with this rule."""
    where = [is_auth_failure(), NetfilterLine.time >= start]
    if end is not None:
        where.append(NetfilterLine.time <= end)
    if scope is not None:
        where += scope.line_filter(NetfilterLine)
    return NetfilterLine.select(NetfilterLine.id).where(*where).count()


def blocked_ip_counts(start: int, limit: int, end: int | None = None, scope: Scope | None = None) -> list[tuple]:
    """(ip, matched or banned lines, last seen, bans) of the IPs netfilter warned or banned most."""
    where = [NetfilterLine.time >= start, NetfilterLine.ip.is_null(False),
             (NetfilterLine.rule_id.is_null(False)) | (NetfilterLine.action == "banned")]
    if end is not None:
        where.append(NetfilterLine.time <= end)
    if scope is not None:
        where += scope.line_filter(NetfilterLine)
    return list(NetfilterLine.select(NetfilterLine.ip, fn.COUNT(NetfilterLine.id).alias("count"),
                                     fn.MAX(NetfilterLine.time).alias("last_seen"),
                                     fn.SUM(NetfilterLine.action == "banned").alias("bans"))
                .where(*where).group_by(NetfilterLine.ip).order_by(fn.COUNT(NetfilterLine.id).desc(), NetfilterLine.ip)
                .limit(limit).tuples())


def _rejected(scope: Scope, now: int) -> tuple[int, int, int, int]:
    """(permanent, temporary) refusals among the rejected messages first seen in the last day,
    then in the last week: one pass over the week's, each a probe into the small index of
    permanent codes (models.py; the condition is written as that index's). Grouped by "in the
    last day" so that the probe is written, and made, once per message."""
    servers, values = scope.servers_sql("m.server")
    counts = {recent: (permanent, total) for recent, permanent, total in database.execute_sql(
        "SELECT m.first_seen >= ? AS recent, SUM(EXISTS (SELECT 1 FROM recipient r WHERE r.message_ref = m.id "
        "AND r.dsn LIKE '5%')), COUNT(*) FROM message m WHERE m.final_status = 'rejected' "
        f"AND m.first_seen BETWEEN ? AND ?{servers} GROUP BY recent", (now - DAY, now - 7 * DAY, now, *values))}
    day_permanent, day_total = counts.get(1, (0, 0))
    earlier_permanent, earlier_total = counts.get(0, (0, 0))
    week_permanent, week_total = day_permanent + earlier_permanent, day_total + earlier_total
    return day_permanent, day_total - day_permanent, week_permanent, week_total - week_permanent


def _discarded(scope: Scope, start: int, end: int) -> int:
    """Messages with a recipient a Sieve rule discarded, from the partial index of discarded
    recipients: few rows, whatever the traffic."""
    servers, values = scope.servers_sql("message.server")
    return database.execute_sql(
        "SELECT COUNT(DISTINCT recipient.message_ref) FROM recipient JOIN message ON message.id = "
        f"recipient.message_ref WHERE recipient.status = 'discarded' AND message.first_seen BETWEEN ? AND ?{servers}",
        (start, end, *values)).fetchone()[0]


def dashboard(scope: Scope, now: int) -> Dashboard:
    """The counters of the windows ending at `now` (the request's `end`, or the present)."""
    day, week, month = (hourly_counts(now - days * DAY, now, scope) for days in (1, 7, 30))
    permanent_day, temporary_day, permanent_week, temporary_week = _rejected(scope, now)
    servers, values = scope.servers_sql("server")
    # Two subqueries: SQLite answers a lone MIN or MAX from the index's end, both in one SELECT
    # by reading every entry.
    first, last = database.execute_sql(f"SELECT (SELECT MIN(first_seen) FROM message WHERE 1{servers}), "
                                       f"(SELECT MAX(first_seen) FROM message WHERE 1{servers})",
                                       values * 2).fetchone()
    return Dashboard(
        messages={"24h": day["total"], "7d": week["total"], "30d": month["total"]},
        discarded={"24h": _discarded(scope, now - DAY, now), "7d": _discarded(scope, now - 7 * DAY, now)},
        spam={"24h": day["spam"], "7d": week["spam"],
              "percentage_24h": round(100.0 * day["spam"] / day["total"], 2) if day["total"] else 0.0},
        failed_deliveries={"24h": day["bounced"], "7d": week["bounced"]},
        rejected={"24h": day["rejected"], "7d": week["rejected"], "permanent_24h": permanent_day,
                  "temporary_24h": temporary_day, "permanent_7d": permanent_week, "temporary_7d": temporary_week},
        auth_failures={"24h": auth_failure_count(now - DAY, now, scope),
                       "7d": auth_failure_count(now - 7 * DAY, now, scope)},
        direction={"inbound_24h": day["inbound"], "outbound_24h": day["outbound"], "internal_24h": day["internal"]},
        window_end=iso(now),
        data_range={"first": iso(first), "last": iso(last)})


def timeline(scope: Scope, now: int, hours: int) -> list[TimelineBucket]:
    last = now // HOUR
    first = last - hours + 1
    servers, values = scope.servers_sql("server")
    rows = database.execute_sql("SELECT hour, SUM(total), SUM(spam), SUM(bounced), SUM(rejected) FROM message_hour "
                                f"WHERE hour BETWEEN ? AND ?{servers} GROUP BY hour", (first, last, *values)).fetchall()
    by_hour = {hour: counts for hour, *counts in rows}
    buckets = []
    for hour in range(first, last + 1):
        total, spam, failed, rejected = by_hour.get(hour, (0, 0, 0, 0))
        buckets.append(TimelineBucket(iso(hour * HOUR), total, spam, total - spam, failed, rejected))
    return buckets


def top_spam_triggers(scope: Scope, since: int, end: int, limit: int) -> list[Trigger]:
    # Symbols that pushed spam towards its verdict (positive score), counted once per row.
    servers, values = scope.servers_sql("rspamd_row.server")
    rows = database.execute_sql(
        "SELECT symbol.key, COUNT(*) AS n, ROUND(AVG(json_extract(symbol.value, '$.score')), 2) "
        "FROM rspamd_row, json_each(rspamd_row.symbols) AS symbol "
        "WHERE rspamd_row.is_spam = 1 AND rspamd_row.time BETWEEN ? AND ? AND json_extract(symbol.value, '$.score') > 0"
        f"{servers} GROUP BY symbol.key ORDER BY n DESC, symbol.key LIMIT ?", (since, end, *values, limit)).fetchall()
    return [Trigger(*row) for row in rows]


def top_blocked_ips(scope: Scope, since: int, end: int, limit: int) -> list[BlockedIp]:
    return [BlockedIp(ip, count, iso(last), bans or 0)
            for ip, count, last, bans in blocked_ip_counts(since, limit, end, scope)]


def recent_activity(scope: Scope, end: int, limit: int) -> list[ActivityItem]:
    rows = (select_where(Message, scope.message_filter()).where(Message.first_seen <= end)
            .order_by(*NEWEST_FIRST).limit(limit))
    items = []
    for m in rows:
        recipients = recipients_of(m)
        items.append(ActivityItem(iso(m.first_seen), m.sender, recipients[0] if recipients else None, m.subject,
                                  m.direction, m.final_status, m.is_spam, m.correlation_key))
    return items
