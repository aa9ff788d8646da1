"""GET /api/stats/...: dashboard counters, timeline, top spam symbols, top blocked IPs, activity,
and the security page's authentication failures.

What each number means is defined in queries/statistics.py (and the README).
"""
from __future__ import annotations

import time

from flask import Blueprint
from marshmallow import fields, validate

from ..auth import current_scope
from ..queries import statistics as q
from ..queries.security import auth_failures as auth_failures_of
from ..errors import ApiError
from .params import DateRangeMixin, Integer, QuerySchema, Text, Timestamp, parse_args
from .security_now import geo
from .serialize import answer

bp = Blueprint("stats", __name__)

HOUR, DAY = 3600, 86400


class EndSchema(QuerySchema):
    # The windows end here instead of now (ISO 8601 or epoch seconds).
    end = Timestamp()


class TimelineSchema(EndSchema):
    hours = Integer(load_default=24, validate=validate.Range(min=1, max=720))


class LimitSchema(EndSchema):
    limit = Integer(load_default=10, validate=validate.Range(min=1, max=100))
    hours = Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365))


class ActivitySchema(EndSchema):
    limit = Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _now() -> int:
    return int(time.time())


def _end(args: dict) -> int:
    """The end of the windows: `end`, never later than now; epoch times only (from 1970 on)."""
    end = args.get("end", _now())
    if end < 30 * DAY:
        raise ApiError(400, "end: must be after 1970-01-31")
    return min(end, _now())


@bp.get("/stats/dashboard")
def dashboard():
    return answer(q.dashboard(current_scope(), _end(parse_args(EndSchema()))))


@bp.get("/stats/timeline")
def timeline():
    args = parse_args(TimelineSchema())
    return answer({"timeline": q.timeline(current_scope(), _end(args), args["hours"])})


@bp.get("/stats/top-spam-triggers")
def top_spam_triggers():
    args = parse_args(LimitSchema())
    end = _end(args)
    return answer({"triggers": q.top_spam_triggers(current_scope(), end - args["hours"] * HOUR, end, args["limit"])})


@bp.get("/stats/top-blocked-ips")
def top_blocked_ips():
    args = parse_args(LimitSchema())
    end = _end(args)
    return answer({"blocked_ips": q.top_blocked_ips(current_scope(), end - args["hours"] * HOUR, end, args["limit"])})


@bp.get("/stats/recent-activity")
def recent_activity():
    args = parse_args(ActivitySchema())
    return answer({"activity": q.recent_activity(current_scope(), _end(args), args["limit"])})


class AuthFailureFilterSchema(DateRangeMixin):
    ip = Text()
    username = Text()
    action = fields.String(validate=validate.OneOf(("auth_failure", "banned")),
                           metadata={"description": "Only failures or only bans (default both)"})
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=500),
                           metadata={"description": "Rows of each ranking"})


@bp.get("/stats/auth-failures")
def auth_failures():
    args = parse_args(AuthFailureFilterSchema())
    return answer(auth_failures_of(current_scope(), args, _now(), args["limit"], geo().place))
