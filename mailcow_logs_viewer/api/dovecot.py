"""GET /api/logs/dovecot: Dovecot's lines (LMTP deliveries with their Sieve verdicts, logins,
password checks), with the message each delivery line belongs to; failed mailbox logins."""
from __future__ import annotations

from flask import Blueprint
from marshmallow import fields, validate

from ..parsing.dovecot import ACTIONS
from ..auth import current_scope
from ..queries.dovecot import dovecot_page, login_failures as failures_of
from .messages import search_cap
from .params import DateRangeMixin, Integer, PageSchema, Text, parse_args
from .serialize import answer

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


@bp.get("/logs/dovecot")
def dovecot_logs():
    return answer(dovecot_page(current_scope(), parse_args(DovecotListSchema()), search_cap()))


class LoginFailuresSchema(DateRangeMixin):
    limit = Integer(load_default=10, validate=validate.Range(min=1, max=100))


@bp.get("/stats/dovecot-login-failures")
def login_failures():
    args = parse_args(LoginFailuresSchema())
    return answer(failures_of(current_scope(), args.get("start_date"), args.get("end_date"), args["limit"]))
