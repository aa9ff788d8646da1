"""GET /api/insights/{domains,mailboxes,destinations,reasons}: who sends what, who fails, and why.

Thin: parse the range, ask insights.py, write its rows out. The counting rules are in
insights.py and the README; every count has a `/messages` filter behind it (`domain=`,
`mailbox=`, `reason=` with the same range), built by the page.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify
from marshmallow import fields, validate

from .. import insights
from ..auth import current_scope
from ..queries import DIRECTIONS
from .params import DateRangeMixin, parse_args

bp = Blueprint("insights", __name__)


class InsightRangeSchema(DateRangeMixin):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EntitySchema(InsightRangeSchema):
    sort = fields.String(load_default="total", validate=validate.OneOf(insights.SORTABLE))
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))


class DomainInsightSchema(EntitySchema):
    kind = fields.String(load_default="local", validate=validate.OneOf(("local", "remote")),
                         metadata={"description": "local: our domains; remote: the domains we exchange mail with"})


class ReasonSchema(InsightRangeSchema):
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


def _public(row) -> dict:
    return {k: v for k, v in asdict(row).items() if not k.startswith("_")}


def _entities(kind: str, args: dict, local: bool):
    rows = insights.entity_stats(kind, args.get("start_date"), args.get("end_date"), local=local, sort=args["sort"],
                                 descending=args["order"] == "desc", limit=args["limit"], scope=current_scope())
    return jsonify({"data": [_public(r) for r in rows]})


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
    rows = insights.destinations(args.get("start_date"), args.get("end_date"), limit=args["limit"], scope=current_scope())
    return jsonify({"data": [_public(r) for r in rows]})


@bp.get("/insights/reasons")
def reasons():
    args = parse_args(ReasonSchema())
    rows = insights.top_reasons(args.get("start_date"), args.get("end_date"), args.get("direction"),
                                limit=args["limit"], scope=current_scope())
    return jsonify({"direction": args.get("direction"), "data": [_public(r) for r in rows]})
