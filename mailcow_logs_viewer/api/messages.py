"""GET /api/messages and GET /api/message/{correlation_key}/details."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from marshmallow import fields, validate

from .. import mailbox_stage
from ..errors import ApiError
from ..facts import load_facts
from ..models import Message, NetfilterLine
from ..reasons import FAILED, failing_first, reason_key, short_reason
from ..queries import DIRECTIONS, STATUSES, count_messages, decode_json, list_messages, outcomes_by_message
from .params import DateRangeMixin, PageSchema, Text, iso, page_envelope, parse_args

bp = Blueprint("messages", __name__)
RELATED_LIMIT = 50          # messages sharing a Message-ID listed in details (thousands exist)


class MessageFilterSchema(DateRangeMixin):
    search = Text()
    sender = Text()
    recipient = Text()
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    user = Text()
    ip = Text()
    domain = Text(metadata={"description": "Sent by or to this domain (insights)"})
    mailbox = Text(metadata={"description": "Sent by or to this address (insights)"})
    reason = Text(metadata={"description": "A failed recipient has this normalised reason (top reasons)"})


class MessageListSchema(MessageFilterSchema, PageSchema):
    pass


def message_summary(message: Message, outcomes=None) -> dict:
    recipients = [r for r in (message.recipients or "").split(", ") if r]
    item = {
        "correlation_key": message.correlation_key,
        "message_id": message.message_id,
        "queue_id": message.queue_id,
        "sender": message.sender,
        "recipient": recipients[0] if recipients else None,
        "subject": message.subject,
        "direction": message.direction,
        "final_status": message.final_status,
        "is_complete": message.is_complete,
        "first_seen": iso(message.first_seen),
        "last_seen": iso(message.last_seen),
        "spam_score": message.spam_score,
        "is_spam": message.is_spam,
        "user": message.user,
        "ip": message.ip,
        "recipients": recipients,
        "recipient_count": message.recipient_count,
        "queue_ids": message.queue_ids.split() if message.queue_ids else [],
        "size": message.size,
        "reject_reason": message.reject_reason,
    }
    if outcomes is not None:
        # Failed recipients first: a bounce must never hide behind "+2 more".
        ordered = failing_first(outcomes)
        item["outcomes"] = [{"recipient": o.recipient, "status": o.status, "dsn": o.dsn,
                             "reply": short_reason(o.reply) if o.status in FAILED else None, **mailbox_step(o)}
                            for o in ordered]
        failed = next((o for o in ordered if o.status in FAILED), None)
        text = (failed.reply or message.reject_reason) if failed else (None if ordered else message.reject_reason)
        item["reason"] = short_reason(text)
        item["reason_key"] = reason_key(failed.dsn if failed else None, text) if text else None
    return item


def mailbox_step(outcome) -> dict:
    """What Dovecot did with this recipient (the mailbox stage)."""
    return {"folder": outcome.folder, "redirected_to": [a for a in (outcome.redirected_to or "").split(", ") if a],
            "auto_reply": outcome.auto_reply, "reason": outcome.reason}


def dovecot_step_item(line: dict) -> dict:
    return {"id": line["id"], "time": iso(line["time"]), "priority": line["priority"], "message": line["message"],
            "action": line["action"], "folder": line["folder"], "session": line["session"]}


@bp.get("/messages")
def messages():
    args = parse_args(MessageListSchema())
    page, limit = args["page"], args["limit"]
    rows = list_messages(args, (page - 1) * limit, limit)
    outcomes = outcomes_by_message([m.id for m in rows])
    data = [message_summary(m, outcomes[m.id]) for m in rows]
    # A text search stops counting at MAX_SEARCH_RESULTS: the page itself is found from the
    # newest end, but an exact total would walk every match.
    cap = current_app.config["SETTINGS"].max_search_results if args.get("search") else None
    return jsonify(page_envelope(count_messages(args, cap), page, limit, data))


def postfix_line_item(line: dict) -> dict:
    return {"id": line["id"], "time": iso(line["time"]), "program": line["program"], "priority": line["priority"],
            "message": line["message"], "queue_id": line["queue_id"], "recipient": line["recipient"],
            "status": line["status"], "relay": line["relay"], "delay": line["delay"], "dsn": line["dsn"]}


def rspamd_item(row: dict) -> dict:
    return {
        "time": iso(row["time"]), "message_id": row["message_id"], "subject": row["subject"],
        "score": row["score"], "required_score": row["required_score"], "action": row["action"],
        "symbols": decode_json(row["symbols"], {}), "is_spam": row["is_spam"], "direction": row["direction"],
        "ip": row["ip"], "user": row["user"], "has_auth": row["has_auth"], "size": row["size"],
        "sender_smtp": row["sender_smtp"], "sender_mime": row["sender_mime"],
        "recipients_smtp": decode_json(row["recipients_smtp"], []),
        "recipients_mime": decode_json(row["recipients_mime"], []),
    }


def netfilter_item(row: NetfilterLine) -> dict:
    return {"id": row.id, "time": iso(row.time), "priority": row.priority, "message": row.message, "ip": row.ip,
            "rule_id": row.rule_id, "attempts_left": row.attempts_left, "username": row.username,
            "auth_method": row.auth_method, "action": row.action}


@bp.get("/message/<correlation_key>/details", merge_slashes=False)
def message_details(correlation_key: str):
    if len(correlation_key) > 128:
        raise ApiError(404, "Message not found")
    message = Message.get_or_none(Message.correlation_key == correlation_key)
    if message is None:
        raise ApiError(404, "Message not found")
    # The same facts the status was computed from (one rule for which lines are the message's).
    facts = load_facts([message.id], with_text=True)[message.id]
    legs, lines = facts.legs, facts.lines
    rows = facts.rspamd
    outcomes = outcomes_by_message([message.id])[message.id]

    items = [postfix_line_item(line) for line in lines]
    by_recipient: dict[str, list] = {o.recipient: [] for o in outcomes}
    by_recipient["_system"] = []
    for item in items:
        by_recipient.setdefault(item["recipient"] or "_system", []).append(item)
    by_leg: dict[int, list] = {}
    for line, item in zip(lines, items):
        by_leg.setdefault(line["leg_id"], []).append(item)

    body = message_summary(message)
    body["rspamd"] = rspamd_item(rows[-1]) if rows else None
    body["rspamd_history"] = [rspamd_item(r) for r in rows]
    body["postfix"] = items
    body["postfix_by_recipient"] = by_recipient
    body["netfilter"] = _netfilter_around(message)
    dovecot = mailbox_stage.lines_of(message.id)
    related = _related(message)
    body["outcomes"] = [{"recipient": o.recipient, "orig_to": o.orig_to, "status": o.status, "dsn": o.dsn,
                         "relay": o.relay, "delay": o.delay, "reply": o.reply, "attempts": o.attempts,
                         "last_time": iso(o.last_time), **_mailbox_details(o, dovecot, related)} for o in outcomes]
    body["dovecot"] = [dovecot_step_item(line) for line in dovecot]
    body["legs"] = [{"queue_id": leg["queue_id"], "role": _leg_role(leg, message, i), "first_seen": iso(leg["first_time"]),
                     "last_seen": iso(leg["last_time"]), "removed": leg["removed"], "client_ip": leg["client_ip"],
                     "lines": by_leg.get(leg["id"], [])} for i, leg in enumerate(legs)]
    body["related"] = related
    return jsonify(body)


def _mailbox_details(outcome, dovecot: list[dict], related: list[dict]) -> dict:
    """The mailbox step with its lines and, for each redirect, the forwarded copy's message."""
    step = mailbox_step(outcome)
    copies = {r["recipients"].lower(): r["correlation_key"] for r in related if r["relation"] == "redirected_copy"}
    step["redirects"] = [{"address": a, "correlation_key": copies.get(a.lower())} for a in step["redirected_to"]]
    step["mailbox_lines"] = [dovecot_step_item(line) for line in dovecot
                             if (line["recipient"] or "").lower() == outcome.recipient.lower()]
    return step


def _leg_role(leg: dict, message: Message, index: int) -> str:
    if leg["role"] != "primary":
        return leg["role"]
    if message.related_ref is not None:
        return "notice"
    return "primary" if index == 0 else "retry"


def _netfilter_around(message: Message) -> list:
    if not message.ip:
        return []
    rows = (NetfilterLine.select()
            .where(NetfilterLine.ip == message.ip,
                   NetfilterLine.time.between(message.first_seen - 3600, message.last_seen + 3600))
            .order_by(NetfilterLine.time, NetfilterLine.id).limit(500))
    return [netfilter_item(r) for r in rows]


def _related(message: Message) -> list:
    related = []
    # A redirected copy or a vacation reply was sent by the original's Sieve (mailbox_stage).
    toward = {None: "reports_on", "redirect": "redirect_of", "auto_reply": "auto_reply_to"}
    back = {None: "notice", "redirect": "redirected_copy", "auto_reply": "auto_reply"}
    if message.related_ref is not None:
        original = Message.get_or_none(Message.id == message.related_ref)
        if original is not None:
            related.append((toward.get(message.related_kind, "reports_on"), original))
    for notice in Message.select().where(Message.related_ref == message.id).order_by(Message.first_seen):
        related.append((back.get(notice.related_kind, "notice"), notice))
    # Other transactions that reused the Message-ID (a list copy, a BCC): messages of their own
    # (a redirected copy, which shares it, is listed once, as the copy).
    if message.message_id:
        listed = {m.id for _, m in related}
        for other in (Message.select().where(Message.message_id == message.message_id, Message.id != message.id)
                      .order_by(Message.first_seen).limit(RELATED_LIMIT)):
            if other.id not in listed:
                related.append(("same_message_id", other))
    return [{"correlation_key": m.correlation_key, "relation": relation, "sender": m.sender, "subject": m.subject,
             "final_status": m.final_status, "first_seen": iso(m.first_seen), "recipients": m.recipients}
            for relation, m in related]
