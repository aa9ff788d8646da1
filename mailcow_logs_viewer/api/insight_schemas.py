"""Response shapes of /api/insights/... and /api/queue/health (see responses.py for the rules)."""
from __future__ import annotations

from marshmallow import fields

from .responses.base import Bool, Int, Many, MapOf, Num, Response, Str, StrList, Time, _f


class CounterpartSchema(Response):
    entity = Str()
    messages = Int()


class EntityStatsSchema(Response):
    entity = Str(metadata={"description": "A domain or a mailbox address (lower case)"})
    local = Bool(metadata={"description": "One of our domains (or a mailbox in one)"})
    sent = Int()
    received = Int()
    total = Int(metadata={"description": "Messages it sent or received"})
    delivered = Int()
    deferred = Int()
    bounced = Int()
    rejected = Int()
    spam = Int()
    delay_median = Num(nullable=True, metadata={"description": "Seconds, over its delivered recipients"})
    delay_p95 = Num(nullable=True)
    counterparts = Many(CounterpartSchema)


class EntityListSchema(Response):
    data = Many(EntityStatsSchema)


class DestinationSchema(Response):
    domain = Str()
    recipients = Int()
    delivered = Int()
    deferred = Int()
    bounced = Int()
    deferral_rate = Num()
    bounce_rate = Num()
    top_reason = Str(nullable=True)
    top_reason_count = Int()
    example_reply = Str(nullable=True)


class DestinationListSchema(Response):
    data = Many(DestinationSchema)


class ReasonGroupSchema(Response):
    reason = Str(metadata={"description": "The normalised reason; /api/messages?reason= lists its messages"})
    messages = Int()
    recipients = Int()
    bounced = Int()
    deferred = Int()
    rejected = Int()
    example = Str(nullable=True)


class ReasonListSchema(Response):
    direction = Str(nullable=True)
    data = Many(ReasonGroupSchema)



def IntList(**kw):
    return _f(fields.List, fields.Integer(strict=True), **kw)


class QueueGroupSchema(Response):
    key = Str(metadata={"description": "A destination domain, or a normalised delay reason"})
    messages = Int()
    oldest_age_seconds = Int(nullable=True)
    ages = IntList(metadata={"description": "Messages per age bucket (see `buckets`)"})
    example = Str(nullable=True)


class QueueHealthSchema(Response):
    size = Int()
    oldest_age_seconds = Int(nullable=True)
    oldest_queue_id = Str(nullable=True)
    buckets = StrList(metadata={"description": "Age buckets, qshape style: 0-5 min, 5-10 min, ..."})
    ages = IntList()
    by_domain = Many(QueueGroupSchema)
    by_reason = Many(QueueGroupSchema)
    fetched_at = Time()


class PlaceFields(Response):
    country_code = Str(nullable=True, metadata={"description": "ISO 3166 code; null when unknown or private"})
    country = Str(nullable=True)
    as_name = Str(nullable=True, metadata={"description": "With GEOIP=asn only"})


class ActiveBanSchema(PlaceFields):
    network = Str()
    ip = Str(nullable=True)
    banned_at = Time()
    until = Time(nullable=True, metadata={"description": "null: no duration logged, banned until an unban"})
    seconds_left = Int(nullable=True)
    server = Str(metadata={"description": "The mailcow server whose netfilter banned it"})


class ActiveBansSchema(Response):
    total = Int()
    data = Many(ActiveBanSchema)


class PlacesSchema(Response):
    data = MapOf(fields.Nested(PlaceFields), metadata={"description": "By IP address"})
