"""JSON answers never carry `Infinity` or `NaN`: they are not JSON, and log text decides them.

A Postfix line can say `delay=1e400`; whatever a parser lets through, the answer writes a
number that does not fit a double as null. The common case costs one strict dump.
"""
from __future__ import annotations

import json
import math

from flask.json.provider import DefaultJSONProvider


def finite(value):
    """`value` with every non-finite float inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


class FiniteJSONProvider(DefaultJSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        try:
            return json.dumps(obj, allow_nan=False, **kwargs)
        except ValueError:
            return json.dumps(finite(obj), allow_nan=False, **kwargs)
