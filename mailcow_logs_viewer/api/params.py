"""Query-parameter schemas (marshmallow) shared by the API blueprints and the OpenAPI document.

Every view parses its parameters here, so a bad value is a 400 naming the parameter, never a
500; the same schemas describe the parameters in /api/openapi.json.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ..errors import ApiError
from ..queries.results import iso  # noqa: F401  (status.py writes times with it)

MAX_TEXT = 500


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


class Text(fields.String):
    def __init__(self, **kwargs):
        super().__init__(validate=[validate.Length(max=MAX_TEXT), _no_nul], **kwargs)


class Integer(fields.Integer):
    """A whole number written in ASCII digits: int() also reads "１２" and "١٢", which no client means."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Timestamp(fields.Field):
    """ISO 8601 date or date-time (a missing zone means UTC), or epoch seconds -> int epoch."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise ValidationError("must be an ISO 8601 date or date-time, e.g. 2025-12-25T10:30:00Z")
        text = value.strip()
        # isdigit() is true for "²" and "①" too, which int() refuses: only ASCII digits are epochs.
        if text.isascii() and text.isdigit():
            number = int(text)
            if number > 253402300799:
                raise ValidationError("epoch seconds out of range")
            return number
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
            else:
                parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("must be an ISO 8601 date or date-time, e.g. 2025-12-25T10:30:00Z") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp())


class QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE


class PageSchema(QuerySchema):
    page = Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=500))


class DateRangeMixin(QuerySchema):
    start_date = Timestamp()
    end_date = Timestamp()

    @validates_schema
    def _ordered(self, data, **kwargs):
        if "start_date" in data and "end_date" in data and data["start_date"] > data["end_date"]:
            raise ValidationError("must not be after end_date", "start_date")


def parse_args(schema: Schema, source=None) -> dict:
    """Validate request.args with `schema`; a bad value becomes 400 naming the parameter."""
    args = request.args if source is None else source
    try:
        return schema.load(args)
    except ValidationError as error:
        messages = error.normalized_messages()
        name, problems = next(iter(sorted(messages.items())))
        problem = problems[0] if isinstance(problems, list) else str(problems)
        if name == "_schema":
            raise ApiError(400, f"Invalid parameters: {problem}") from None
        raise ApiError(400, f"Invalid parameter '{name}': {problem}") from None


