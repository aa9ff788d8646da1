"""GET /api/logs/postfix, /api/logs/postfix/by-queue/{queue_id}, /api/logs/rspamd, /api/logs/netfilter."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from peewee import JOIN
from marshmallow import fields, validate

from ..errors import ApiError
from ..facts import line_in_leg
from ..models import Leg, Message, NetfilterLine, PostfixLine, RspamdRow
from ..queries import (capped_count, decode_json, netfilter_filters, postfix_filters, row_count, rspamd_filters,
                       select_where)
from .messages import netfilter_item, rspamd_item
from .params import DateRangeMixin, PageSchema, Text, iso, page_envelope, parse_args

bp = Blueprint("logs", __name__)

POSTFIX_STATUSES = ("sent", "bounced", "deferred", "expired", "rejected")
RSPAMD_ACTIONS = ("no action", "greylist", "add header", "rewrite subject", "soft reject", "reject", "discard",
                  "quarantine")
NETFILTER_ACTIONS = ("warning", "banned", "unbanned", "denylisted", "allowlisted", "info", "auth_failure")


class PostfixFilterSchema(DateRangeMixin):
    search = Text()
    sender = Text()
    recipient = Text()
    status = fields.String(validate=validate.OneOf(POSTFIX_STATUSES))
    queue_id = Text()
    program = Text(metadata={"description": "The logging program: postfix/smtpd, or smtpd for short"})


class PostfixListSchema(PostfixFilterSchema, PageSchema):
    pass


class RspamdFilterSchema(DateRangeMixin):
    search = Text()
    sender = Text()
    direction = fields.String(validate=validate.OneOf(("inbound", "outbound", "internal", "unknown")))
    min_score = fields.Float(allow_nan=False, validate=validate.Range(min=-1e6, max=1e6))
    max_score = fields.Float(allow_nan=False, validate=validate.Range(min=-1e6, max=1e6))
    action = fields.String(validate=validate.OneOf(RSPAMD_ACTIONS))
    is_spam = fields.Boolean()
    symbol = Text(metadata={"description": "Rspamd matched this symbol (exact name)"})


class RspamdListSchema(RspamdFilterSchema, PageSchema):
    pass


class NetfilterFilterSchema(DateRangeMixin):
    search = Text()
    ip = Text()
    username = Text()
    action = fields.String(validate=validate.OneOf(NETFILTER_ACTIONS))


class NetfilterListSchema(NetfilterFilterSchema, PageSchema):
    pass


def _total(model, where: list, args: dict) -> int:
    """The whole table's count is cached; a text search stops counting at MAX_SEARCH_RESULTS."""
    if not where:
        return row_count(model)
    cap = current_app.config["SETTINGS"].max_search_results if args.get("search") else None
    return capped_count(select_where(model, where, model.id), cap)


def postfix_page(query, offset: int, limit: int) -> list[dict]:
    """A page of lines with their leg's message-id and sender and their message's key, in one query."""
    rows = (query.select(PostfixLine, Leg.message_id.alias("leg_message_id"), Leg.sender.alias("leg_sender"),
                         Message.correlation_key)
            .join(Leg, join_type=JOIN.LEFT_OUTER, on=line_in_leg())
            .join(Message, join_type=JOIN.LEFT_OUTER,
                  on=((Message.id == Leg.message_ref) | (Message.id == PostfixLine.message_ref)))
            .order_by(PostfixLine.time.desc(), PostfixLine.id.desc())
            .offset(offset).limit(limit).dicts())
    return [postfix_item(row) for row in rows]


def postfix_item(row: dict) -> dict:
    return {"id": row["id"], "time": iso(row["time"]), "program": row["program"], "priority": row["priority"],
            "message": row["message"], "queue_id": row["queue_id"],
            "message_id": row["message_id"] or row.get("leg_message_id"),
            "sender": row["sender"] if row["sender"] is not None else row.get("leg_sender"),
            "recipient": row["recipient"], "status": row["status"], "relay": row["relay"], "delay": row["delay"],
            "dsn": row["dsn"], "kind": row["kind"], "parsed": row["parsed"],
            "correlation_key": row.get("correlation_key")}


@bp.get("/logs/postfix")
def postfix_logs():
    args = parse_args(PostfixListSchema())
    where = postfix_filters(args)
    total = _total(PostfixLine, where, args)
    data = postfix_page(select_where(PostfixLine, where), (args["page"] - 1) * args["limit"], args["limit"])
    return jsonify(page_envelope(total, args["page"], args["limit"], data))


@bp.get("/logs/postfix/by-queue/<queue_id>", merge_slashes=False)
def postfix_by_queue(queue_id: str):
    if len(queue_id) > 64:
        raise ApiError(404, "Queue ID not found")
    rows = (PostfixLine.select(PostfixLine, Leg.message_id.alias("leg_message_id"), Leg.sender.alias("leg_sender"),
                               Message.correlation_key, Message.id.alias("message_pk"))
            .join(Leg, join_type=JOIN.LEFT_OUTER, on=line_in_leg())
            .join(Message, join_type=JOIN.LEFT_OUTER, on=(Message.id == Leg.message_ref))
            .where(PostfixLine.queue_id == queue_id)
            .order_by(PostfixLine.time, PostfixLine.id).dicts())
    rows = list(rows)
    if not rows:
        raise ApiError(404, "Queue ID not found")
    keys = [r["correlation_key"] for r in rows if r["correlation_key"]]
    message_pk = next((r["message_pk"] for r in rows if r["message_pk"]), None)
    verdict = None
    if message_pk is not None:
        row = (RspamdRow.select().where(RspamdRow.message_ref == message_pk)
               .order_by(RspamdRow.time.desc(), RspamdRow.id.desc()).dicts().first())
        if row:
            verdict = rspamd_item(row)
    return jsonify({"queue_id": queue_id, "correlation_key": keys[-1] if keys else None, "rspamd": verdict,
                    "logs": [postfix_item(r) for r in rows]})


@bp.get("/logs/rspamd")
def rspamd_logs():
    args = parse_args(RspamdListSchema())
    where = rspamd_filters(args)
    total = _total(RspamdRow, where, args)
    rows = (select_where(RspamdRow, where, RspamdRow, Message.correlation_key)
            .join(Message, join_type=JOIN.LEFT_OUTER, on=(Message.id == RspamdRow.message_ref))
            .order_by(RspamdRow.time.desc(), RspamdRow.id.desc())
            .offset((args["page"] - 1) * args["limit"]).limit(args["limit"]).dicts())
    data = []
    for row in rows:
        item = {"id": row["id"], **rspamd_item(row), "correlation_key": row["correlation_key"], "parsed": row["parsed"]}
        if not row["parsed"]:
            item["raw"] = decode_json(row["raw"], row["raw"])
        data.append(item)
    return jsonify(page_envelope(total, args["page"], args["limit"], data))


@bp.get("/logs/netfilter")
def netfilter_logs():
    args = parse_args(NetfilterListSchema())
    where = netfilter_filters(args)
    total = _total(NetfilterLine, where, args)
    rows = (select_where(NetfilterLine, where).order_by(NetfilterLine.time.desc(), NetfilterLine.id.desc())
            .offset((args["page"] - 1) * args["limit"]).limit(args["limit"]))
    return jsonify(page_envelope(total, args["page"], args["limit"], [netfilter_item(r) for r in rows]))
