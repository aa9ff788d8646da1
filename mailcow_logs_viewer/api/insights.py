"""GET /api/insights/{domains,mailboxes,destinations,reasons}: who sends what, who fails, and why.

Thin: parse the range, ask queries/insights.py, write its typed rows out. The counting rules
are there and in the README; every count has a `/messages` filter behind it (`domain=`,
`mailbox=`, `reason=` with the same range), built by the page.
"""
from __future__ import annotations

from flask import Blueprint
from marshmallow import fields, validate

from ..auth import current_scope
from ..queries import DIRECTIONS
from ..queries import insights as q
from .params import DateRangeMixin, parse_args
from .serialize import answer

bp = Blueprint("insights", __name__)


class InsightRangeSchema(DateRangeMixin):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EntitySchema(InsightRangeSchema):
    sort = fields.String(load_default="total", validate=validate.OneOf(q.SORTABLE))
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))


class DomainInsightSchema(EntitySchema):
    kind = fields.String(load_default="local", validate=validate.OneOf(("local", "remote")),
                         metadata={"description": "local: our domains; remote: the domains we exchange mail with"})


class ReasonSchema(InsightRangeSchema):
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


def _entities(kind: str, args: dict, local: bool):
    rows = q.entity_stats(current_scope(), kind, args.get("start_date"), args.get("end_date"), local=local, sort=args["sort"],
                          descending=args["order"] == "desc", limit=args["limit"])
    return answer({"data": rows})


@bp.get("/insights/domains")
def domains():
    args = parse_args(DomainInsightSchema())
    return _entities("domain", args, args["kind"] == "local")


@bp.get("/insights/mailboxes")
def mailboxes():
    return _entities("mailbox", parse_args(EntitySchema()), True)


@bp.get("/insights/destinations")
def destinations():
    args = parse_args(InsightRangeSchema())
    return answer({"data": q.destinations(current_scope(), args.get("start_date"), args.get("end_date"), limit=args["limit"])})


@bp.get("/insights/reasons")
def reasons():
    args = parse_args(ReasonSchema())
    return answer(q.top_reasons(current_scope(), args.get("start_date"), args.get("end_date"), args.get("direction"),
                                limit=args["limit"]))
