"""GET /api/messages and GET /api/message/{correlation_key}/details."""
from __future__ import annotations

from flask import Blueprint, current_app
from marshmallow import fields, validate

from ..errors import ApiError
from ..auth import current_scope
from ..queries.message_details import message_details as details_of
from ..queries.messages import message_page
from ..vocabulary import DIRECTIONS, STATUSES
from .params import DateRangeMixin, PageSchema, Text, parse_args
from .serialize import answer

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


def search_cap() -> int:
    return current_app.config["SETTINGS"].max_search_results


@bp.get("/messages")
def messages():
    return answer(message_page(current_scope(), parse_args(MessageListSchema()), search_cap()))


@bp.get("/message/<correlation_key>/details", merge_slashes=False)
def message_details(correlation_key: str):
    details = details_of(current_scope(), correlation_key)
    if details is None:
        raise ApiError(404, "Message not found")
    return answer(details)
