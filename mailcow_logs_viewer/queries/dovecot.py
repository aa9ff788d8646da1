"""The Dovecot log list, its CSV rows, failed mailbox logins, and a message's Dovecot lines."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN

from ..db import database
from ..models import DovecotLine, Message
from .filters import dovecot_filters
from .logs import _newest, _page
from .messages import Page
from .results import iso
from .scope import Scope


@dataclass
class DovecotLogItem:
    id: int
    time: str
    priority: str
    message: str
    parsed: bool
    kind: str | None
    service: str | None
    user: str | None
    session: str | None
    message_id: str | None
    action: str | None
    folder: str | None
    target: str | None
    ip: str | None
    recipient: str | None
    correlation_key: str | None
    server: str


@dataclass
class DovecotStepLine:
    """One Dovecot line of a message, as its details show it."""
    id: int
    time: str
    priority: str
    message: str
    action: str | None
    folder: str | None
    session: str | None


@dataclass
class LoginFailureCount:
    key: str
    attempts: int
    distinct_others: int
    last_seen: str


@dataclass
class LoginFailures:
    by_user: list[LoginFailureCount]
    by_ip: list[LoginFailureCount]


def _item(row: dict) -> DovecotLogItem:
    return DovecotLogItem(
        id=row["id"], time=iso(row["time"]), priority=row["priority"], message=row["message"], parsed=row["parsed"],
        kind=row["kind"], service=row["service"], user=row["user"], session=row["session"],
        message_id=row["message_id"], action=row["action"], folder=row["folder"], target=row["target"], ip=row["ip"],
        recipient=row["recipient"], correlation_key=row.get("correlation_key"), server=row["server"])


def dovecot_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    """GET /api/logs/dovecot: Dovecot's lines, newest first, with the message each delivery line belongs to."""
    def rows_of(query, order):
        rows = (query.select(DovecotLine, Message.correlation_key)
                .join(Message, join_type=JOIN.LEFT_OUTER, on=(Message.id == DovecotLine.message_ref))
                .order_by(*order).dicts())
        return [_item(r) for r in rows]
    return _page(scope, DovecotLine, dovecot_filters(scope, args), args, search_cap, rows_of)


def dovecot_for_export(scope: Scope, args: dict, limit: int):
    return (_item(r) for r in _newest(DovecotLine, dovecot_filters(scope, args), limit).dicts().iterator())


def message_dovecot_lines(message_id: int) -> list[tuple[str | None, DovecotStepLine]]:
    """A message's Dovecot lines in time order (its details), each with the recipient it is linked to."""
    rows = (DovecotLine.select(DovecotLine.recipient, DovecotLine.id, DovecotLine.time, DovecotLine.priority,
                               DovecotLine.message, DovecotLine.action, DovecotLine.folder, DovecotLine.session)
            .where(DovecotLine.message_ref == message_id).order_by(DovecotLine.time, DovecotLine.id).tuples())
    return [(recipient, DovecotStepLine(i, iso(t), p, m, a, f, s)) for recipient, i, t, p, m, a, f, s in rows]


def login_failures(scope: Scope, start: int | None, end: int | None, limit: int) -> LoginFailures:
    """Failed IMAP/POP3/ManageSieve logins by user and by IP: the attempts each login process
    reports when it disconnects (`auth failed, N attempts`), so each attempt counts once."""
    servers, server_values = scope.servers_sql("server")
    where = "kind = 'auth_failure'" + (" AND time >= ?" if start is not None else "") + \
        (" AND time <= ?" if end is not None else "") + servers
    params = [v for v in (start, end) if v is not None] + server_values
    found = {}
    for name, column, other in (("by_user", "user", "ip"), ("by_ip", "ip", "user")):
        rows = database.execute_sql(
            f"SELECT {column}, SUM(COALESCE(attempts, 1)), COUNT(DISTINCT {other}), MAX(time) FROM dovecot_line "
            f"WHERE {where} AND {column} IS NOT NULL GROUP BY {column} ORDER BY 2 DESC, 4 DESC LIMIT ?",
            [*params, limit]).fetchall()
        found[name] = [LoginFailureCount(key, attempts, others, iso(last)) for key, attempts, others, last in rows]
    return LoginFailures(**found)
