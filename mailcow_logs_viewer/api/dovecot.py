"""GET /api/logs/dovecot: Dovecot's lines (LMTP deliveries with
their Sieve verdicts, logins, password checks), with the message each delivery line belongs to."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import fields, validate
from peewee import JOIN

from ..models import DovecotLine, Message
from ..parsing.dovecot import ACTIONS
from ..queries import dovecot_filters, dovecot_login_failures, select_where
from .logs import _total
from .params import DateRangeMixin, PageSchema, Text, iso, page_envelope, parse_args

bp = Blueprint("dovecot", __name__)

KINDS = ("lmtp", "session", "login", "auth_failure", "auth_check", "other")


class DovecotFilterSchema(DateRangeMixin):
    search = Text()
    user = Text(metadata={"description": "The mailbox (lmtp) or login name"})
    message_id = Text()
    session = Text(metadata={"description": "LMTP session id, as in Postfix's '250 2.0.0 <rcpt> ID Saved'"})
    kind = fields.String(validate=validate.OneOf(KINDS))
    action = fields.String(validate=validate.OneOf(ACTIONS))


class DovecotListSchema(DovecotFilterSchema, PageSchema):
    pass


def dovecot_item(row: dict) -> dict:
    return {"id": row["id"], "time": iso(row["time"]), "priority": row["priority"], "message": row["message"],
            "parsed": row["parsed"], "kind": row["kind"], "service": row["service"], "user": row["user"],
            "session": row["session"], "message_id": row["message_id"], "action": row["action"],
            "folder": row["folder"], "target": row["target"], "ip": row["ip"], "recipient": row["recipient"],
            "correlation_key": row.get("correlation_key")}


@bp.get("/logs/dovecot")
def dovecot_logs():
    args = parse_args(DovecotListSchema())
    where = dovecot_filters(args)
    total = _total(DovecotLine, where, args)
    rows = (select_where(DovecotLine, where, DovecotLine, Message.correlation_key)
            .join(Message, join_type=JOIN.LEFT_OUTER, on=(Message.id == DovecotLine.message_ref))
            .order_by(DovecotLine.time.desc(), DovecotLine.id.desc())
            .offset((args["page"] - 1) * args["limit"]).limit(args["limit"]).dicts())
    return jsonify(page_envelope(total, args["page"], args["limit"], [dovecot_item(r) for r in rows]))


class LoginFailuresSchema(DateRangeMixin):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


@bp.get("/stats/dovecot-login-failures")
def login_failures():
    args = parse_args(LoginFailuresSchema())
    found = dovecot_login_failures(args.get("start_date"), args.get("end_date"), args["limit"])
    return jsonify({name: [{**row, "last_seen": iso(row["last_seen"])} for row in rows]
                    for name, rows in found.items()})
