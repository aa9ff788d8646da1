"""What GET /api/alerts and the settings' alerts block read: open and recently resolved alerts
with the messages behind them, and the notifications stored per alert and per channel."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from ..models import Alert, AlertNotification, Message
from .results import iso
from .scope import Scope


@dataclass
class AlertMessage:
    correlation_key: str
    sender: str | None
    subject: str | None
    status: str
    time: str


@dataclass
class Deliveries:
    delivered: int = 0
    pending: int = 0
    failed: int = 0


@dataclass
class AlertItem:
    id: int
    key: str
    rule: str
    severity: str
    state: str
    title: str
    detail: str
    count: int
    peak: int
    updates: int
    opened_at: str
    last_seen: str
    resolved_at: str | None
    link: str
    messages: list[AlertMessage]
    notifications: Deliveries


@dataclass
class AlertLists:
    open: list[AlertItem]
    recent: list[AlertItem]
    open_total: int


def _messages(scope: Scope, keys: set[str]) -> dict[str, AlertMessage]:
    if not keys:
        return {}
    rows = Message.select(Message.correlation_key, Message.sender, Message.subject, Message.final_status,
                          Message.first_seen).where(Message.correlation_key.in_(sorted(keys)), *scope.message_filter())
    return {m.correlation_key: AlertMessage(m.correlation_key, m.sender, m.subject, m.final_status, iso(m.first_seen))
            for m in rows}


def _deliveries(alert_ids: list[int]) -> dict[int, Deliveries]:
    out: dict[int, Deliveries] = {}
    if alert_ids:
        for ref, status, count in (AlertNotification.select(AlertNotification.alert_ref, AlertNotification.status,
                                                            fn.COUNT(AlertNotification.id))
                                   .where(AlertNotification.alert_ref.in_(alert_ids))
                                   .group_by(AlertNotification.alert_ref, AlertNotification.status).tuples()):
            setattr(out.setdefault(ref, Deliveries()), status, count)
    return out


def _item(alert: Alert, messages: dict[str, AlertMessage], deliveries: dict[int, Deliveries]) -> AlertItem:
    return AlertItem(alert.id, alert.key, alert.rule, alert.severity, alert.state, alert.title, alert.detail,
                     alert.count, alert.peak, alert.updates, iso(alert.opened_at), iso(alert.last_seen),
                     iso(alert.resolved_at), alert.link,
                     [messages[k] for k in alert.message_keys.split() if k in messages],
                     deliveries.get(alert.id, Deliveries()))


def open_alert_count(scope: Scope) -> int:
    return Alert.select(Alert.id).where(Alert.state == "open").count()


def alert_lists(scope: Scope, resolved_since: int, limit: int) -> AlertLists:
    """The open alerts and those resolved since `resolved_since`, newest first, at most `limit` each."""
    open_alerts = list(Alert.select().where(Alert.state == "open").order_by(Alert.opened_at.desc(), Alert.id.desc())
                       .limit(limit))
    recent = list(Alert.select().where(Alert.state == "resolved", Alert.resolved_at >= resolved_since)
                  .order_by(Alert.resolved_at.desc(), Alert.id.desc()).limit(limit))
    shown = open_alerts + recent
    messages = _messages(scope, {k for a in shown for k in a.message_keys.split()})
    deliveries = _deliveries([a.id for a in shown])
    return AlertLists([_item(a, messages, deliveries) for a in open_alerts],
                      [_item(a, messages, deliveries) for a in recent], open_alert_count(scope))


def stored_by_channel(scope: Scope) -> dict[str, Deliveries]:
    """The notifications kept in the outbox per channel, by their state."""
    stored: dict[str, Deliveries] = {}
    for channel, status, count in (AlertNotification.select(AlertNotification.channel, AlertNotification.status,
                                                            fn.COUNT(AlertNotification.id))
                                   .group_by(AlertNotification.channel, AlertNotification.status).tuples()):
        setattr(stored.setdefault(channel, Deliveries()), status, count)
    return stored
