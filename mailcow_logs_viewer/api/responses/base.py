"""Response shapes of the JSON API (marshmallow): the field helpers, errors, health and info.

They follow spec/API.md plus the extra fields the implementation returns. They are never used
to build answers (those are the read model's typed results, written by api/serialize.py); they
describe them, and `Schema().validate(body)`
checks a real answer: every field is required unless marked optional (present only in some
answers), `nullable` ones may be null, and an unknown field is an error (RAISE), so an answer
that grows a field the document does not know fails the tests.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class Response(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


def _f(cls, *args, nullable: bool = False, optional: bool = False, **kwargs):
    return cls(*args, required=not optional, allow_none=nullable, **kwargs)


def Str(**kw):
    return _f(fields.String, **kw)


def Int(**kw):
    return _f(fields.Integer, strict=True, **kw)


def Num(**kw):
    return _f(fields.Float, **kw)


def Bool(**kw):
    return _f(fields.Boolean, **kw)


def Time(**kw):
    """An ISO 8601 UTC time as the API writes it: 2025-12-25T10:30:00Z."""
    return _f(fields.DateTime, format="iso", **kw)


def StrList(**kw):
    return _f(fields.List, fields.String(), **kw)


def One(schema, **kw):
    return _f(fields.Nested, schema, **kw)


def Many(schema, **kw):
    return _f(fields.List, fields.Nested(schema), **kw)


def MapOf(value_field, **kw):
    """An object with free keys (a symbol, a container, a recipient) and values of one shape."""
    return _f(fields.Dict, keys=fields.String(), values=value_field, **kw)


# ------------------------------------------------------------------ errors

class ErrorSchema(Response):
    detail = Str(metadata={"description": "One line saying what is wrong (never a traceback)"})


class InternalErrorSchema(Response):
    error = Str(metadata={"example": "Internal server error"})
    detail = Str(optional=True, metadata={"description": "Only in debug mode"})


# ------------------------------------------------------------------ health & info

class MailcowStateSchema(Response):
    reachable = Bool(nullable=True)
    last_success = Time(nullable=True)
    last_error = Str(nullable=True)
    last_error_at = Time(nullable=True)


class HealthConfigSchema(Response):
    fetch_interval = Int()
    retention_days = Int()
    mailcow_url = Str()
    blacklist_enabled = Bool()
    auth_enabled = Bool()


class HealthSchema(Response):
    status = Str(metadata={"enum": ["healthy", "degraded", "unhealthy"],
                           "description": "degraded (HTTP 200): the disk is full or mailcow refuses the key"})
    database = Str(metadata={"enum": ["connected", "error"]})
    version = Str()
    scheduler = Str(metadata={"enum": ["running", "stopped"]})
    mailcow = One(MailcowStateSchema)
    problems = StrList(optional=True, metadata={"description": "Why the status is degraded"})
    config = One(HealthConfigSchema, optional=True, metadata={"description": "Only when AUTH_ENABLED is false"})


class InfoSchema(Response):
    name = Str()
    version = Str()
    mailcow_url = Str()
    local_domains = StrList()
    fetch_interval = Int()
    retention_days = Int()
    timezone = Str()
    app_title = Str()
    app_logo_url = Str()
    blacklist_count = Int()
    auth_enabled = Bool()
    role = Str(metadata={"description": "The caller's role: admin, domain_admin or mailbox"})
    username = Str(metadata={"description": "Who signed in (empty without a login)"})
    servers = StrList(metadata={"description": "The mailcow servers' names, as configured; each API route "
                                               "takes one of them as `server=`"})


# ------------------------------------------------------------------ this document

class OpenAPIDocumentSchema(Response):
    openapi = Str(metadata={"example": "3.0.3"})
    info = _f(fields.Dict)
    paths = _f(fields.Dict)
    components = _f(fields.Dict)
    tags = _f(fields.List, fields.Dict(), optional=True)
    servers = _f(fields.List, fields.Dict(), optional=True)
    security = _f(fields.List, fields.Dict(), optional=True)


# ------------------------------------------------------------------ audit log

class AuditItemSchema(Response):
    time = Str()
    event = Str(metadata={"description": "sign_in | sign_in_failed | sign_out | export"})
    username = Str()
    role = Str(metadata={"description": "admin | domain_admin | mailbox; empty when unknown"})
    method = Str(metadata={"description": "password | mailcow; empty for exports and sign-outs"})
    client = Str()
    detail = Str()


class AuditListResponseSchema(Response):
    data = _f(fields.List, fields.Nested(AuditItemSchema))
