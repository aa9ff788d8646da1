"""Shapes of the settings answers."""
from __future__ import annotations

from marshmallow import fields

from .base import Bool, Int, Many, MapOf, Num, One, Response, Str, StrList, Time, _f  # noqa: F401
from .base import MailcowStateSchema


# ------------------------------------------------------------------ settings

class ConfigurationSchema(Response):
    mailcow_url = Str()
    local_domains = StrList()
    fetch_interval = Int()
    fetch_count_postfix = Int()
    fetch_count_rspamd = Int()
    fetch_count_netfilter = Int()
    fetch_count_dovecot = Int()
    retention_days = Int(metadata={"description": "Raw log lines are kept this many days"})
    message_retention_days = Int(metadata={"description": "Messages and their outcomes are kept this many days"})
    counter_retention_days = Int(nullable=True, metadata={"description": "Daily counters are kept this many days "
                                                                         "(null: forever)"})
    redact_subjects = Bool()
    anonymize_ips_after_days = Int(nullable=True, metadata={"description": "Client IPs are truncated after this "
                                                                           "many days (null: never)"})
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
    server = Str(metadata={"description": "The mailcow server whose list had the gap"})


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


class GapSummarySchema(Response):
    count = Int()
    estimated_missed = Int()
    last_end = Time(nullable=True, metadata={"description": "The end of the newest gap"})


class ServerStateSchema(Response):
    name = Str()
    url = Str()
    reachable = Bool(nullable=True, metadata={"description": "null: not asked yet"})
    last_success = Time(nullable=True)
    last_error = Str(nullable=True)
    last_error_at = Time(nullable=True)
    sources = One(ImportStatusSchema)
    gaps = One(GapSummarySchema)
    traffic_bytes_per_day = MapOf(Int(nullable=True), metadata={"description": "By source"})


class ServersSchema(Response):
    servers = Many(ServerStateSchema, metadata={"description": "In configured order"})


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
