"""Shapes of the statistics answers."""
from __future__ import annotations

from .base import Bool, Int, Many, MapOf, Num, One, Response, Str, StrList, Time, _f  # noqa: F401


# ------------------------------------------------------------------ statistics

class Window24h7d(Response):
    class Meta:
        include = {"24h": Int(), "7d": Int()}


class MessageCountsSchema(Response):
    class Meta:
        include = {"24h": Int(), "7d": Int(), "30d": Int()}


class SpamCountsSchema(Response):
    class Meta:
        include = {"24h": Int(), "7d": Int(), "percentage_24h": Num()}


class DirectionCountsSchema(Response):
    inbound_24h = Int()
    outbound_24h = Int()
    internal_24h = Int()


class RejectedCountsSchema(Response):
    class Meta:
        include = {"24h": Int(), "7d": Int(), "permanent_24h": Int(), "temporary_24h": Int(),
                   "permanent_7d": Int(), "temporary_7d": Int()}


class DataRangeSchema(Response):
    first = Time(nullable=True)
    last = Time(nullable=True)


class DashboardSchema(Response):
    messages = One(MessageCountsSchema)
    spam = One(SpamCountsSchema)
    failed_deliveries = One(Window24h7d)
    rejected = One(RejectedCountsSchema)
    discarded = One(Window24h7d, metadata={"description": "Messages with a recipient a Sieve rule discarded"})
    auth_failures = One(Window24h7d)
    direction = One(DirectionCountsSchema)
    window_end = Time()
    data_range = One(DataRangeSchema)


class TimelineBucketSchema(Response):
    hour = Time()
    total = Int()
    spam = Int()
    clean = Int()
    failed = Int()
    rejected = Int()


class TimelineResponseSchema(Response):
    timeline = Many(TimelineBucketSchema)


class TriggerSchema(Response):
    symbol = Str()
    count = Int()
    average_score = Num(nullable=True)


class TopSpamTriggersSchema(Response):
    triggers = Many(TriggerSchema)


class BlockedIpSchema(Response):
    ip = Str()
    count = Int()
    last_seen = Time(nullable=True)
    bans = Int()


class TopBlockedIpsSchema(Response):
    blocked_ips = Many(BlockedIpSchema)


class ActivityItemSchema(Response):
    time = Time()
    sender = Str(nullable=True)
    recipient = Str(nullable=True)
    subject = Str(nullable=True)
    direction = Str()
    status = Str()
    is_spam = Bool()
    correlation_key = Str()


class RecentActivitySchema(Response):
    activity = Many(ActivityItemSchema)


class IpFailuresSchema(Response):
    ip = Str()
    failures = Int()
    bans = Int()
    usernames = StrList(metadata={"description": "The first usernames tried from this IP (sorted)"})
    username_count = Int()
    last_seen = Time()
    country_code = Str(nullable=True, metadata={"description": "ISO 3166 alpha-2; null when unknown or private"})
    country = Str(nullable=True)
    as_name = Str(nullable=True)


class UsernameFailuresSchema(Response):
    username = Str()
    failures = Int()
    ips = StrList(metadata={"description": "The first IPs that tried this username (sorted)"})
    ip_count = Int()
    methods = StrList()
    last_seen = Time()


class FailureBucketSchema(Response):
    time = Time()
    failures = Int()
    bans = Int()


class AuthFailuresSchema(Response):
    failures = Int(metadata={"description": "Authentication failures, counted as the dashboard counts them"})
    bans = Int()
    distinct_ips = Int()
    usernames = Int(metadata={"description": "Distinct usernames in the failures"})
    by_ip = Many(IpFailuresSchema)
    by_username = Many(UsernameFailuresSchema)
    unit = Str(metadata={"enum": ["hour", "day"]})
    timeline = Many(FailureBucketSchema)


# ------------------------------------------------------------------ daily counters (issue 15)

class DailyCountRowSchema(Response):
    date = Str(metadata={"description": "UTC day of the messages' first line (YYYY-MM-DD)"})
    domain = Str(metadata={"description": "The local party's domain (empty: the message had none)"})
    mailbox = Str(metadata={"description": "The local party: an outbound message's sender, else each recipient"})
    direction = Str()
    status = Str()
    messages = Int()
    server = Str(metadata={"description": "The mailcow server the messages entered at"})


class DayTotalSchema(Response):
    date = Str()
    messages = Int()


class DailyCountsSchema(Response):
    total = Int(metadata={"description": "Counted messages in the range (once per local party)"})
    by_day = Many(DayTotalSchema, metadata={"description": "Newest day first"})
    rows = Many(DailyCountRowSchema)
    rows_truncated = Bool(metadata={"description": "More rows matched than `limit`"})
