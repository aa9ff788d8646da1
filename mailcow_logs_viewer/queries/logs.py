"""The three log lists, a queue id's lines, and their CSV rows."""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import JOIN

from ..leg_rule import line_in_leg
from ..models import Leg, Message, NetfilterLine, PostfixLine, RspamdRow
from .counts import capped_count, row_count
from .filters import netfilter_filters, postfix_filters, rspamd_filters, select_where
from .messages import Page, make_page
from .results import ABSENT, INLINE, decode_json, iso, page_of
from .scope import Scope


@dataclass
class RspamdVerdict:
    time: str
    message_id: str | None
    subject: str | None
    score: float | None
    required_score: float | None
    action: str | None
    symbols: dict
    is_spam: bool
    direction: str
    ip: str | None
    user: str | None
    has_auth: bool
    size: int | None
    sender_smtp: str | None
    sender_mime: str | None
    recipients_smtp: list[str]
    recipients_mime: list[str]
    server: str


@dataclass
class RspamdLogItem:
    id: int
    verdict: RspamdVerdict = field(metadata=INLINE)
    correlation_key: str | None = None
    parsed: bool = True
    raw: object = ABSENT           # the original row, only when it could not be parsed


@dataclass
class NetfilterItem:
    id: int
    time: str
    priority: str
    message: str
    ip: str | None
    rule_id: int | None
    attempts_left: int | None
    username: str | None
    auth_method: str | None
    action: str | None
    server: str


@dataclass
class PostfixLogItem:
    id: int
    time: str
    program: str
    priority: str
    message: str
    queue_id: str | None
    message_id: str | None
    sender: str | None
    recipient: str | None
    status: str | None
    relay: str | None
    delay: float | None
    dsn: str | None
    kind: str | None
    parsed: bool
    correlation_key: str | None
    server: str


@dataclass
class QueueLines:
    queue_id: str
    correlation_key: str | None
    rspamd: RspamdVerdict | None
    logs: list[PostfixLogItem]


def rspamd_verdict(row: dict) -> RspamdVerdict:
    return RspamdVerdict(
        time=iso(row["time"]), message_id=row["message_id"], subject=row["subject"], score=row["score"],
        required_score=row["required_score"], action=row["action"], symbols=decode_json(row["symbols"], {}),
        is_spam=row["is_spam"], direction=row["direction"], ip=row["ip"], user=row["user"],
        has_auth=row["has_auth"], size=row["size"], sender_smtp=row["sender_smtp"], sender_mime=row["sender_mime"],
        recipients_smtp=decode_json(row["recipients_smtp"], []), recipients_mime=decode_json(row["recipients_mime"], []), server=row["server"])


def netfilter_item(row: NetfilterLine) -> NetfilterItem:
    return NetfilterItem(row.id, iso(row.time), row.priority, row.message, row.ip, row.rule_id, row.attempts_left,
                         row.username, row.auth_method, row.action, row.server)


def _postfix_item(row: dict) -> PostfixLogItem:
    return PostfixLogItem(
        id=row["id"], time=iso(row["time"]), program=row["program"], priority=row["priority"],
        message=row["message"], queue_id=row["queue_id"], message_id=row["message_id"] or row.get("leg_message_id"),
        sender=row["sender"] if row["sender"] is not None else row.get("leg_sender"), recipient=row["recipient"],
        status=row["status"], relay=row["relay"], delay=row["delay"], dsn=row["dsn"], kind=row["kind"],
        parsed=row["parsed"], correlation_key=row.get("correlation_key"), server=row["server"])


def _with_leg_and_message(query, message_of_line: bool):
    """Lines with their leg's message-id and sender and their message's key, in the same query."""
    on_message = Message.id == Leg.message_ref
    if message_of_line:
        on_message |= Message.id == PostfixLine.message_ref
    return (query.select(PostfixLine, Leg.message_id.alias("leg_message_id"), Leg.sender.alias("leg_sender"),
                         Message.correlation_key, Message.id.alias("message_pk"))
            .join(Leg, join_type=JOIN.LEFT_OUTER, on=line_in_leg())
            .join(Message, join_type=JOIN.LEFT_OUTER, on=on_message))


def _total(scope: Scope, model, where: list, search: bool, search_cap: int | None) -> int:
    """The whole table's count (a server's) is cached; a text search stops counting at
    MAX_SEARCH_RESULTS."""
    if scope.is_admin and len(where) == len(scope.line_filter(model)):   # no filter but the servers'
        return row_count(model, scope)
    return capped_count(select_where(model, where, model.id), search_cap if search else None)


def _page(scope: Scope, model, where: list, args: dict, search_cap: int | None, rows_of) -> Page:
    """A page of a log table, newest first. Past the last match there is nothing to read: a
    deep `page=` answers from the total alone, and a page inside is found on the time index."""
    page, limit = args["page"], args["limit"]
    total = _total(scope, model, where, bool(args.get("search")), search_cap)
    offset = (page - 1) * limit
    exact = not args.get("search") or total < (search_cap or 0)
    if offset >= total and exact:
        return make_page(total, page, limit, [])
    order = (model.time.desc(), model.id.desc())
    return make_page(total, page, limit, rows_of(page_of(select_where(model, where), order, offset, limit, model), order))


def postfix_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    def rows_of(query, order):
        return [_postfix_item(r) for r in _with_leg_and_message(query, True).order_by(*order).dicts()]
    return _page(scope, PostfixLine, postfix_filters(scope, args), args, search_cap, rows_of)


def rspamd_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    def rows_of(query, order):
        rows = (query.select(RspamdRow, Message.correlation_key)
                .join(Message, join_type=JOIN.LEFT_OUTER, on=(Message.id == RspamdRow.message_ref))
                .order_by(*order).dicts())
        return [RspamdLogItem(r["id"], rspamd_verdict(r), r["correlation_key"], r["parsed"],
                              ABSENT if r["parsed"] else decode_json(r["raw"], r["raw"])) for r in rows]
    return _page(scope, RspamdRow, rspamd_filters(scope, args), args, search_cap, rows_of)


def netfilter_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    return _page(scope, NetfilterLine, netfilter_filters(scope, args), args, search_cap,
                 lambda query, order: [netfilter_item(r) for r in query])


def queue_lines(scope: Scope, queue_id: str) -> QueueLines | None:
    """Every Postfix line of one queue id with the linked Rspamd verdict, or None."""
    if len(queue_id) > 64:
        return None
    where = scope.line_filter(PostfixLine) + [PostfixLine.queue_id == queue_id]
    rows = list(_with_leg_and_message(select_where(PostfixLine, where), False)
                .order_by(PostfixLine.time, PostfixLine.id).dicts())
    if not rows:
        return None
    keys = [r["correlation_key"] for r in rows if r["correlation_key"]]
    message_pk = next((r["message_pk"] for r in rows if r["message_pk"]), None)
    verdict = None
    if message_pk is not None:
        row = (RspamdRow.select().where(RspamdRow.message_ref == message_pk)
               .order_by(RspamdRow.time.desc(), RspamdRow.id.desc()).dicts().first())
        if row:
            verdict = rspamd_verdict(row)
    return QueueLines(queue_id, keys[-1] if keys else None, verdict, [_postfix_item(r) for r in rows])


# ------------------------------------------------------------------ CSV rows

def _newest(model, where: list, limit: int):
    return select_where(model, where).order_by(model.time.desc(), model.id.desc()).limit(limit)


def postfix_for_export(scope: Scope, args: dict, limit: int):
    return (_postfix_item(r) for r in _newest(PostfixLine, postfix_filters(scope, args), limit).dicts().iterator())


def rspamd_for_export(scope: Scope, args: dict, limit: int):
    return (rspamd_verdict(r) for r in _newest(RspamdRow, rspamd_filters(scope, args), limit).dicts().iterator())


def netfilter_for_export(scope: Scope, args: dict, limit: int):
    return (netfilter_item(r) for r in _newest(NetfilterLine, netfilter_filters(scope, args), limit).iterator())
