"""GET /api/openapi.json: the OpenAPI 3.0 description of every route of the app.

Built with apispec from the same marshmallow schemas the views parse their query parameters
with (api/params.py, messages.py, logs.py, stats.py, status.py), so the document cannot drift
from the validation; response shapes are in api/responses.py. The document walks the app's URL
map, so a route missing from ENDPOINTS below is still listed (with a generic description) and
the tests fail until it is described here. Built once per app and kept in app.extensions.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify
from marshmallow import Schema

from .. import APP_NAME, __version__
from ..auth import needs_auth
from . import insight_schemas as ins
from . import responses as r
from .alerts import AlertListSchema
from .audit import AuditListSchema
from .daily import DailyFilterSchema, DailyListSchema
from .dovecot import DovecotFilterSchema, DovecotListSchema, LoginFailuresSchema
from .insights import DomainInsightSchema, EntitySchema, InsightRangeSchema, ReasonSchema
from .security_now import BansSchema, PlacesSchema
from .logs import (NetfilterFilterSchema, NetfilterListSchema, PostfixFilterSchema, PostfixListSchema,
                   RspamdFilterSchema, RspamdListSchema)
from .messages import MessageFilterSchema, MessageListSchema
from .params import MAX_TEXT, Text, Timestamp
from .stats import ActivitySchema, AuthFailureFilterSchema, EndSchema, LimitSchema, TimelineSchema
from .status import SearchSchema

bp = Blueprint("openapi", __name__)

EXTENSION_KEY = "openapi_document"


class Endpoint(NamedTuple):
    summary: str
    params: type[Schema] | None = None      # the query-parameter schema the view loads
    response: type[Schema] | None = None    # the 200 JSON body (None: not JSON, see _kind)


# endpoint name (as in app.url_map) -> what it is, what it takes, what it answers
ENDPOINTS: dict[str, Endpoint] = {
    # health & info
    "health.health": Endpoint("Health check (public; 503 when the database is unreadable)", None, r.HealthSchema),
    "health.info": Endpoint("Application information and configuration", None, r.InfoSchema),
    # messages
    "messages.messages": Endpoint("Messages: Postfix and Rspamd correlated, newest first", MessageListSchema,
                                  r.MessageListResponseSchema),
    "messages.message_details": Endpoint("One message with every related log line", None, r.MessageDetailsSchema),
    # logs
    "logs.postfix_logs": Endpoint("Postfix log lines, newest first", PostfixListSchema, r.PostfixLogListSchema),
    "logs.postfix_by_queue": Endpoint("Every Postfix line of one queue id, with the linked Rspamd verdict", None,
                                      r.PostfixByQueueSchema),
    "logs.rspamd_logs": Endpoint("Rspamd verdicts, newest first", RspamdListSchema, r.RspamdLogListSchema),
    "logs.netfilter_logs": Endpoint("Netfilter lines (failed logins, bans), newest first", NetfilterListSchema,
                                    r.NetfilterLogListSchema),
    "dovecot.dovecot_logs": Endpoint("Dovecot lines (LMTP deliveries with their Sieve verdict, logins), newest first",
                                     DovecotListSchema, r.DovecotLogListSchema),
    # queue & quarantine (live from mailcow)
    "status.queue": Endpoint("mailcow's mail queue (live, cached briefly)", SearchSchema, r.QueueSchema),
    "status.quarantine": Endpoint("mailcow's quarantine (live, cached briefly)", SearchSchema, r.QuarantineSchema),
    # statistics
    "stats.dashboard": Endpoint("Dashboard counters", EndSchema, r.DashboardSchema),
    "stats.timeline": Endpoint("Messages per hour", TimelineSchema, r.TimelineResponseSchema),
    "stats.top_spam_triggers": Endpoint("Rspamd symbols that most often pushed spam", LimitSchema,
                                        r.TopSpamTriggersSchema),
    "stats.top_blocked_ips": Endpoint("IP addresses netfilter warned or banned most", LimitSchema,
                                      r.TopBlockedIpsSchema),
    "dovecot.login_failures": Endpoint("Failed Dovecot logins (IMAP, POP3, ManageSieve) by user and by IP",
                                       LoginFailuresSchema, r.DovecotLoginFailuresSchema),
    "stats.recent_activity": Endpoint("Latest messages", ActivitySchema, r.RecentActivitySchema),
    "stats.auth_failures": Endpoint("Authentication failures and bans by IP, by username and over time",
                                    AuthFailureFilterSchema, r.AuthFailuresSchema),
    "daily.daily": Endpoint("Daily counters: messages per day, domain, mailbox, direction and status (kept for "
                            "COUNTER_RETENTION_DAYS)", DailyListSchema, r.DailyCountsSchema),
    # status (live from mailcow)
    "status.servers": Endpoint("Each mailcow server's reachability and fetch state", None, r.ServersSchema),
    "status.containers": Endpoint("mailcow's containers", None, r.ContainersSchema),
    "status.storage": Endpoint("mailcow's vmail disk usage", None, r.StorageSchema),
    "status.mailcow_version": Endpoint("mailcow's version and the latest release", None, r.ReleaseSchema),
    "status.app_version": Endpoint("This application's version and the latest release", None, r.ReleaseSchema),
    "status.mailcow_info": Endpoint("mailcow's domains, mailboxes and aliases", None, r.MailcowInfoSchema),
    "status.summary": Endpoint("Containers, storage and system counts in one answer", None, r.StatusSummarySchema),
    # settings
    "settings.info": Endpoint("Configuration, import and correlation status, background jobs", None,
                              r.SettingsInfoSchema),
    "settings.health": Endpoint("Detailed health check with timings (503 when unhealthy)", None,
                                r.SettingsHealthSchema),
    # export (CSV)
    "export.messages_csv": Endpoint("Messages as CSV (at most CSV_EXPORT_LIMIT rows)", MessageFilterSchema),
    "export.postfix_csv": Endpoint("Postfix lines as CSV (at most CSV_EXPORT_LIMIT rows)", PostfixFilterSchema),
    "export.rspamd_csv": Endpoint("Rspamd verdicts as CSV (at most CSV_EXPORT_LIMIT rows)", RspamdFilterSchema),
    "export.netfilter_csv": Endpoint("Netfilter lines as CSV (at most CSV_EXPORT_LIMIT rows)", NetfilterFilterSchema),
    "export.dovecot_csv": Endpoint("Dovecot lines as CSV (at most CSV_EXPORT_LIMIT rows)", DovecotFilterSchema),
    "export.daily_csv": Endpoint("Daily counters as CSV (at most CSV_EXPORT_LIMIT rows)", DailyFilterSchema),
    # alerts
    "alerts.alerts": Endpoint("Open alerts and those resolved recently, with their messages and the channels' state",
                              AlertListSchema, r.AlertListResponseSchema),
    "alerts.send_test": Endpoint("Send a test notification to every configured channel (202: queued)", None,
                                 r.AlertTestSchema),
    # insights
    "insights.domains": Endpoint("Per domain: sent, received, outcomes, spam, delivery delay, counterparts",
                                 DomainInsightSchema, ins.EntityListSchema),
    "insights.mailboxes": Endpoint("Per mailbox of our domains: the same figures", EntitySchema, ins.EntityListSchema),
    "insights.destinations": Endpoint("Remote domains by deferral and bounce rate, with their top reason",
                                      InsightRangeSchema, ins.DestinationListSchema),
    "insights.reasons": Endpoint("Bounces, deferrals and rejects grouped by normalised reason", ReasonSchema,
                                 ins.ReasonListSchema),
    "queue_health.health": Endpoint("Queue health: size, oldest message, qshape-style groups (live, cached)", None,
                                    ins.QueueHealthSchema),
    "security.bans": Endpoint("Networks netfilter has banned now, with the time left and their country", BansSchema,
                              ins.ActiveBansSchema),
    "security.places": Endpoint("Country (and AS) of IP addresses, from the bundled offline database", PlacesSchema,
                                ins.PlacesSchema),
    "web.insights": Endpoint("Insights page"),
    # audit log (the admin's)
    "audit.audit": Endpoint("The audit log: sign-ins, failed sign-ins, sign-outs and exports, newest first",
                            AuditListSchema, r.AuditListResponseSchema),
    "web.audit_page": Endpoint("Audit log page"),
    "web.mailcow_sign_in": Endpoint("Sign in with mailcow: on to mailcow's /oauth/authorize (state and PKCE)"),
    "web.mailcow_callback": Endpoint("Where mailcow sends the browser back with `code` and `state`: a session for "
                                     "the mailbox (or the login page with 401/429)"),
    "web.oidc_sign_in_start": Endpoint("Admin sign-in through the OpenID Connect provider: on to its authorization "
                                       "endpoint (state, PKCE and nonce)"),
    "web.oidc_callback": Endpoint("Where the OpenID Connect provider sends the browser back with `code` and `state`: "
                                  "an admin session for a member of OIDC_ADMIN_GROUP (or the login page with 401/429)"),
    # this document
    "openapi.openapi_json": Endpoint("This OpenAPI 3.0 document", None, r.OpenAPIDocumentSchema),
    # Prometheus
    "metrics": Endpoint("Prometheus metrics (text exposition format)"),
    # pages (HTML shells; their data comes from the API)
    "web.login": Endpoint("Login page (redirects to the dashboard when authentication is off); POST the form's "
                          "username and password: a session cookie and a redirect to `next` (a path on this "
                          "site), or the form again with 401/429"),
    "web.logout": Endpoint("End the browser session and go to the login page"),
    "web.dashboard": Endpoint("Dashboard page"),
    "web.messages": Endpoint("Messages page"),
    "web.message": Endpoint("Message details page"),
    "web.logs_index": Endpoint("Redirects to the Postfix logs page"),
    "web.logs": Endpoint("Logs page of one source"),
    "web.security": Endpoint("Security (netfilter) page"),
    "web.queue": Endpoint("Queue and quarantine page"),
    "web.status": Endpoint("Status page"),
    "web.settings_page": Endpoint("Settings page"),
    "web.alerts": Endpoint("Alerts page"),
}

# Views that read mailcow live: 502 with a detail when mailcow cannot be read.
MAILCOW_BACKED = frozenset({"status.queue", "queue_health.health", "status.quarantine", "status.containers", "status.storage",
                            "status.mailcow_version", "status.mailcow_info", "status.summary"})
# Views that answer 503 with their normal body when the database is unreadable.
HEALTH_CHECKS = frozenset({"health.health", "settings.health"})
REDIRECTS = frozenset({"web.logs_index", "web.login", "web.logout", "web.dashboard"})
# Sign in with mailcow: 303 on to mailcow, back with a session or the login page (401, 429);
# 404 where MAILCOW_OAUTH_CLIENT_ID (OIDC_CLIENT_ID) is not set.
SIGN_IN = frozenset({"web.mailcow_sign_in", "web.mailcow_callback", "web.oidc_sign_in_start", "web.oidc_callback"})
ACCEPTED = frozenset({"alerts.send_test"})     # 202: handed to a background thread
ALWAYS_REDIRECTS = frozenset({"web.logs_index", "web.logout"})
FORM_REDIRECTS = frozenset({"web.login", "web.logout"})
PATH_ENUMS = {("web.logs", "source"): ["postfix", "rspamd", "netfilter", "dovecot"]}

TAGS = {"health": "Health & Info", "messages": "Messages", "logs": "Logs", "dovecot": "Logs", "stats": "Statistics", "daily": "Statistics",
        "status": "Status", "settings": "Settings", "export": "Export", "openapi": "Health & Info", "alerts": "Alerts",
        "web": "Pages", "metrics": "Metrics", "insights": "Insights", "queue_health": "Status", "security": "Security"}

_CONVERTER_TYPES = {"IntegerConverter": {"type": "integer"}, "FloatConverter": {"type": "number"},
                    "UUIDConverter": {"type": "string", "format": "uuid"}}
_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def _kind(endpoint: str) -> str:
    """json | csv | html | text: the media type of the 200 answer."""
    if endpoint.startswith("web."):
        return "html"
    if endpoint.startswith("export."):
        return "csv"
    if endpoint == "metrics":
        return "text"
    return "json"


def openapi_path(rule: str) -> str:
    """/api/message/<correlation_key>/details -> /api/message/{correlation_key}/details"""
    return _ARGUMENT.sub(r"{\1}", rule)


# ------------------------------------------------------------------ custom fields

def _custom_fields(self, field, **kwargs) -> dict:
    """apispec attribute function (bound to its converter) for params.Text and params.Timestamp."""
    if isinstance(field, Text):
        return {"maxLength": MAX_TEXT, "pattern": "^[^\\u0000]*$"}
    if isinstance(field, Timestamp):
        return {"description": "ISO 8601 date-time (no zone means UTC); a plain date (2025-12-25) or epoch "
                               "seconds are accepted too", "example": "2025-12-25T10:30:00Z"}
    return {}


# ------------------------------------------------------------------ the document

def _json(schema) -> dict:
    return {"application/json": {"schema": schema}}


def _responses(endpoint: str, info: Endpoint, has_path_params: bool, secured: bool) -> dict:
    kind = _kind(endpoint)
    responses: dict[str, dict] = {}
    if kind == "json":
        body = info.response or {"type": "object"}
        responses["200"] = {"description": "OK", "content": _json(body)}
    elif kind == "csv":
        responses["200"] = {"description": "CSV file download (header row first; empty result: header only)",
                            "headers": {"Content-Disposition": {"schema": {"type": "string"},
                                                               "description": "attachment; filename=..."}},
                            "content": {"text/csv": {"schema": {"type": "string"}}}}
    elif kind == "html":
        responses["200"] = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    else:
        responses["200"] = {"description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}
    if endpoint in ALWAYS_REDIRECTS:
        del responses["200"]
    if endpoint in ACCEPTED:
        responses["202"] = dict(responses.pop("200"), description="Accepted (queued)")
        responses["400"] = {"description": "Not a JSON request, or nothing to send to",
                            "content": _json(r.ErrorSchema)}
    if endpoint in REDIRECTS:
        responses["302"] = {"description": "Redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
    if endpoint in FORM_REDIRECTS:
        responses["303"] = {"description": "Redirect after the form (see other)",
                            "headers": {"Location": {"schema": {"type": "string"}}}}
    if endpoint in SIGN_IN:
        html = {"text/html": {"schema": {"type": "string"}}}
        responses["303"] = {"description": "On to mailcow's approval page",
                            "headers": {"Location": {"schema": {"type": "string"}}}}
        responses.update({"401": {"description": "The sign-in failed (the login page says why)", "content": html},
                          "404": {"description": "Sign-in with mailcow is not configured", "content": html},
                          "429": {"description": "Too many failed sign-ins from this address", "content": html}})
    if info.params is not None:
        responses["400"] = {"description": "Invalid parameter", "content": _json(r.ErrorSchema)}
    if has_path_params and kind == "json":
        responses["404"] = {"description": "Not found", "content": _json(r.ErrorSchema)}
    elif any(key[0] == endpoint for key in PATH_ENUMS):
        responses["404"] = {"description": "No such page", "content": {"text/html": {"schema": {"type": "string"}}}}
    if secured:
        responses["401"] = {"description": "Authentication required (when AUTH_ENABLED=true)",
                            "content": _json(r.ErrorSchema)}
        responses["403"] = {"description": "Not available to the caller's role (a mailbox user or domain admin)",
                            "content": _json(r.ErrorSchema)}
        responses["429"] = {"description": "Too many failed logins from this address, or a signed-in user's "
                                           "searches past their rate limit",
                            "content": _json(r.ErrorSchema)}
    if endpoint in MAILCOW_BACKED:
        responses["502"] = {"description": "mailcow could not be read", "content": _json(r.ErrorSchema)}
    if endpoint in HEALTH_CHECKS:
        responses["503"] = {"description": "Unhealthy (database unreadable); same body",
                            "content": _json(info.response)}
    # errors.py answers every unexpected error as JSON, pages included
    responses["500"] = {"description": "Internal server error", "content": _json(r.InternalErrorSchema)}
    return responses


# Several mailcow servers (auth.current_scope reads it): every list, statistic, export and
# live reading of the API takes one; what is not about one server does not.
SERVER_PARAMETER = {"in": "query", "name": "server", "required": False, "schema": {"type": "string"},
                    "description": "Only this mailcow server (one of /api/info's `servers`); absent: all of them"}
WITHOUT_SERVER = {"health.health", "health.info", "openapi.openapi_json", "audit.audit", "alerts.alerts",
                  "alerts.send_test", "status.servers", "status.app_version", "security.places"}


def _path_parameters(rule, endpoint: str) -> list[dict]:
    params = []
    for name in sorted(rule.arguments, key=lambda n: rule.rule.find(f"{n}>")):
        converter = rule._converters.get(name)
        schema = dict(_CONVERTER_TYPES.get(type(converter).__name__, {"type": "string"}))
        if (endpoint, name) in PATH_ENUMS:
            schema["enum"] = PATH_ENUMS[(endpoint, name)]
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return params


def build_document(app) -> dict:
    spec = APISpec(
        title=f"{APP_NAME} API", version=__version__, openapi_version="3.0.3",
        plugins=[plugin := MarshmallowPlugin()],
        info={"description": "mailcow's Postfix, Rspamd and netfilter logs, correlated into messages. "
                             "When AUTH_ENABLED=true every /api route except /api/health (and /metrics) "
                             "needs HTTP Basic authentication."},
    )
    plugin.converter.add_attribute_function(_custom_fields)
    plugin.map_to_openapi_type(Text, "string", None)
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    for schema in (r.ErrorSchema, r.InternalErrorSchema):
        spec.components.schema(schema.__name__[:-len("Schema")], schema=schema)

    operations: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rl: rl.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        info = ENDPOINTS.get(rule.endpoint, Endpoint(f"{rule.endpoint} (not described yet)"))
        path = openapi_path(rule.rule)
        path_params = _path_parameters(rule, rule.endpoint)
        secured = needs_auth(rule.rule)
        parameters = list(path_params)
        if info.params is not None:
            parameters.append({"in": "query", "schema": info.params})
        if rule.rule.startswith("/api/") and rule.endpoint not in WITHOUT_SERVER:
            parameters.append(SERVER_PARAMETER)
        section = rule.endpoint.split(".", 1)[0]
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for method in methods:
            operation = {
                "operationId": rule.endpoint if method == "GET" or len(methods) == 1 else f"{rule.endpoint}.{method.lower()}",
                "summary": info.summary,
                "tags": [TAGS.get(section, section)],
                "parameters": parameters,
                "responses": _responses(rule.endpoint, info, bool(path_params), secured),
            }
            if SERVER_PARAMETER in parameters:      # a server that is not configured
                operation["responses"].setdefault("400", {"description": "Invalid parameter",
                                                          "content": _json(r.ErrorSchema)})
            operation["security"] = [{"basicAuth": []}] if secured else []
            operations.setdefault(path, {})[method.lower()] = operation
    for path, methods in operations.items():
        spec.path(path=path, operations=methods)
    return spec.to_dict()


def document(app=None) -> dict:
    app = app or current_app
    doc = app.extensions.get(EXTENSION_KEY)
    if doc is None:
        doc = app.extensions[EXTENSION_KEY] = build_document(app)
    return doc


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
