"""Response shapes of the JSON API (marshmallow), for /api/openapi.json and the tests.

They follow spec/API.md plus the extra fields the implementation returns. They are never used
to build answers (the views build plain dicts); they describe them, and `Schema().validate(body)`
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


# ------------------------------------------------------------------ messages

class PageEnvelope(Response):
    total = Int()
    page = Int()
    limit = Int()
    pages = Int()


RECIPIENT_STATUSES = ["delivered", "discarded", "bounced", "expired", "deferred", "rejected", "pending"]


class MailboxStepFields(Response):
    """What Dovecot did with a delivered recipient (the mailbox stage; null without a Dovecot line)."""
    folder = Str(nullable=True, metadata={"description": "Where Dovecot stored it (INBOX, Junk, ...)"})
    redirected_to = StrList(metadata={"description": "Addresses a Sieve redirect forwarded it to"})
    auto_reply = Str(nullable=True, metadata={"description": "Vacation reply: 'sent to x' or 'not sent: why'"})
    reason = Str(nullable=True, metadata={"description": "A mailbox refusal in plain words (over quota, ...)"})


class OutcomeBriefSchema(MailboxStepFields):
    recipient = Str()
    status = Str(metadata={"enum": RECIPIENT_STATUSES})
    dsn = Str(nullable=True, optional=True)
    reply = Str(nullable=True, optional=True, metadata={"description": "The remote reply or our refusal, when it failed"})


class MessageSummaryFields(Response):
    correlation_key = Str()
    message_id = Str(nullable=True)
    queue_id = Str(nullable=True)
    sender = Str(nullable=True)
    recipient = Str(nullable=True, metadata={"description": "The first recipient"})
    subject = Str(nullable=True)
    direction = Str()
    final_status = Str()
    is_complete = Bool()
    first_seen = Time()
    last_seen = Time()
    spam_score = Num(nullable=True)
    is_spam = Bool()
    user = Str(nullable=True)
    ip = Str(nullable=True)
    recipients = StrList()
    recipient_count = Int()
    queue_ids = StrList()
    size = Int(nullable=True)
    reject_reason = Str(nullable=True)


class MessageSummarySchema(MessageSummaryFields):
    outcomes = Many(OutcomeBriefSchema)
    reason = Str(nullable=True, optional=True, metadata={"description": "Why it failed: its first failed recipient's reply"})
    reason_key = Str(nullable=True, optional=True,
                     metadata={"description": "That reply normalised, as on the top reasons (the `reason=` filter)"})


class MessageListResponseSchema(PageEnvelope):
    data = Many(MessageSummarySchema)


class SymbolSchema(Response):
    score = Num(nullable=True)
    metric_score = Num(optional=True, nullable=True)
    description = Str(optional=True, nullable=True)
    options = StrList(optional=True, nullable=True)


class RspamdVerdictSchema(Response):
    time = Time()
    message_id = Str(nullable=True)
    subject = Str(nullable=True)
    score = Num(nullable=True)
    required_score = Num(nullable=True)
    action = Str(nullable=True)
    symbols = MapOf(fields.Nested(SymbolSchema))
    is_spam = Bool()
    direction = Str()
    ip = Str(nullable=True)
    user = Str(nullable=True)
    has_auth = Bool()
    size = Int(nullable=True)
    sender_smtp = Str(nullable=True)
    sender_mime = Str(nullable=True)
    recipients_smtp = StrList()
    recipients_mime = StrList()


class MessagePostfixLineSchema(Response):
    id = Int()
    time = Time()
    program = Str()
    priority = Str()
    message = Str()
    queue_id = Str(nullable=True)
    recipient = Str(nullable=True)
    status = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    dsn = Str(nullable=True)


class NetfilterItemSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    ip = Str(nullable=True)
    rule_id = Int(nullable=True)
    attempts_left = Int(nullable=True)
    username = Str(nullable=True)
    auth_method = Str(nullable=True)
    action = Str(nullable=True)


class RedirectSchema(Response):
    address = Str()
    correlation_key = Str(nullable=True, metadata={"description": "The forwarded copy, once its lines are seen"})


class DovecotStepLineSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    action = Str(nullable=True)
    folder = Str(nullable=True)
    session = Str(nullable=True)


class OutcomeSchema(MailboxStepFields):
    recipient = Str()
    orig_to = Str(nullable=True)
    status = Str(metadata={"enum": RECIPIENT_STATUSES})
    redirects = Many(RedirectSchema)
    mailbox_lines = Many(DovecotStepLineSchema, metadata={"description": "This recipient's Dovecot lines"})
    dsn = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    reply = Str(nullable=True)
    attempts = Int()
    last_time = Time(nullable=True)


class LegSchema(Response):
    queue_id = Str()
    role = Str(metadata={"enum": ["primary", "retry", "reinjected", "notice"]})
    first_seen = Time()
    last_seen = Time()
    removed = Bool()
    client_ip = Str(nullable=True)
    lines = Many(MessagePostfixLineSchema)


class RelatedMessageSchema(Response):
    correlation_key = Str()
    relation = Str(metadata={"enum": ["reports_on", "notice", "same_message_id", "redirect_of", "redirected_copy",
                                      "auto_reply_to", "auto_reply"]})
    sender = Str(nullable=True)
    subject = Str(nullable=True)
    final_status = Str()
    first_seen = Time()
    recipients = Str(metadata={"description": "Comma separated"})


class MessageDetailsSchema(MessageSummaryFields):
    rspamd = One(RspamdVerdictSchema, nullable=True, metadata={"description": "The latest Rspamd verdict"})
    rspamd_history = Many(RspamdVerdictSchema)
    postfix = Many(MessagePostfixLineSchema)
    postfix_by_recipient = MapOf(fields.List(fields.Nested(MessagePostfixLineSchema)),
                                 metadata={"description": "Lines per recipient; `_system` holds the others"})
    netfilter = Many(NetfilterItemSchema)
    outcomes = Many(OutcomeSchema)
    legs = Many(LegSchema)
    related = Many(RelatedMessageSchema)
    dovecot = Many(DovecotStepLineSchema, metadata={"description": "Raw Dovecot lines of this message"})


# ------------------------------------------------------------------ logs

class PostfixLogSchema(Response):
    id = Int()
    time = Time()
    program = Str()
    priority = Str()
    message = Str()
    queue_id = Str(nullable=True)
    message_id = Str(nullable=True)
    sender = Str(nullable=True)
    recipient = Str(nullable=True)
    status = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    dsn = Str(nullable=True)
    kind = Str(nullable=True)
    parsed = Bool()
    correlation_key = Str(nullable=True)


class PostfixLogListSchema(PageEnvelope):
    data = Many(PostfixLogSchema)


class PostfixByQueueSchema(Response):
    queue_id = Str()
    correlation_key = Str(nullable=True)
    rspamd = One(RspamdVerdictSchema, nullable=True)
    logs = Many(PostfixLogSchema)


class RspamdLogSchema(RspamdVerdictSchema):
    id = Int()
    correlation_key = Str(nullable=True)
    parsed = Bool()
    raw = _f(fields.Raw, optional=True, nullable=True,
             metadata={"description": "The original row, only when it could not be parsed"})


class RspamdLogListSchema(PageEnvelope):
    data = Many(RspamdLogSchema)


class NetfilterLogListSchema(PageEnvelope):
    data = Many(NetfilterItemSchema)


class DovecotLogSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    parsed = Bool()
    kind = Str(nullable=True, metadata={"enum": ["lmtp", "session", "login", "auth_failure", "auth_check", "other"]})
    service = Str(nullable=True)
    user = Str(nullable=True)
    session = Str(nullable=True)
    message_id = Str(nullable=True)
    action = Str(nullable=True)
    folder = Str(nullable=True)
    target = Str(nullable=True)
    ip = Str(nullable=True)
    recipient = Str(nullable=True, metadata={"description": "The Postfix recipient this delivery line is linked to"})
    correlation_key = Str(nullable=True)


class DovecotLogListSchema(PageEnvelope):
    data = Many(DovecotLogSchema)


class LoginFailureCountSchema(Response):
    key = Str(metadata={"description": "The user (by_user) or IP address (by_ip)"})
    attempts = Int()
    distinct_others = Int(metadata={"description": "Distinct IPs of this user, or users tried from this IP"})
    last_seen = Time()


class DovecotLoginFailuresSchema(Response):
    by_user = Many(LoginFailureCountSchema)
    by_ip = Many(LoginFailureCountSchema)


# ------------------------------------------------------------------ queue & quarantine

class RecipientParsedSchema(Response):
    address = Str()
    reason = Str(nullable=True)


class QueueItemSchema(Response):
    queue_name = Str(nullable=True)
    queue_id = Str(nullable=True)
    arrival_time = Int(nullable=True, metadata={"description": "Epoch seconds"})
    message_size = Int(nullable=True)
    forced_expire = Bool()
    sender = Str()
    recipients = StrList()
    recipients_parsed = Many(RecipientParsedSchema)
    arrival = Time(nullable=True)


class QueueSchema(Response):
    total = Int()
    data = Many(QueueItemSchema)
    fetched_at = Time(nullable=True)
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})


class QuarantineItemSchema(Response):
    id = _f(fields.Raw, nullable=True, metadata={"description": "mailcow's id (an integer when numeric)"})
    subject = Str(nullable=True)
    sender = Str(nullable=True)
    recipients = StrList()
    created = Time(nullable=True)
    reason = Str()
    score = Num(nullable=True)
    action = Str(nullable=True)
    virus_flag = Bool()
    qid = Str(nullable=True)
    notified = Bool()


class QuarantineSchema(Response):
    total = Int()
    data = Many(QuarantineItemSchema)
    fetched_at = Time(nullable=True)
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})


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


# ------------------------------------------------------------------ status

class LiveAnswer(Response):
    """mailcow-backed answers: when mailcow is slow, its last answer, marked (mailcow_live.py)."""
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})
    fetched_at = Time(optional=True, metadata={"description": "When mailcow gave a stale answer"})


class ContainerSchema(Response):
    name = Str()
    state = Str()
    started_at = Time(nullable=True)
    image = Str(nullable=True)


class ContainerSummarySchema(Response):
    running = Int()
    stopped = Int()
    total = Int()
    states = MapOf(fields.Integer(strict=True), metadata={"description": "Containers per state"})
    not_running = StrList(metadata={"description": "Names of the containers that are not running"})


class ContainersSchema(LiveAnswer):
    containers = MapOf(fields.Nested(ContainerSchema), metadata={"description": "By mailcow service name"})
    summary = One(ContainerSummarySchema)


class StorageSchema(LiveAnswer):
    disk = Str()
    used = Str()
    total = Str()
    used_percent = Str()


class ReleaseSchema(LiveAnswer):
    current_version = Str()
    latest_version = Str(nullable=True)
    update_available = Bool()
    changelog = Str(nullable=True)
    last_checked = Time(nullable=True)
    published_at = Str(nullable=True)
    release_url = Str(nullable=True)
    error = Str(nullable=True, metadata={"description": "Why the last release check failed"})


class ActiveCountsSchema(Response):
    total = Int()
    active = Int()


class MailcowInfoSchema(LiveAnswer):
    domains = One(ActiveCountsSchema)
    mailboxes = One(ActiveCountsSchema)
    aliases = One(ActiveCountsSchema)


class StorageBriefSchema(Response):
    used_percent = Str()
    used = Str()
    total = Str()


class SystemCountsSchema(Response):
    domains = Int()
    mailboxes = Int()
    aliases = Int()


class StatusSummarySchema(LiveAnswer):
    containers = One(ContainerSummarySchema)
    storage = One(StorageBriefSchema)
    system = One(SystemCountsSchema)


# ------------------------------------------------------------------ settings

class ConfigurationSchema(Response):
    mailcow_url = Str()
    local_domains = StrList()
    fetch_interval = Int()
    fetch_count_postfix = Int()
    fetch_count_rspamd = Int()
    fetch_count_netfilter = Int()
    fetch_count_dovecot = Int()
    retention_days = Int()
    cleanup_hour = Int()
    timezone = Str()
    app_title = Str()
    log_level = Str()
    blacklist_enabled = Bool()
    blacklist_count = Int()
    max_search_results = Int()
    csv_export_limit = Int()
    scheduler_workers = Int()
    max_correlation_age_minutes = Int()
    correlation_check_interval = Int()
    mailcow_api_timeout = Num()
    mailcow_verify_ssl = Bool()
    auth_enabled = Bool()
    auth_username = Str(nullable=True)


class GapSchema(Response):
    start = Time()
    end = Time()
    estimated_missed = Int()
    detected_at = Time()


class ImportSourceSchema(Response):
    last_import = Time(nullable=True)
    last_fetch_run = Time(nullable=True)
    total_entries = Int()
    oldest_entry = Time(nullable=True)
    unparsed = Int()
    last_error = Str(nullable=True)
    gaps = Int()
    estimated_missed = Int()
    recent_gaps = Many(GapSchema)
    api_bytes_per_day = Int(nullable=True, metadata={
        "description": "Bytes of mailcow's answers a day for this source, at the rate of the recent fetches"})
    api_bytes_per_fetch = Int(nullable=True, metadata={"description": "Mean bytes per fetch, recent fetches"})
    api_bytes_last_24h = Int(metadata={"description": "Bytes received from mailcow in the last 24 hours"})
    api_requests_last_24h = Int()


class ImportStatusSchema(Response):
    postfix = One(ImportSourceSchema)
    rspamd = One(ImportSourceSchema)
    netfilter = One(ImportSourceSchema)
    dovecot = One(ImportSourceSchema)


class CorrelationStatusSchema(Response):
    last_update = Time(nullable=True)
    total = Int()
    complete = Int()
    incomplete = Int()
    expired = Int()
    completion_rate = Num()
    correlated_up_to_line = Int()


class JobSchema(Response):
    description = Str()
    status = Str(metadata={"enum": ["running", "error", "scheduled", "ok"]})
    last_run = Time(nullable=True)
    last_duration_seconds = Num(nullable=True)
    last_error = Str(nullable=True)
    next_run = Time(nullable=True)
    runs = Int()
    failures = Int()
    interval = Str(optional=True)
    schedule = Str(optional=True)
    retention = Str(optional=True)
    pending_items = Int(optional=True)
    last_result = _f(fields.Dict, optional=True, metadata={"description": "What the last run did (per job)"})


class IncompleteCorrelationSchema(Response):
    message_id = Str(nullable=True)
    queue_id = Str(nullable=True)
    sender = Str(nullable=True)
    recipient = Str(nullable=True)
    created_at = Time()
    age_minutes = Int()
    final_status = Str()
    correlation_key = Str()


class VariableSchema(Response):
    variable = Str(metadata={"description": "The environment variable, as it is spelled"})
    label = Str()
    value = _f(fields.Raw, nullable=True, metadata={"description": "In effect (the API key and password are never listed)"})


class SettingsInfoSchema(Response):
    configuration = One(ConfigurationSchema)
    variables = Many(VariableSchema, optional=True)
    import_status = One(ImportStatusSchema)
    correlation_status = One(CorrelationStatusSchema)
    background_jobs = MapOf(fields.Nested(JobSchema), metadata={"description": "By job name; empty without scheduler"})
    alerts = _f(fields.Nested, "SettingsAlertsSchema")
    recent_incomplete_correlations = Many(IncompleteCorrelationSchema)


class DatabaseTimingSchema(Response):
    status = Str(metadata={"enum": ["connected", "error"]})
    response_time_ms = Num()


class LastFiveMinutesSchema(Response):
    postfix_imported = Int()
    rspamd_imported = Int()
    netfilter_imported = Int()
    dovecot_imported = Int()
    correlations_created = Int()


class RecentActivityCountsSchema(Response):
    last_5_minutes = One(LastFiveMinutesSchema)


class SettingsHealthSchema(Response):
    status = Str(metadata={"enum": ["healthy", "unhealthy"]})
    timestamp = Time()
    database = One(DatabaseTimingSchema)
    recent_activity = One(RecentActivityCountsSchema, optional=True,
                          metadata={"description": "Only when the database is readable"})
    mailcow = One(MailcowStateSchema)


# ------------------------------------------------------------------ this document

class OpenAPIDocumentSchema(Response):
    openapi = Str(metadata={"example": "3.0.3"})
    info = _f(fields.Dict)
    paths = _f(fields.Dict)
    components = _f(fields.Dict)
    tags = _f(fields.List, fields.Dict(), optional=True)
    servers = _f(fields.List, fields.Dict(), optional=True)
    security = _f(fields.List, fields.Dict(), optional=True)


# ------------------------------------------------------------------ alerts

class AlertMessageSchema(Response):
    correlation_key = Str()
    sender = Str(nullable=True)
    subject = Str(nullable=True)
    status = Str()
    time = Time()


class AlertDeliveriesSchema(Response):
    delivered = Int()
    pending = Int()
    failed = Int()


class AlertSchema(Response):
    id = Int()
    key = Str(metadata={"description": "Deduplication key: one open alert per key"})
    rule = Str()
    severity = Str(metadata={"enum": ["warning", "critical"]})
    state = Str(metadata={"enum": ["open", "resolved"]})
    title = Str()
    detail = Str()
    count = Int(metadata={"description": "The measured volume at the last evaluation"})
    peak = Int()
    updates = Int(metadata={"description": "Evaluations that still saw the condition after it opened"})
    opened_at = Time()
    last_seen = Time()
    resolved_at = Time(nullable=True)
    link = Str(metadata={"description": "Path into the UI showing what is behind the alert"})
    messages = Many(AlertMessageSchema)
    notifications = One(AlertDeliveriesSchema)


class AlertChannelSchema(Response):
    channel = Str(metadata={"enum": ["webhook", "ntfy", "slack", "discord", "telegram", "email"]})
    delivered = Int()
    pending = Int()
    failed = Int()
    failed_attempts = Int()
    consecutive_failures = Int()
    last_success = Time(nullable=True)
    last_error = Str(nullable=True)
    last_error_at = Time(nullable=True)


class AlertListResponseSchema(Response):
    open = Many(AlertSchema)
    recent = Many(AlertSchema)
    open_total = Int()
    channels = Many(AlertChannelSchema)


class SettingsAlertsSchema(Response):
    open = Int()
    channels = Many(AlertChannelSchema)


class AlertTestSchema(Response):
    queued = StrList()
