"""GET /api/logs/postfix, /api/logs/postfix/by-queue/{queue_id}, /api/logs/rspamd, /api/logs/netfilter."""
from __future__ import annotations

from flask import Blueprint
from marshmallow import fields, validate

from ..errors import ApiError
from ..auth import current_scope
from ..queries.logs import netfilter_page, postfix_page, queue_lines, rspamd_page
from ..vocabulary import DIRECTIONS, NETFILTER_ACTIONS, POSTFIX_STATUSES, RSPAMD_ACTIONS
from .messages import search_cap
from .params import DateRangeMixin, PageSchema, Text, parse_args
from .serialize import answer

bp = Blueprint("logs", __name__)


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
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
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


@bp.get("/logs/postfix")
def postfix_logs():
    return answer(postfix_page(current_scope(), parse_args(PostfixListSchema()), search_cap()))


@bp.get("/logs/postfix/by-queue/<queue_id>", merge_slashes=False)
def postfix_by_queue(queue_id: str):
    lines = queue_lines(current_scope(), queue_id)
    if lines is None:
        raise ApiError(404, "Queue ID not found")
    return answer(lines)


@bp.get("/logs/rspamd")
def rspamd_logs():
    return answer(rspamd_page(current_scope(), parse_args(RspamdListSchema()), search_cap()))


@bp.get("/logs/netfilter")
def netfilter_logs():
    return answer(netfilter_page(current_scope(), parse_args(NetfilterListSchema()), search_cap()))
