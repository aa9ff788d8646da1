"""GET /api/stats/...: dashboard counters, timeline, top spam symbols, top blocked IPs, activity,
and the security page's authentication failures.

What each number means is defined in queries/statistics.py (and the README).
"""
from __future__ import annotations

import time

from flask import Blueprint
from marshmallow import fields, validate

from ..queries import ADMIN
from ..queries import statistics as q
from ..queries.security import auth_failures as auth_failures_of
from .params import DateRangeMixin, QuerySchema, Text, parse_args
from .serialize import answer

bp = Blueprint("stats", __name__)

HOUR = 3600


class TimelineSchema(QuerySchema):
    hours = fields.Integer(load_default=24, validate=validate.Range(min=1, max=720))


class LimitSchema(QuerySchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    hours = fields.Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365))


class ActivitySchema(QuerySchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _now() -> int:
    return int(time.time())


@bp.get("/stats/dashboard")
def dashboard():
    return answer(q.dashboard(ADMIN, _now()))


@bp.get("/stats/timeline")
def timeline():
    return answer({"timeline": q.timeline(ADMIN, _now(), parse_args(TimelineSchema())["hours"])})


@bp.get("/stats/top-spam-triggers")
def top_spam_triggers():
    args = parse_args(LimitSchema())
    return answer({"triggers": q.top_spam_triggers(ADMIN, _now() - args["hours"] * HOUR, args["limit"])})


@bp.get("/stats/top-blocked-ips")
def top_blocked_ips():
    args = parse_args(LimitSchema())
    return answer({"blocked_ips": q.top_blocked_ips(ADMIN, _now() - args["hours"] * HOUR, args["limit"])})


@bp.get("/stats/recent-activity")
def recent_activity():
    return answer({"activity": q.recent_activity(ADMIN, parse_args(ActivitySchema())["limit"])})


class AuthFailureFilterSchema(DateRangeMixin):
    ip = Text()
    username = Text()
    action = fields.String(validate=validate.OneOf(("auth_failure", "banned")),
                           metadata={"description": "Only failures or only bans (default both)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500),
                           metadata={"description": "Rows of each ranking"})


@bp.get("/stats/auth-failures")
def auth_failures():
    args = parse_args(AuthFailureFilterSchema())
    return answer(auth_failures_of(ADMIN, args, _now(), args["limit"]))
