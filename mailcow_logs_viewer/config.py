"""Every setting, read from the environment once, validated with marshmallow, frozen.

A bad or missing setting is a `SettingsError` that names the variable; `run.py` turns it
into one line on stderr and exit code 2, so a typo in a compose file is obvious at start-up.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .alerts.settings import ALERT_ENV_VARIABLES, AlertSettings, AlertSettingsError, load_alert_settings

DEMO_API_KEY = "DEMO-SIMULATED-MAILCOW"


# A server's name in MAILCOW_INSTANCES: it becomes part of variable names (MAILCOW_MX1_URL).
_INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
# SERVER_NAME of a single server may be its host name (the default), dots included.
SERVER_NAME_PATTERN = _SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
# With no MAILCOW_URL to take a host from (importing files, `forget`).
FALLBACK_SERVER_NAME = "mailcow"


class SettingsError(ValueError):
    """A setting is missing or malformed; `variable` names the environment variable."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class MailcowServer:
    """One mailcow server to fetch from; `name` is what rows, filters and the UI call it."""
    name: str
    url: str
    api_key: str = dataclasses.field(repr=False)
    api_timeout: float = 30.0
    verify_ssl: bool = True


def default_server_name(url: str) -> str:
    """The host of the URL as a server name (an IPv6 host's colons become dashes)."""
    host = (urlsplit(url).hostname or "").lower() if url else ""
    name = re.sub(r"[^a-z0-9.-]", "-", host).strip("-.")[:63]
    return name or FALLBACK_SERVER_NAME


@dataclass(frozen=True)
class Settings:
    mailcow_url: str
    mailcow_api_key: str = dataclasses.field(repr=False)
    mailcow_api_timeout: float = 30.0
    mailcow_verify_ssl: bool = True
    fetch_interval: int = 60
    fetch_count_postfix: int = 2000
    fetch_count_rspamd: int = 500
    fetch_count_netfilter: int = 500
    fetch_count_dovecot: int = 2000
    retention_days: int = 7
    message_retention_days: int = 90
    counter_retention_days: int | None = None     # None: forever
    redact_subjects: bool = False
    anonymize_ips_after_days: int | None = None   # None: client IPs are kept as logged
    cleanup_hour: int = 2
    max_correlation_age_minutes: int = 10
    correlation_check_interval: int = 120
    timezone: str = "UTC"
    app_title: str = "Mailcow Logs Viewer"
    app_logo_url: str = ""
    log_level: str = "WARNING"
    blacklist_emails: tuple[str, ...] = ()
    local_domains: tuple[str, ...] = ()
    max_search_results: int = 1000
    csv_export_limit: int = 10000
    scheduler_workers: int = 4
    status_cache_seconds: int = 30
    app_version_url: str = "https://api.github.com/repos/mailcow-logs-viewer/mailcow-logs-viewer/releases/latest"
    mailcow_version_url: str = "https://api.github.com/repos/mailcow/mailcow-dockerized/releases/latest"
    data_dir: str = "./data"
    database_file: str = "mailcow-logs.db"
    app_host: str = "127.0.0.1"     # 0.0.0.0 by default when AUTH_ENABLED (see load_settings)
    app_port: int = 8080
    web_threads: int = 8
    debug: bool = False
    auth_enabled: bool = False
    auth_username: str = "admin"
    auth_password: str = dataclasses.field(default="", repr=False)
    geoip: str = "country"
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    trusted_proxies: tuple = ()      # ip_network objects whose X-Forwarded-For names the client
    allowed_hosts: tuple[str, ...] = ()
    mailcow_oauth_client_id: str = ""
    mailcow_oauth_client_secret: str = dataclasses.field(default="", repr=False)
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = dataclasses.field(default="", repr=False)
    oidc_admin_group: str = ""
    public_url: str = ""
    domain_admins: tuple = ()        # (mailbox, (domain, ...)) pairs, all lower case
    demo: bool = False
    # MAILCOW_INSTANCES (several servers); empty: the one server of MAILCOW_URL (see `servers`).
    instances: tuple[MailcowServer, ...] = ()
    explicit_server_name: str = ""          # SERVER_NAME as given; "" for the default
    alerts: AlertSettings = dataclasses.field(default_factory=AlertSettings, repr=False)

    @property
    def database_path(self) -> Path:
        return Path(self.data_dir) / self.database_file

    @property
    def server_name(self) -> str:
        """The single server's name, and the server an older single-server database's rows
        belong to: SERVER_NAME, else the first instance, else the host of MAILCOW_URL."""
        if self.explicit_server_name:
            return self.explicit_server_name
        return self.instances[0].name if self.instances else default_server_name(self.mailcow_url)

    @property
    def servers(self) -> tuple[MailcowServer, ...]:
        """Every server to fetch from, in configured order. Derived here rather than stored for
        one server, so that `replace(mailcow_url=...)` (the demo, tests) moves the server too."""
        if self.instances:
            return self.instances
        return (MailcowServer(self.server_name, self.mailcow_url, self.mailcow_api_key, self.mailcow_api_timeout,
                              self.mailcow_verify_ssl),)

    @property
    def mailcow_sign_in(self) -> bool:
        """Mailbox users may sign in with mailcow (OAuth2)."""
        return bool(self.auth_enabled and self.mailcow_oauth_client_id)

    @property
    def oidc_sign_in(self) -> bool:
        """Admins may sign in through an OpenID Connect provider."""
        return bool(self.auth_enabled and self.oidc_client_id)

    @property
    def oidc_provider(self) -> str:
        """What "Sign in with ..." names: the issuer's host."""
        return urlsplit(self.oidc_issuer).hostname or self.oidc_issuer

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_MAILBOX = re.compile(r"^[^@\s=;]+@[^@\s=;]+$")


def parse_domain_admins(value: str) -> tuple:
    """`user@example.org=example.org example.net;admin@example.com=example.com` -> pairs;
    ValueError naming the part that is wrong."""
    pairs = []
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        mailbox, equals, domains = (x.strip().lower() for x in part.partition("="))
        names = tuple(sorted(set(domains.replace(",", " ").split())))
        if not equals or not _MAILBOX.match(mailbox) or not names:
            raise ValueError(f"{part!r} is not mailbox=domain [domain...]")
        bad = [name for name in names if not _DOMAIN.match(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a domain name")
        pairs.append((mailbox, names))
    return tuple(pairs)


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(sorted({part.strip().lower() for part in value.split(",") if part.strip()}))


class _Bool(fields.Boolean):
    truthy = {"true", "1", "yes", "on", "True", "TRUE", "Yes", "YES", "On", "ON"}
    falsy = {"false", "0", "no", "off", "", "False", "FALSE", "No", "NO", "Off", "OFF"}


class _EnvSchema(Schema):
    """Environment variable name -> Settings field. Strings in, typed values out."""

    mailcow_url = fields.Url(data_key="MAILCOW_URL", schemes={"http", "https"}, require_tld=False)
    mailcow_api_key = fields.String(data_key="MAILCOW_API_KEY", validate=validate.Length(min=1))
    mailcow_api_timeout = fields.Float(data_key="MAILCOW_API_TIMEOUT", validate=validate.Range(min=1, max=600))
    mailcow_verify_ssl = _Bool(data_key="MAILCOW_VERIFY_SSL")
    fetch_interval = fields.Integer(data_key="FETCH_INTERVAL", validate=validate.Range(min=10, max=86400))
    fetch_count_postfix = fields.Integer(data_key="FETCH_COUNT_POSTFIX", validate=validate.Range(min=10, max=100000))
    fetch_count_rspamd = fields.Integer(data_key="FETCH_COUNT_RSPAMD", validate=validate.Range(min=10, max=100000))
    fetch_count_netfilter = fields.Integer(data_key="FETCH_COUNT_NETFILTER", validate=validate.Range(min=10, max=100000))
    fetch_count_dovecot = fields.Integer(data_key="FETCH_COUNT_DOVECOT", validate=validate.Range(min=10, max=100000))
    retention_days = fields.Integer(data_key="RETENTION_DAYS", validate=validate.Range(min=1, max=3650))
    message_retention_days = fields.Integer(data_key="MESSAGE_RETENTION_DAYS", validate=validate.Range(min=1, max=36500))
    counter_retention_days = fields.Integer(data_key="COUNTER_RETENTION_DAYS", validate=validate.Range(min=1, max=36500))
    redact_subjects = _Bool(data_key="REDACT_SUBJECTS")
    anonymize_ips_after_days = fields.Integer(data_key="ANONYMIZE_IPS_AFTER_DAYS",
                                              validate=validate.Range(min=1, max=36500))
    cleanup_hour = fields.Integer(data_key="CLEANUP_HOUR", validate=validate.Range(min=0, max=23))
    max_correlation_age_minutes = fields.Integer(data_key="MAX_CORRELATION_AGE_MINUTES", validate=validate.Range(min=1, max=100000))
    correlation_check_interval = fields.Integer(data_key="CORRELATION_CHECK_INTERVAL", validate=validate.Range(min=5, max=86400))
    timezone = fields.String(data_key="TZ")
    app_title = fields.String(data_key="APP_TITLE", validate=validate.Length(min=1, max=200))
    app_logo_url = fields.String(data_key="APP_LOGO_URL", validate=validate.Length(max=2000))
    log_level = fields.String(data_key="LOG_LEVEL", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]))
    blacklist_emails = fields.String(data_key="BLACKLIST_EMAILS")
    local_domains = fields.String(data_key="LOCAL_DOMAINS")
    max_search_results = fields.Integer(data_key="MAX_SEARCH_RESULTS", validate=validate.Range(min=1, max=1000000))
    csv_export_limit = fields.Integer(data_key="CSV_EXPORT_LIMIT", validate=validate.Range(min=1, max=10000000))
    # Accepted for compatibility with older deployments and shown in settings/info; nothing runs
    # in parallel on it: one writer thread runs every job.
    scheduler_workers = fields.Integer(data_key="SCHEDULER_WORKERS", validate=validate.Range(min=1, max=64))
    status_cache_seconds = fields.Integer(data_key="STATUS_CACHE_SECONDS", validate=validate.Range(min=0, max=3600))
    app_version_url = fields.String(data_key="APP_VERSION_URL")
    mailcow_version_url = fields.String(data_key="MAILCOW_VERSION_URL")
    data_dir = fields.String(data_key="DATA_DIR", validate=validate.Length(min=1))
    app_host = fields.String(data_key="APP_HOST", validate=validate.Length(min=1))
    app_port = fields.Integer(data_key="APP_PORT", validate=validate.Range(min=1, max=65535))
    web_threads = fields.Integer(data_key="WEB_THREADS", validate=validate.Range(min=1, max=256))
    debug = _Bool(data_key="DEBUG")
    auth_enabled = _Bool(data_key="AUTH_ENABLED")
    auth_username = fields.String(data_key="AUTH_USERNAME", validate=validate.Length(min=1))
    auth_password = fields.String(data_key="AUTH_PASSWORD")
    geoip = fields.String(data_key="GEOIP", validate=validate.OneOf(["country", "asn", "off"]))
    session_idle_minutes = fields.Integer(data_key="SESSION_IDLE_MINUTES", validate=validate.Range(min=1, max=10080))
    session_max_hours = fields.Integer(data_key="SESSION_MAX_HOURS", validate=validate.Range(min=1, max=8760))
    trusted_proxies = fields.String(data_key="TRUSTED_PROXIES")
    allowed_hosts = fields.String(data_key="ALLOWED_HOSTS")
    mailcow_oauth_client_id = fields.String(data_key="MAILCOW_OAUTH_CLIENT_ID", validate=validate.Length(max=200))
    mailcow_oauth_client_secret = fields.String(data_key="MAILCOW_OAUTH_CLIENT_SECRET", validate=validate.Length(max=500))
    oidc_issuer = fields.Url(data_key="OIDC_ISSUER", schemes={"http", "https"}, require_tld=False)
    oidc_client_id = fields.String(data_key="OIDC_CLIENT_ID", validate=validate.Length(max=200))
    oidc_client_secret = fields.String(data_key="OIDC_CLIENT_SECRET", validate=validate.Length(max=500))
    oidc_admin_group = fields.String(data_key="OIDC_ADMIN_GROUP", validate=validate.Length(max=200))
    public_url = fields.Url(data_key="PUBLIC_URL", schemes={"http", "https"}, require_tld=False)
    domain_admins = fields.String(data_key="DOMAIN_ADMINS")

    @validates_schema
    def _check_domain_admins(self, data, **kwargs):
        try:
            parse_domain_admins(data.get("domain_admins") or "")
        except ValueError as error:
            raise ValidationError(str(error), "DOMAIN_ADMINS") from None

    @validates_schema
    def _check_proxies(self, data, **kwargs):
        for part in (data.get("trusted_proxies") or "").split(","):
            try:
                ipaddress.ip_network(part.strip(), strict=False) if part.strip() else None
            except ValueError:
                raise ValidationError(f"{part.strip()!r} is not an IP address or CIDR network", "TRUSTED_PROXIES") from None

    @validates_schema
    def _check_tiers(self, data, **kwargs):
        # Messages are what is left of their lines: they cannot go before the lines do.
        lines, messages = data.get("retention_days", 7), data.get("message_retention_days")
        if messages is not None and messages < lines:
            raise ValidationError(f"must be at least RETENTION_DAYS ({lines})", "MESSAGE_RETENTION_DAYS")

    @validates_schema
    def _check_timezone(self, data, **kwargs):
        if "timezone" in data:
            try:
                ZoneInfo(data["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationError("unknown time zone", "TZ") from None


_SCHEMA_VARIABLES = tuple(field.data_key for field in _EnvSchema().fields.values())
# Read beside the schema (_servers): the Settings page lists the servers on their own.
SERVER_VARIABLES = ("MAILCOW_INSTANCES", "SERVER_NAME")
ENV_VARIABLES = _SCHEMA_VARIABLES + SERVER_VARIABLES + ALERT_ENV_VARIABLES
# Per server of MAILCOW_INSTANCES: MAILCOW_<NAME>_URL and so on (<NAME> upper case, `-` -> `_`).
INSTANCE_VARIABLE_SUFFIXES = ("URL", "API_KEY", "VERIFY_SSL", "API_TIMEOUT")


def instance_variable(name: str, suffix: str) -> str:
    return f"MAILCOW_{name.upper().replace('-', '_')}_{suffix}"


def is_instance_variable(variable: str) -> bool:
    """A per-server variable's name (whatever the server), for code that clears the environment."""
    return variable.startswith("MAILCOW_") and variable.endswith(tuple("_" + s for s in INSTANCE_VARIABLE_SUFFIXES))


class _InstanceSchema(Schema):
    url = fields.Url(data_key="URL", schemes={"http", "https"}, require_tld=False, required=True)
    api_key = fields.String(data_key="API_KEY", validate=validate.Length(min=1), required=True)
    api_timeout = fields.Float(data_key="API_TIMEOUT", validate=validate.Range(min=1, max=600))
    verify_ssl = _Bool(data_key="VERIFY_SSL")


def _instances(environ: dict[str, str], listed: str, values: dict) -> tuple[MailcowServer, ...]:
    """MAILCOW_INSTANCES=mx1,mx2 and each server's variables; SettingsError naming the bad one."""
    names = [part.strip() for part in listed.split(",") if part.strip()]
    if not names:
        raise SettingsError("MAILCOW_INSTANCES", "names no server (e.g. MAILCOW_INSTANCES=mx1,mx2)")
    servers = []
    for name in names:
        if not _INSTANCE_NAME.match(name):
            raise SettingsError("MAILCOW_INSTANCES", f"{name!r} is not a server name (lower case letters, digits "
                                                     "and '-', at most 31, starting with a letter or digit)")
        if name in (s.name for s in servers):
            raise SettingsError("MAILCOW_INSTANCES", f"{name!r} is listed twice")
        given = {suffix: environ[instance_variable(name, suffix)] for suffix in INSTANCE_VARIABLE_SUFFIXES
                 if environ.get(instance_variable(name, suffix), "") != ""}
        try:
            loaded = _InstanceSchema().load(given)
        except ValidationError as error:
            suffix, messages = sorted(error.normalized_messages().items())[0]
            variable = instance_variable(name, suffix)
            problem = (messages[0] if isinstance(messages, list) else str(messages)).rstrip(".")
            if problem.startswith("Missing data"):
                problem = "is required (the address of this mailcow and a read-only API key)"
            elif suffix != "API_KEY":
                problem = f"{problem} (got {given[suffix]!r})"
            raise SettingsError(variable, problem) from None
        servers.append(MailcowServer(name, loaded["url"].rstrip("/"), loaded["api_key"],
                                     loaded.get("api_timeout", values.get("mailcow_api_timeout", 30.0)),
                                     loaded.get("verify_ssl", values.get("mailcow_verify_ssl", True))))
    return tuple(servers)


def _servers(environ: dict[str, str], values: dict) -> None:
    """MAILCOW_INSTANCES and SERVER_NAME into `values`: the instances, and the first server's URL
    and key as mailcow_url / mailcow_api_key (sign-in with mailcow, the live reads' default)."""
    listed = environ.get("MAILCOW_INSTANCES") or None
    name = environ.get("SERVER_NAME") or None
    if listed is not None:
        values["instances"] = _instances(environ, listed, values)
        first = values["instances"][0]
        values.update(mailcow_url=first.url, mailcow_api_key=first.api_key)
        if name is not None and name not in {s.name for s in values["instances"]}:
            raise SettingsError("SERVER_NAME", f"must be one of MAILCOW_INSTANCES (got {name!r})")
    elif name is not None and not _SERVER_NAME.match(name):
        raise SettingsError("SERVER_NAME", f"is not a server name (lower case letters, digits, '.' and '-', "
                                           f"at most 63; got {name!r})")
    if name is not None:
        values["explicit_server_name"] = name


def _check_sign_in(values: dict, id_variable: str, needs: tuple) -> None:
    if not values.get(id_variable.lower()):
        return
    for variable, key in needs:
        if not values.get(key):
            raise SettingsError(variable, f"is required when {id_variable} is set")
    if not values.get("auth_enabled"):
        raise SettingsError(id_variable, "needs AUTH_ENABLED=true (the sign-in is part of the login)")


def load_settings(environ: dict[str, str], demo: bool = False, need_mailcow: bool = True) -> Settings:
    """Read, validate and freeze the settings; raises SettingsError naming the variable.
    `need_mailcow=False` (importing log files) needs no MAILCOW_URL or key."""
    given = {key: environ[key] for key in _SCHEMA_VARIABLES if key in environ and (environ[key] != "" or key in ("APP_LOGO_URL", "BLACKLIST_EMAILS", "LOCAL_DOMAINS", "AUTH_PASSWORD", "TRUSTED_PROXIES", "ALLOWED_HOSTS"))}
    try:
        values = _EnvSchema().load(given)
    except ValidationError as error:
        variable, messages = sorted(error.normalized_messages().items())[0]
        if variable == "_schema":
            variable = "TZ"
        if isinstance(messages, dict):   # a schema-level check names its variable
            variable, messages = next(iter(messages.items()))
        problem = messages[0] if isinstance(messages, list) else str(messages)
        shown = given.get(variable)
        raise SettingsError(variable, f"{problem.rstrip('.')} (got {shown!r})" if shown is not None and variable not in ("AUTH_PASSWORD", "MAILCOW_API_KEY", "MAILCOW_OAUTH_CLIENT_SECRET", "OIDC_CLIENT_SECRET") else problem) from None
    if "domain_admins" in values:
        values["domain_admins"] = parse_domain_admins(values["domain_admins"])
    if values.get("public_url"):
        values["public_url"] = values["public_url"].rstrip("/")
    # A sign-in needs the secret for the token request and the address the provider sends the
    # browser back to; without a login there is nobody to sign in as.
    _check_sign_in(values, "MAILCOW_OAUTH_CLIENT_ID", (("MAILCOW_OAUTH_CLIENT_SECRET", "mailcow_oauth_client_secret"),
                                                       ("PUBLIC_URL", "public_url")))
    _check_sign_in(values, "OIDC_CLIENT_ID", (("OIDC_CLIENT_SECRET", "oidc_client_secret"), ("PUBLIC_URL", "public_url"),
                                              ("OIDC_ISSUER", "oidc_issuer"), ("OIDC_ADMIN_GROUP", "oidc_admin_group")))
    if values.get("oidc_issuer"):
        values["oidc_issuer"] = values["oidc_issuer"].rstrip("/")
    for name in ("blacklist_emails", "local_domains", "allowed_hosts"):
        if name in values:
            values[name] = _comma_list(values[name])
    if "trusted_proxies" in values:
        values["trusted_proxies"] = tuple(ipaddress.ip_network(part, strict=False)
                                          for part in _comma_list(values["trusted_proxies"]))
    # An older deployment's RETENTION_DAYS=120 keeps its messages that long too.
    values.setdefault("message_retention_days", max(90, values.get("retention_days", 7)))
    # Without a login, listening on every interface would publish the logs to the network:
    # only loopback unless APP_HOST says otherwise (the Docker image sets APP_HOST=0.0.0.0).
    values.setdefault("app_host", "0.0.0.0" if values.get("auth_enabled") else "127.0.0.1")
    _servers(environ, values)
    if demo:
        values.setdefault("mailcow_url", "http://127.0.0.1")
        values.setdefault("mailcow_api_key", DEMO_API_KEY)
        values["database_file"] = "demo.db"
        values["demo"] = True
    if not need_mailcow:
        values.setdefault("mailcow_url", "")
        values.setdefault("mailcow_api_key", "")
    for required, variable in (("mailcow_url", "MAILCOW_URL"), ("mailcow_api_key", "MAILCOW_API_KEY")):
        if need_mailcow and not values.get(required):
            raise SettingsError(variable, "is required (the address of your mailcow and a read-only API key)")
    if values.get("auth_enabled") and not values.get("auth_password"):
        raise SettingsError("AUTH_PASSWORD", "is required when AUTH_ENABLED=true")
    values["mailcow_url"] = values["mailcow_url"].rstrip("/")
    try:
        values["alerts"] = load_alert_settings(environ)
    except AlertSettingsError as error:
        raise SettingsError(error.variable, error.problem) from None
    return Settings(**values)
