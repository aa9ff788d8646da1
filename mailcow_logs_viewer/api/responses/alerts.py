"""Shapes of the alerts answers (alerts/, GET /api/alerts)."""
from __future__ import annotations

from .base import Bool, Int, Many, MapOf, Num, One, Response, Str, StrList, Time, _f  # noqa: F401


# ------------------------------------------------------------------ alerts

class AlertMessageSchema(Response):
    correlation_key = Str()
    sender = Str(nullable=True)
    subject = Str(nullable=True)
    status = Str()
    time = Time()


class AlertDeliveriesSchema(Response):
    delivered = Int()
    pending = Int()
    failed = Int()


class AlertSchema(Response):
    id = Int()
    key = Str(metadata={"description": "Deduplication key: one open alert per key"})
    rule = Str()
    severity = Str(metadata={"enum": ["warning", "critical"]})
    state = Str(metadata={"enum": ["open", "resolved"]})
    title = Str()
    detail = Str()
    count = Int(metadata={"description": "The measured volume at the last evaluation"})
    peak = Int()
    updates = Int(metadata={"description": "Evaluations that still saw the condition after it opened"})
    opened_at = Time()
    last_seen = Time()
    resolved_at = Time(nullable=True)
    link = Str(metadata={"description": "Path into the UI showing what is behind the alert"})
    messages = Many(AlertMessageSchema)
    notifications = One(AlertDeliveriesSchema)


class AlertChannelSchema(Response):
    channel = Str(metadata={"enum": ["webhook", "ntfy", "slack", "discord", "telegram", "email"]})
    delivered = Int()
    pending = Int()
    failed = Int()
    failed_attempts = Int()
    consecutive_failures = Int()
    last_success = Time(nullable=True)
    last_error = Str(nullable=True)
    last_error_at = Time(nullable=True)


class AlertListResponseSchema(Response):
    open = Many(AlertSchema)
    recent = Many(AlertSchema)
    open_total = Int()
    channels = Many(AlertChannelSchema)


class SettingsAlertsSchema(Response):
    open = Int()
    channels = Many(AlertChannelSchema)


class AlertTestSchema(Response):
    queued = StrList()
