"""What the Postfix parser (postfix.py) makes of one line: the event kinds, the event, and the
conversions of its values (addresses in angle brackets, "unknown" IPs, numbers)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = (
    "client",
    "message_id",
    "qmgr_from",
    "delivery",
    "expired",
    "removed",
    "noqueue_reject",
    "reject",
    "milter_reject",
    "bounce_notice",
    "pickup",
    "sasl_failure",
    "other",
)


@dataclass(slots=True)
class PostfixEvent:
    kind: str
    queue_id: str | None = None
    message_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    orig_to: str | None = None
    status: str | None = None
    relay: str | None = None
    delay: float | None = None
    delays: str | None = None
    dsn: str | None = None
    reply: str | None = None
    client_host: str | None = None
    client_ip: str | None = None
    sasl_method: str | None = None
    sasl_username: str | None = None
    size: int | None = None
    nrcpt: int | None = None
    linked_queue_id: str | None = None
    notice_kind: str | None = None
    stage: str | None = None
    reject_code: str | None = None
    helo: str | None = None
    proto: str | None = None
    uid: int | None = None


# --------------------------------------------------------------------------- regexes
# Short ids: uppercase hex (microseconds + inode).  Long ids (enable_long_queue_ids):
# 10 chars of base-52 time, the separator 'z', then the inode in base 51.


def _unbracket(v: str) -> str:
    if len(v) >= 2 and v[0] == "<" and v[-1] == ">":
        return v[1:-1]
    return v


def _ip_or_none(ip: str) -> str | None:
    if not ip or ip == "unknown":
        return None
    return ip


def _to_float(v: str | None) -> float | None:
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _to_int(v: str | None) -> int | None:
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        return None
