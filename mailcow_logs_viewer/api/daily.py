"""GET /api/stats/daily: the daily counters (messages per day, domain, mailbox, direction and
status), kept for COUNTER_RETENTION_DAYS after the messages; the CSV twin is in export.py."""
from __future__ import annotations

from flask import Blueprint
from marshmallow import fields, validate

from ..auth import current_scope
from ..queries.daily import daily_counts
from ..vocabulary import DIRECTIONS
from .params import DateRangeMixin, Integer, Text, parse_args
from .serialize import answer

bp = Blueprint("daily", __name__)

# A recipient's outcome (expired included) or an outbound message's status.
COUNTED_STATUSES = ("delivered", "discarded", "bounced", "expired", "deferred", "rejected", "pending")


class DailyFilterSchema(DateRangeMixin):
    domain = Text(metadata={"description": "Local party's domain"})
    mailbox = Text(metadata={"description": "Local party's address (the sender of outbound mail, else a recipient)"})
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    status = fields.String(validate=validate.OneOf(COUNTED_STATUSES))


class DailyListSchema(DailyFilterSchema):
    limit = Integer(load_default=1000, validate=validate.Range(min=1, max=10000),
                    metadata={"description": "Rows listed (the totals count every matching row)"})


@bp.get("/stats/daily")
def daily():
    args = parse_args(DailyListSchema())
    return answer(daily_counts(current_scope(), args, args["limit"]))
