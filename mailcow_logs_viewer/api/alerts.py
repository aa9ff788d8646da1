"""GET /api/alerts (open and recent alerts, with the messages behind each one and the state of
every notification channel) and POST /api/alerts/test (the admin's "send a test" button).

The test does not write to the database from the request thread: it hands one notification
per channel to the sender threads in memory (alerts/outbox.py); its outcome shows in
`channels` here and on the Status page.
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from marshmallow import fields, validate
from peewee import fn

from ..errors import ApiError
from ..models import Alert, AlertNotification, Message
from .params import QuerySchema, iso, parse_args

bp = Blueprint("alerts", __name__)


class AlertListSchema(QuerySchema):
    hours = fields.Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365),
                           metadata={"description": "How far back resolved alerts are listed"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


def _messages(keys: set[str]) -> dict[str, dict]:
    if not keys:
        return {}
    rows = Message.select(Message.correlation_key, Message.sender, Message.subject, Message.final_status,
                          Message.first_seen).where(Message.correlation_key.in_(sorted(keys)))
    return {m.correlation_key: {"correlation_key": m.correlation_key, "sender": m.sender, "subject": m.subject,
                                "status": m.final_status, "time": iso(m.first_seen)} for m in rows}


def _deliveries(alert_ids: list[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    if alert_ids:
        for ref, status, count in (AlertNotification.select(AlertNotification.alert_ref, AlertNotification.status,
                                                            fn.COUNT(AlertNotification.id))
                                   .where(AlertNotification.alert_ref.in_(alert_ids))
                                   .group_by(AlertNotification.alert_ref, AlertNotification.status).tuples()):
            out.setdefault(ref, {"delivered": 0, "pending": 0, "failed": 0})[status] = count
    return out


def _item(alert: Alert, messages: dict, deliveries: dict) -> dict:
    return {"id": alert.id, "key": alert.key, "rule": alert.rule, "severity": alert.severity, "state": alert.state,
            "title": alert.title, "detail": alert.detail, "count": alert.count, "peak": alert.peak,
            "updates": alert.updates, "opened_at": iso(alert.opened_at), "last_seen": iso(alert.last_seen),
            "resolved_at": iso(alert.resolved_at), "link": alert.link,
            "messages": [messages[k] for k in alert.message_keys.split() if k in messages],
            "notifications": deliveries.get(alert.id, {"delivered": 0, "pending": 0, "failed": 0})}


def channel_status() -> list[dict]:
    """Per configured channel: deliveries and failures (never a URL or a credential)."""
    engine = current_app.extensions["runtime"].alerts
    stored = {}
    for channel, status, count in (AlertNotification.select(AlertNotification.channel, AlertNotification.status,
                                                            fn.COUNT(AlertNotification.id))
                                   .group_by(AlertNotification.channel, AlertNotification.status).tuples()):
        stored.setdefault(channel, {})[status] = count
    out = []
    for health in engine.sender.health():
        kept = stored.get(health["channel"], {})
        out.append({"channel": health["channel"], "delivered": kept.get("delivered", 0),
                    "pending": kept.get("pending", 0), "failed": kept.get("failed", 0),
                    "failed_attempts": health["failed_attempts"], "consecutive_failures": health["consecutive_failures"],
                    "last_success": iso(health["last_success"]), "last_error": health["last_error"],
                    "last_error_at": iso(health["last_error_at"])})
    return out


@bp.get("/alerts")
def alerts():
    args = parse_args(AlertListSchema())
    since = int(time.time()) - args["hours"] * 3600
    open_alerts = list(Alert.select().where(Alert.state == "open").order_by(Alert.opened_at.desc(), Alert.id.desc())
                       .limit(args["limit"]))
    recent = list(Alert.select().where(Alert.state == "resolved", Alert.resolved_at >= since)
                  .order_by(Alert.resolved_at.desc(), Alert.id.desc()).limit(args["limit"]))
    shown = open_alerts + recent
    messages = _messages({k for a in shown for k in a.message_keys.split()})
    deliveries = _deliveries([a.id for a in shown])
    return jsonify({"open": [_item(a, messages, deliveries) for a in open_alerts],
                    "recent": [_item(a, messages, deliveries) for a in recent],
                    "open_total": Alert.select(Alert.id).where(Alert.state == "open").count(),
                    "channels": channel_status()})


@bp.post("/alerts/test")
def send_test():
    # A JSON body is required: a cross-site form cannot send one without a CORS preflight.
    if not request.is_json:
        raise ApiError(400, "Content-Type: send the request as application/json")
    engine = current_app.extensions["runtime"].alerts
    channels = engine.send_test()
    if not channels:
        raise ApiError(400, "no alert channel is configured (ALERT_WEBHOOK_URL, ALERT_NTFY_URL, "
                            "ALERT_SLACK_WEBHOOK_URL, ALERT_DISCORD_WEBHOOK_URL, ALERT_TELEGRAM_BOT_TOKEN or ALERT_EMAIL_TO)")
    return jsonify({"queued": channels}), 202
