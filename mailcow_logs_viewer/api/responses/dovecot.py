"""Shapes of the Dovecot log and its login failure answers (the mailbox stage)."""
from __future__ import annotations

from .base import Bool, Int, Many, Response, Str, Time
from .messages import PageEnvelope


class DovecotLogSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    parsed = Bool()
    kind = Str(nullable=True, metadata={"enum": ["lmtp", "session", "login", "auth_failure", "auth_check", "other"]})
    service = Str(nullable=True)
    user = Str(nullable=True)
    session = Str(nullable=True)
    message_id = Str(nullable=True)
    action = Str(nullable=True)
    folder = Str(nullable=True)
    target = Str(nullable=True)
    ip = Str(nullable=True)
    recipient = Str(nullable=True, metadata={"description": "The Postfix recipient this delivery line is linked to"})
    correlation_key = Str(nullable=True)
    server = Str(metadata={"description": "The mailcow server that logged it"})


class DovecotLogListSchema(PageEnvelope):
    data = Many(DovecotLogSchema)


class LoginFailureCountSchema(Response):
    key = Str(metadata={"description": "The user (by_user) or IP address (by_ip)"})
    attempts = Int()
    distinct_others = Int(metadata={"description": "Distinct IPs of this user, or users tried from this IP"})
    last_seen = Time()


class DovecotLoginFailuresSchema(Response):
    by_user = Many(LoginFailureCountSchema)
    by_ip = Many(LoginFailureCountSchema)
