"""GET /api/alerts (open and recent alerts, with the messages behind each one and the state of
every notification channel) and POST /api/alerts/test (the admin's "send a test" button).

The test does not write to the database from the request thread: it hands one notification
per channel to the sender threads in memory (alerts/outbox.py); its outcome shows in
`channels` here and on the Status page.
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from marshmallow import validate

from ..errors import ApiError
from ..auth import current_scope
from ..queries.alerts import Deliveries, alert_lists, stored_by_channel
from ..queries.results import iso
from .params import Integer, QuerySchema, parse_args
from .serialize import plain

bp = Blueprint("alerts", __name__)


class AlertListSchema(QuerySchema):
    hours = Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365),
                           metadata={"description": "How far back resolved alerts are listed"})
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=500))


def channel_status() -> list[dict]:
    """Per configured channel: deliveries and failures (never a URL or a credential)."""
    engine = current_app.extensions["runtime"].alerts
    stored = stored_by_channel(current_scope())
    out = []
    for health in engine.sender.health():
        kept = stored.get(health["channel"], Deliveries())
        out.append({"channel": health["channel"], "delivered": kept.delivered, "pending": kept.pending,
                    "failed": kept.failed, "failed_attempts": health["failed_attempts"],
                    "consecutive_failures": health["consecutive_failures"],
                    "last_success": iso(health["last_success"]), "last_error": health["last_error"],
                    "last_error_at": iso(health["last_error_at"])})
    return out


@bp.get("/alerts")
def alerts():
    args = parse_args(AlertListSchema())
    lists = alert_lists(current_scope(), int(time.time()) - args["hours"] * 3600, args["limit"])
    return jsonify({**plain(lists), "channels": channel_status()})


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
