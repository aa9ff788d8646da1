"""Insights: per domain and per mailbox figures, destination health and top failure reasons.

One pass over the messages first seen in the range (with their recipients) answers each
table; the counting rules are the README's ("Insights"):
- a message involves an entity (a mailbox, or a domain: the part after the `@`) when the
  entity is its envelope sender or one of its final recipients;
- `sent` counts the messages it sent, `received` those it is a recipient of, and the status
  and spam columns count its messages by their one final status (what the list shows);
- delays are those of its delivered recipients (as sender, every delivered recipient of
  what it sent; as recipient, its own), median and 95th percentile by nearest rank;
- destination health counts recipients (not messages) per remote domain, by their outcome.
The same definitions back the `domain=`, `mailbox=` and `reason=` filters (message_scopes.py),
so a count and the list behind its link agree.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from .db import database
from .models import LocalDomain, Message
from .queries.scope import ADMIN, Scope
from .reasons import FAILED, reason_key, short_reason

STATUS_COLUMNS = ("delivered", "deferred", "bounced", "rejected")
SORTABLE = ("entity", "sent", "received", "total", *STATUS_COLUMNS, "spam", "delay_median", "delay_p95")
TOP_COUNTERPARTS = 3
# A failed recipient's group on the top-reasons table: expired is a bounce for the admin.
REASON_STATUS = {"bounced": "bounced", "expired": "bounced", "deferred": "deferred", "rejected": "rejected"}


@dataclass
class EntityStats:
    entity: str
    local: bool
    sent: int = 0
    received: int = 0
    total: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    rejected: int = 0
    spam: int = 0
    delay_median: float | None = None
    delay_p95: float | None = None
    counterparts: list = field(default_factory=list)
    _delays: list = field(default_factory=list, repr=False)
    _partners: Counter = field(default_factory=Counter, repr=False)


@dataclass
class Destination:
    domain: str
    recipients: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    deferral_rate: float = 0.0
    bounce_rate: float = 0.0
    top_reason: str | None = None
    top_reason_count: int = 0
    example_reply: str | None = None
    _reasons: Counter = field(default_factory=Counter, repr=False)
    _examples: dict = field(default_factory=dict, repr=False)


@dataclass
class ReasonGroup:
    reason: str
    messages: int = 0
    recipients: int = 0
    bounced: int = 0
    deferred: int = 0
    rejected: int = 0
    example: str | None = None
    _message_ids: set = field(default_factory=set, repr=False)


class _Row:
    """One message with its recipients, as read for the range."""
    __slots__ = ("direction", "id", "is_spam", "recipients", "reject_reason", "sender", "status")

    def __init__(self, id, sender, direction, status, is_spam, reject_reason):
        self.id, self.sender, self.direction, self.status = id, sender, direction, status
        self.is_spam, self.reject_reason, self.recipients = bool(is_spam), reject_reason, []


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower() or None


def _messages(start: int | None, end: int | None, direction: str | None = None, failed_only: bool = False,
              scope: Scope = ADMIN) -> list[_Row]:
    where, params = [], []
    if not scope.is_admin:     # the caller's messages, by the one rule in queries/scope.py
        sql, scope_params = Message.select(Message.id).where(*scope.message_filter()).sql()
        where.append(f"m.id IN ({sql})")
        params += scope_params
    if failed_only:    # top reasons read only what failed, not every delivered recipient
        where.append(f"(r.status IN ({', '.join('?' for _ in FAILED)}) OR (r.id IS NULL AND m.final_status = 'rejected'))")
        params += FAILED
    for clause, value in (("m.first_seen >= ?", start), ("m.first_seen <= ?", end), ("m.direction = ?", direction)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = ("SELECT m.id, m.sender, m.direction, m.final_status, m.is_spam, m.reject_reason, "
           "r.recipient, r.status, r.delay, r.dsn, r.reply FROM message m LEFT JOIN recipient r ON r.message_ref = m.id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY m.id")
    rows: dict[int, _Row] = {}
    for mid, sender, direc, status, spam, reject, rcpt, rstatus, delay, dsn, reply in database.execute_sql(sql, params):
        row = rows.get(mid)
        if row is None:
            row = rows[mid] = _Row(mid, sender, direc, status, spam, reject)
        if rcpt is not None and (scope.owns(sender) or scope.sees_recipient(rcpt)):
            row.recipients.append((rcpt, rstatus, delay, dsn, reply))
    return list(rows.values())


def local_domains() -> frozenset[str]:
    return frozenset(d.domain.lower() for d in LocalDomain.select(LocalDomain.domain))


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _finish(stats: dict[str, EntityStats], sort: str, descending: bool, limit: int) -> list[EntityStats]:
    for item in stats.values():
        item.delay_median = _percentile(item._delays, 0.5)
        item.delay_p95 = _percentile(item._delays, 0.95)
        item.counterparts = [{"entity": name, "messages": count}
                             for name, count in item._partners.most_common(TOP_COUNTERPARTS)]

    def key(item: EntityStats):
        value = getattr(item, sort)
        return (value is not None, value if value is not None else 0)
    if sort == "entity":
        ordered = sorted(stats.values(), key=lambda i: i.entity, reverse=descending)
    else:
        ordered = sorted(sorted(stats.values(), key=lambda i: i.entity), key=key, reverse=descending)
    return ordered[:limit]


def entity_stats(kind: str, start: int | None, end: int | None, *, local: bool = True, sort: str = "total",
                 descending: bool = True, limit: int = 100, scope: Scope = ADMIN) -> list[EntityStats]:
    """Per `kind` ("domain" or "mailbox"): our own (local=True) or remote ones."""
    ours = scope.our_domains(local_domains())
    name_of = _domain if kind == "domain" else (lambda a: a.lower() if a and "@" in a else None)
    stats: dict[str, EntityStats] = {}

    def get(name: str) -> EntityStats | None:
        is_local = name.rsplit("@", 1)[-1] in ours
        if is_local != local:
            return None
        if name not in stats:
            stats[name] = EntityStats(name, is_local)
        return stats[name]

    for message in _messages(start, end, scope=scope):
        sender = name_of(message.sender)
        receivers = {name_of(r[0]) for r in message.recipients} - {None}
        involved: set[str] = set()
        if sender and (item := get(sender)):
            item.sent += 1
            involved.add(sender)
            item._partners.update(receivers - {sender})
        for name in receivers:
            if item := get(name):
                item.received += 1
                involved.add(name)
                if sender and sender != name:
                    item._partners[sender] += 1
        for name in involved:
            item = stats[name]
            item.total += 1
            if message.status in STATUS_COLUMNS:
                setattr(item, message.status, getattr(item, message.status) + 1)
            item.spam += message.is_spam
        for rcpt, rstatus, delay, _dsn, _reply in message.recipients:
            if rstatus != "delivered" or delay is None:
                continue
            for name in {sender, name_of(rcpt)} & involved:
                stats[name]._delays.append(delay)
    return _finish(stats, sort, descending, limit)


def destinations(start: int | None, end: int | None, *, limit: int = 100, scope: Scope = ADMIN) -> list[Destination]:
    """Remote recipient domains by how often delivery to them is deferred or bounced."""
    ours = local_domains()
    found: dict[str, Destination] = {}
    for message in _messages(start, end, scope=scope):
        for rcpt, rstatus, _delay, dsn, reply in message.recipients:
            domain = _domain(rcpt)
            if domain is None or domain in ours or rstatus in ("rejected", "pending"):
                continue     # a recipient we refused never left for its domain
            item = found.setdefault(domain, Destination(domain))
            item.recipients += 1
            group = REASON_STATUS.get(rstatus, rstatus)
            if group in ("delivered", "deferred", "bounced"):
                setattr(item, group, getattr(item, group) + 1)
            if rstatus in FAILED:
                key = reason_key(dsn, reply)
                if key:
                    item._reasons[key] += 1
                    item._examples.setdefault(key, short_reason(reply))
    for item in found.values():
        item.deferral_rate = round(item.deferred / item.recipients, 4)
        item.bounce_rate = round(item.bounced / item.recipients, 4)
        if item._reasons:
            item.top_reason, item.top_reason_count = item._reasons.most_common(1)[0]
            item.example_reply = item._examples[item.top_reason]
    ordered = sorted(found.values(), key=lambda d: (-(d.deferred + d.bounced), -d.bounce_rate, d.domain))
    return ordered[:limit]


def top_reasons(start: int | None, end: int | None, direction: str | None = None, *,
                limit: int = 20, scope: Scope = ADMIN) -> list[ReasonGroup]:
    """Bounces, deferrals and rejects by `reasons.reason_key`, most messages first."""
    groups: dict[str, ReasonGroup] = {}

    def add(key: str | None, status: str, message_id: int, reply: str | None) -> None:
        if not key:
            return
        group = groups.setdefault(key, ReasonGroup(key))
        group.recipients += 1
        setattr(group, status, getattr(group, status) + 1)
        group._message_ids.add(message_id)
        if group.example is None:
            group.example = short_reason(reply)

    for message in _messages(start, end, direction, failed_only=True, scope=scope):
        if not message.recipients and message.status == "rejected":
            add(reason_key(None, message.reject_reason), "rejected", message.id, message.reject_reason)
        for _rcpt, rstatus, _delay, dsn, reply in message.recipients:
            if rstatus in FAILED:
                text = reply or message.reject_reason
                add(reason_key(dsn, text), REASON_STATUS[rstatus], message.id, text)
    for group in groups.values():
        group.messages = len(group._message_ids)
    ordered = sorted(groups.values(), key=lambda g: (-g.messages, -g.recipients, g.reason))
    return ordered[:limit]

