"""GET /api/audit: the audit log (sign-ins, failed sign-ins, sign-outs, exports), newest first.
The admin's only (access.py)."""
from __future__ import annotations

from flask import Blueprint, current_app
from marshmallow import fields, validate

from .params import QuerySchema, parse_args
from .serialize import answer

bp = Blueprint("audit", __name__)
AUDIT_EVENTS = ("sign_in", "sign_in_failed", "sign_out", "export")


class AuditListSchema(QuerySchema):
    event = fields.String(validate=validate.OneOf(AUDIT_EVENTS), metadata={"description": "Only this kind of event"})
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


@bp.get("/audit")
def audit():
    args = parse_args(AuditListSchema())
    log = current_app.extensions["runtime"].audit
    return answer({"data": log.recent(args["limit"], args.get("event"))})
