"""Insights: per domain and per mailbox figures, destination health and top failure reasons.

Counting rules (also in the README, "Insights"):
- a message involves an entity (a mailbox, or a domain: the part after the last `@`, lower
  case) when the entity is its envelope sender or one of its final recipients;
- `sent` counts the messages it sent, `received` those it is a recipient of, and the status
  and spam columns count its messages by their one final status (what the list shows);
- delays are those of its delivered recipients (as sender, every delivered recipient of
  what it sent; as recipient, its own), median and 95th percentile by nearest rank;
- top counterparts: the entities it exchanged most messages with, ties by the first message;
- destination health counts recipients (not messages) per remote domain, by their outcome;
- top reasons group failed recipients (and messages refused before any recipient) by
  `reasons.reason_key`.
The same definitions back the `domain=`, `mailbox=` and `reason=` filters (message_scopes.py),
so a count and the list behind its link agree.

Where the time goes at tens of thousands of messages: SQLite groups what the rules need
(messages by sender, recipients, status and spam; recipients by address and status; delays
by value) and Python applies the rules once per group, weighted by its count, so the rules
stay the plain functions below and the rows leaving SQLite are thousands, not one per
message and recipient. Only the top reasons read each failed recipient (a few per cent).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ..db import database
from ..domains import local_domains
from ..models import Message
from ..reasons import FAILED, reason_key, short_reason
from .filters import select_where
from .scope import Scope

STATUS_COLUMNS = ("delivered", "deferred", "bounced", "rejected")
SORTABLE = ("entity", "sent", "received", "total", *STATUS_COLUMNS, "spam", "delay_median", "delay_p95")
TOP_COUNTERPARTS = 3
# A failed recipient's group on the top-reasons table: expired is a bounce for the admin.
REASON_STATUS = {"bounced": "bounced", "expired": "bounced", "deferred": "deferred", "rejected": "rejected"}


@dataclass
class Counterpart:
    entity: str
    messages: int


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
    counterparts: list[Counterpart] = field(default_factory=list)


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


@dataclass
class ReasonGroup:
    reason: str
    messages: int = 0
    recipients: int = 0
    bounced: int = 0
    deferred: int = 0
    rejected: int = 0
    example: str | None = None


@dataclass
class Reasons:
    direction: str | None
    data: list[ReasonGroup]


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower() or None


def _mailbox(address: str | None) -> str | None:
    return address.lower() if address and "@" in address else None


def _in_range(scope: Scope, start: int | None, end: int | None, direction: str | None = None) -> tuple[str, list]:
    """The caller's messages first seen in [start, end], as a statement for a WITH clause."""
    where = list(scope.message_filter())
    for condition, value in ((Message.first_seen >= start, start), (Message.first_seen <= end, end),
                             (Message.direction == direction, direction)):
        if value is not None:
            where.append(condition)
    query = select_where(Message, where, Message.id, Message.sender, Message.recipients, Message.recipient_count,
                         Message.final_status, Message.is_spam, Message.reject_reason)
    sql, params = query.sql()
    return sql, list(params)


def _recipients(scope: Scope) -> tuple[str, list]:
    """The range's messages joined to the recipients this caller may see, and its parameters.
    CROSS JOIN keeps the messages outside and their recipients inside (by the message_ref
    index): the other way round, SQLite visits recipients by address and each message at random."""
    visible, params = scope.visible_recipient_sql("m.sender", "r.recipient", "r.orig_to")
    return f"m CROSS JOIN recipient r ON r.message_ref = m.id{visible}", params
# The condition of the partial index of delivered recipients (models.py): the delays are read from it.
_DELIVERED_WITH_DELAY = "r.status = 'delivered' AND r.delay IS NOT NULL"


def _rows(scope: Scope, start, end, body: str, params: list, direction: str | None = None) -> list[tuple]:
    """`body` run after `WITH m AS (the range's messages)`."""
    sql, range_params = _in_range(scope, start, end, direction)
    return database.execute_sql(f"WITH m AS ({sql}) {body}", range_params + params).fetchall()


def _ours_set(scope: Scope) -> frozenset[str]:
    return frozenset(d.lower() for d in scope.our_domains(local_domains()))


def _addresses(text: str, count: int, message_id: int) -> list[str]:
    """The addresses of a `message.recipients` text; an address with ", " in it (quoted, and
    never seen in practice) makes the split ambiguous: then the rows of the message are read."""
    addresses = text.split(", ") if text else []
    if len(addresses) == count:
        return addresses
    return [row[0] for row in database.execute_sql("SELECT recipient FROM recipient WHERE message_ref = ?",
                                                   (message_id,))]


def _percentile(delays: Counter, share: float) -> float | None:
    """Nearest rank over delays counted by value."""
    total = sum(delays.values())
    if not total:
        return None
    rank = max(1, math.ceil(share * total))
    for delay in sorted(delays):
        rank -= delays[delay]
        if rank <= 0:
            return delay
    return None


class _Entities:
    """The figures of the wanted entities, added up one combination of messages at a time."""

    def __init__(self, name_of, local: bool, ours: frozenset[str]):
        self.stats: dict[str, EntityStats] = {}
        self.partners: dict[str, Counter] = {}
        self.delays: dict[str, Counter] = {}
        self._name_of, self._local, self._ours, self._names = name_of, local, ours, {}

    def name(self, address: str | None) -> str | None:
        if address not in self._names:
            self._names[address] = self._name_of(address)
        return self._names[address]

    def get(self, name: str) -> EntityStats | None:
        item = self.stats.get(name)
        # Ours when its domain is (a domain is its own domain); only one side is wanted.
        if item is None and (name.rsplit("@", 1)[-1] in self._ours) == self._local:
            item = self.stats[name] = EntityStats(name, self._local)
            self.partners[name], self.delays[name] = Counter(), Counter()
        return item

    def add(self, sender: str | None, recipients: list[str], status: str, spam: int, count: int) -> None:
        """`count` messages from `sender` to `recipients` in `status`."""
        sender = self.name(sender)
        receivers = sorted({self.name(a) for a in recipients} - {None})
        involved = {}
        if sender and (item := self.get(sender)):
            item.sent += count
            involved[sender] = item
            self.partners[sender].update({name: count for name in receivers if name != sender})
        for name in receivers:
            if item := self.get(name):
                item.received += count
                involved[name] = item
                if sender and sender != name:
                    self.partners[name][sender] += count
        for item in involved.values():
            item.total += count
            if status in STATUS_COLUMNS:
                setattr(item, status, getattr(item, status) + count)
            item.spam += spam * count

    def add_delay(self, sender: str | None, recipient: str, delay: float, count: int) -> None:
        """A delivered recipient's delay counts for its sender and for itself (once when they are one)."""
        for name in {self.name(sender), self.name(recipient)} - {None}:
            if name in self.stats:
                self.delays[name][delay] += count


def entity_stats(scope: Scope, kind: str, start: int | None, end: int | None, *, local: bool = True,
                 sort: str = "total", descending: bool = True, limit: int = 100) -> list[EntityStats]:
    """Per `kind` ("domain" or "mailbox"): our own (local=True) or remote ones.

    SQLite groups the range's messages by (sender, recipients, status, spam), a few thousand
    combinations where there are tens of thousands of messages, and the delivered recipients
    by (sender, recipient, delay); the rule runs once per combination, weighted by its count.
    Combinations come in the order of their first message, as the messages did before."""
    entities = _Entities(_domain if kind == "domain" else _mailbox, local, _ours_set(scope))
    # message.recipients is its recipient rows' addresses, written with them (facts.write_messages).
    # Grouped by recipients first: by sender first, SQLite walks the sender index and reads each
    # message at random, twice as slow as reading the table in order and sorting.
    combinations = _rows(scope, start, end, """
        SELECT MIN(m.id), m.recipients, m.sender, m.recipient_count, m.final_status, m.is_spam, COUNT(*)
        FROM m GROUP BY 2, 3, 4, 5, 6""", [])
    for first, recipients, sender, count_each, status, spam, count in sorted(combinations):
        addresses = _addresses(recipients, count_each, first)
        if not scope.owns(sender):      # on mail they received, only the recipients they may see
            addresses = [a for a in addresses if scope.sees_recipient(a)]
        entities.add(sender, addresses, status, spam, count)
    if not entities.stats:
        return []
    joined, visible = _recipients(scope)
    for sender, recipient, delay, count in _rows(scope, start, end, f"""
        SELECT m.sender, r.recipient, r.delay, COUNT(*) FROM {joined}
        WHERE {_DELIVERED_WITH_DELAY} GROUP BY 1, 2, 3""", visible):
        entities.add_delay(sender, recipient, delay, count)
    for name, item in entities.stats.items():
        item.delay_median = _percentile(entities.delays[name], 0.5)
        item.delay_p95 = _percentile(entities.delays[name], 0.95)
    ordered = _sorted(sorted(entities.stats.values(), key=lambda i: i.entity), sort, descending)[:limit]
    for item in ordered:
        item.counterparts = [Counterpart(name, count)
                             for name, count in entities.partners[item.entity].most_common(TOP_COUNTERPARTS)]
    return ordered


def _sorted(items: list[EntityStats], sort: str, descending: bool) -> list[EntityStats]:
    """By `sort` (nulls as the smallest), ties by name; `items` come in name order."""
    if sort == "entity":
        return sorted(items, key=lambda i: i.entity, reverse=descending)

    def key(item: EntityStats):
        value = getattr(item, sort)
        return (value is not None, value if value is not None else 0)
    return sorted(items, key=key, reverse=descending)


def destinations(scope: Scope, start: int | None, end: int | None, *, limit: int = 100) -> list[Destination]:
    """Remote recipient domains by how often delivery to them is deferred or bounced.

    SQLite counts recipients by (address, status); the domains are added up from those."""
    ours = _ours_set(scope)
    found: dict[str, Destination] = {}
    # A recipient we refused never left for its domain; a pending one has no outcome yet.
    joined, visible = _recipients(scope)
    for recipient, status, count in _rows(scope, start, end, f"""
        SELECT r.recipient, r.status, COUNT(*) FROM {joined}
        WHERE r.status NOT IN ('rejected', 'pending') GROUP BY 1, 2""", visible):
        domain = _domain(recipient)
        if domain is None or domain in ours:
            continue
        item = found.setdefault(domain, Destination(domain))
        item.recipients += count
        group = REASON_STATUS.get(status, status)
        if group in ("delivered", "deferred", "bounced"):
            setattr(item, group, getattr(item, group) + count)
    for item in found.values():
        item.deferral_rate = round(item.deferred / item.recipients, 4)
        item.bounce_rate = round(item.bounced / item.recipients, 4)
    ordered = sorted(found.values(), key=lambda d: (-(d.deferred + d.bounced), -d.bounce_rate, d.domain))[:limit]
    shown = {item.domain: item for item in ordered if item.deferred + item.bounced}
    if shown:
        _add_top_reasons(scope, start, end, shown)
    return ordered


def _add_top_reasons(scope: Scope, start, end, shown: dict[str, Destination]) -> None:
    """Each shown domain's most frequent reason (ties: the first seen) and its first reply."""
    counts: dict[str, Counter] = {name: Counter() for name in shown}
    examples: dict[str, dict] = {name: {} for name in shown}
    failed = [status for status in FAILED if status != "rejected"]
    joined, visible = _recipients(scope)
    for recipient, dsn, reply in _rows(scope, start, end, f"""
        SELECT r.recipient, r.dsn, r.reply FROM {joined}
        WHERE r.status IN ({", ".join("?" for _ in failed)}) ORDER BY m.id, r.recipient""", visible + failed):
        domain = _domain(recipient)
        key = reason_key(dsn, reply) if domain in shown else None
        if key:
            counts[domain][key] += 1
            examples[domain].setdefault(key, short_reason(reply))
    for name, item in shown.items():
        if counts[name]:
            item.top_reason, item.top_reason_count = counts[name].most_common(1)[0]
            item.example_reply = examples[name][item.top_reason]


def top_reasons(scope: Scope, start: int | None, end: int | None, direction: str | None = None, *,
                limit: int = 20) -> Reasons:
    """Bounces, deferrals and rejects by `reasons.reason_key`, most messages first."""
    failed = ", ".join("?" for _ in FAILED)
    joined, visible = _recipients(scope)
    rows = _rows(scope, start, end, f"""
        , failures AS (
            SELECT m.id AS mid, r.recipient, r.status, r.dsn, COALESCE(NULLIF(r.reply, ''), m.reject_reason) AS text
            FROM {joined} WHERE r.status IN ({failed})
            UNION ALL
            SELECT m.id, NULL, 'rejected', NULL, m.reject_reason FROM m
            WHERE m.final_status = 'rejected' AND NOT EXISTS (SELECT 1 FROM recipient r WHERE r.message_ref = m.id))
        SELECT dsn, text, status, mid FROM failures ORDER BY mid, recipient""", visible + list(FAILED), direction)
    groups: dict[str, ReasonGroup] = {}
    messages: dict[str, set] = {}
    for dsn, text, status, mid in rows:
        key = reason_key(dsn, text)
        if not key:
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = ReasonGroup(key)
            messages[key] = set()
        group.recipients += 1
        column = REASON_STATUS[status]
        setattr(group, column, getattr(group, column) + 1)
        messages[key].add(mid)
        if group.example is None:
            group.example = short_reason(text)
    for key, group in groups.items():
        group.messages = len(messages[key])
    ordered = sorted(groups.values(), key=lambda g: (-g.messages, -g.recipients, g.reason))
    return Reasons(direction, ordered[:limit])
