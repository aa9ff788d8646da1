"""Alert, channel and digest settings: every rule's defaults, read from the environment.

Each rule has one variable, `ALERT_<RULE>`: `off` disables it, `key=value,key=value` changes
some of its numbers (the rest keep their defaults), empty keeps the defaults. The defaults are
chosen so that normal traffic of a small mail server stays quiet: a single bounce is never a
storm (`min` is the volume below which a rule says nothing).

This module imports nothing from `config.py` (which imports it); a bad value raises
`AlertSettingsError`, which `config.load_settings` turns into its one-line SettingsError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

# rule -> its numbers. Rates are percent, windows minutes unless named otherwise.
RULE_DEFAULTS: dict[str, dict[str, float]] = {
    # delivery health
    "domain_bounce": {"rate": 30, "min": 10, "window": 30},        # bounced share of delivery attempts to one domain
    "domain_defer": {"rate": 50, "min": 20, "window": 60},         # deferred share of delivery attempts to one domain
    "blocklist": {"min": 1, "window": 60},                         # remote replies saying we are listed/blocked
    "queue": {"age_hours": 6, "size": 100},                        # oldest deferred message / queued messages
    # abuse
    "mailbox": {"factor": 10, "min": 30, "recipients": 50, "bounce_rate": 50, "bounce_min": 10,
                "window": 30, "baseline_hours": 24},               # a mailbox far above its own baseline
    "auth_ip": {"min": 30, "window": 60},                          # auth failures from one IP
    "auth_user": {"min": 20, "window": 60},                        # auth failures for one username
    "outbound_reject": {"min": 3, "window": 60},                   # Rspamd rejecting a local sender's mail
    # service
    "mailcow_down": {"cycles": 3},                                 # failed fetch cycles in a row
    "gap": {"min": 1, "window": 60},                               # lines lost (estimated) in a window
    "container": {"min": 1},                                       # containers not running
    "storage": {"percent": 90},                                    # vmail disk use
    "correlation_lag": {"minutes": 15},                            # stored Postfix lines not correlated yet
}

SMTP_TLS_MODES = ("starttls", "ssl", "none")


class AlertSettingsError(ValueError):
    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def rule_variable(rule: str) -> str:
    return f"ALERT_{rule.upper()}"


@dataclass(frozen=True)
class ChannelSettings:
    """Where notifications go. URLs of chat webhooks carry their tokens: never shown."""
    webhook_url: str = dataclasses.field(default="", repr=False)
    webhook_secret: str = dataclasses.field(default="", repr=False)
    ntfy_url: str = dataclasses.field(default="", repr=False)
    ntfy_token: str = dataclasses.field(default="", repr=False)
    slack_webhook_url: str = dataclasses.field(default="", repr=False)
    discord_webhook_url: str = dataclasses.field(default="", repr=False)
    telegram_bot_token: str = dataclasses.field(default="", repr=False)
    telegram_chat_id: str = dataclasses.field(default="", repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    smtp_host: str = ""
    smtp_port: int = 0                        # 0: 465 for ssl, else 587 (starttls) or 25
    smtp_user: str = dataclasses.field(default="", repr=False)
    smtp_password: str = dataclasses.field(default="", repr=False)
    smtp_tls: str = "starttls"
    smtp_from: str = ""
    email_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertSettings:
    rules: MappingProxyType = dataclasses.field(
        default_factory=lambda: MappingProxyType({k: MappingProxyType(dict(v)) for k, v in RULE_DEFAULTS.items()}))
    grace_minutes: int = 10
    channel_timeout: float = 10.0
    retry_seconds: int = 30
    max_attempts: int = 8
    public_url: str = ""
    digest_hour: int | None = None
    digest_weekly: bool = False
    channels: ChannelSettings = dataclasses.field(default_factory=ChannelSettings, repr=False)

    def rule(self, name: str):
        """The rule's numbers, or None when it is switched off."""
        return self.rules.get(name)


_CHANNEL_VARIABLES = {
    "ALERT_WEBHOOK_URL": "webhook_url", "ALERT_WEBHOOK_SECRET": "webhook_secret",
    "ALERT_NTFY_URL": "ntfy_url", "ALERT_NTFY_TOKEN": "ntfy_token",
    "ALERT_SLACK_WEBHOOK_URL": "slack_webhook_url", "ALERT_DISCORD_WEBHOOK_URL": "discord_webhook_url",
    "ALERT_TELEGRAM_BOT_TOKEN": "telegram_bot_token", "ALERT_TELEGRAM_CHAT_ID": "telegram_chat_id",
    "ALERT_TELEGRAM_API_URL": "telegram_api_url", "SMTP_HOST": "smtp_host", "SMTP_PORT": "smtp_port",
    "SMTP_USER": "smtp_user", "SMTP_PASSWORD": "smtp_password", "SMTP_TLS": "smtp_tls", "SMTP_FROM": "smtp_from",
    "ALERT_EMAIL_TO": "email_to",
}
_URL_VARIABLES = ("ALERT_WEBHOOK_URL", "ALERT_NTFY_URL", "ALERT_SLACK_WEBHOOK_URL", "ALERT_DISCORD_WEBHOOK_URL",
                  "ALERT_TELEGRAM_API_URL", "PUBLIC_URL")
# Values never echoed in an error message.
SECRET_VARIABLES = frozenset({"ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "ALERT_NTFY_TOKEN",
                              "ALERT_SLACK_WEBHOOK_URL", "ALERT_DISCORD_WEBHOOK_URL", "ALERT_TELEGRAM_BOT_TOKEN",
                              "SMTP_PASSWORD", "ALERT_NTFY_URL"})
_GLOBAL_VARIABLES = ("ALERT_GRACE_MINUTES", "ALERT_CHANNEL_TIMEOUT", "ALERT_RETRY_SECONDS", "ALERT_MAX_ATTEMPTS",
                     "PUBLIC_URL", "DIGEST_HOUR", "DIGEST_WEEKLY")
ALERT_ENV_VARIABLES = (tuple(rule_variable(r) for r in RULE_DEFAULTS) + _GLOBAL_VARIABLES
                       + tuple(_CHANNEL_VARIABLES))


def _number(variable: str, text: str, low: float, high: float, integer: bool = True):
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise AlertSettingsError(variable, f"must be a{'n integer' if integer else ' number'} (got {text!r})") from None
    if not low <= value <= high:
        raise AlertSettingsError(variable, f"must be between {low:g} and {high:g} (got {text!r})")
    return value


def _rule_numbers(rule: str, text: str):
    variable = rule_variable(rule)
    defaults = RULE_DEFAULTS[rule]
    text = text.strip()
    if text.lower() in ("off", "false", "no", "0", "disabled"):
        return None
    numbers = dict(defaults)
    if text.lower() in ("", "on", "true", "yes"):
        return MappingProxyType(numbers)
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in defaults:
            raise AlertSettingsError(variable, f"expected off or key=value pairs with keys "
                                               f"{', '.join(defaults)} (got {part.strip()!r})")
        numbers[name] = _number(variable, value.strip(), 0, 10 ** 7, integer=False)
    return MappingProxyType(numbers)


def _url(variable: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = "" if variable in SECRET_VARIABLES else f" (got {value!r})"
        raise AlertSettingsError(variable, f"must be an http(s) URL{shown}")
    return value.rstrip("/") if variable in ("ALERT_TELEGRAM_API_URL", "PUBLIC_URL") else value


def load_alert_settings(environ: dict[str, str]) -> AlertSettings:
    def given(variable: str) -> str:
        return (environ.get(variable) or "").strip()

    rules = {rule: _rule_numbers(rule, given(rule_variable(rule))) for rule in RULE_DEFAULTS}
    channel: dict = {}
    for variable, name in _CHANNEL_VARIABLES.items():
        value = given(variable)
        if not value:
            continue
        if variable in _URL_VARIABLES:
            value = _url(variable, value)
        elif variable == "SMTP_PORT":
            value = _number(variable, value, 1, 65535)
        elif variable == "SMTP_TLS":
            value = value.lower()
            if value not in SMTP_TLS_MODES:
                raise AlertSettingsError(variable, f"must be one of {', '.join(SMTP_TLS_MODES)} (got {value!r})")
        elif variable == "ALERT_EMAIL_TO":
            value = tuple(a.strip() for a in value.split(",") if a.strip())
            if any("@" not in a for a in value):
                raise AlertSettingsError(variable, "must be comma-separated e-mail addresses")
        channel[name] = value
    channels = ChannelSettings(**channel)
    if bool(channels.telegram_bot_token) != bool(channels.telegram_chat_id):
        raise AlertSettingsError("ALERT_TELEGRAM_CHAT_ID" if channels.telegram_bot_token else "ALERT_TELEGRAM_BOT_TOKEN",
                                 "Telegram needs both ALERT_TELEGRAM_BOT_TOKEN and ALERT_TELEGRAM_CHAT_ID")
    if channels.email_to and not channels.smtp_host:
        raise AlertSettingsError("SMTP_HOST", "is required when ALERT_EMAIL_TO is set")
    if channels.email_to and not channels.smtp_from:
        raise AlertSettingsError("SMTP_FROM", "is required when ALERT_EMAIL_TO is set")
    values: dict = {"rules": MappingProxyType({k: v for k, v in rules.items() if v is not None}),
                    "channels": channels}
    if given("ALERT_GRACE_MINUTES"):
        values["grace_minutes"] = _number("ALERT_GRACE_MINUTES", given("ALERT_GRACE_MINUTES"), 0, 10080)
    if given("ALERT_CHANNEL_TIMEOUT"):
        values["channel_timeout"] = _number("ALERT_CHANNEL_TIMEOUT", given("ALERT_CHANNEL_TIMEOUT"), 0.1, 300,
                                            integer=False)
    if given("ALERT_RETRY_SECONDS"):
        values["retry_seconds"] = _number("ALERT_RETRY_SECONDS", given("ALERT_RETRY_SECONDS"), 1, 86400)
    if given("ALERT_MAX_ATTEMPTS"):
        values["max_attempts"] = _number("ALERT_MAX_ATTEMPTS", given("ALERT_MAX_ATTEMPTS"), 1, 100)
    if given("PUBLIC_URL"):
        values["public_url"] = _url("PUBLIC_URL", given("PUBLIC_URL"))
    hour = given("DIGEST_HOUR")
    if hour and hour.lower() != "off":
        values["digest_hour"] = _number("DIGEST_HOUR", hour, 0, 23)
    weekly = given("DIGEST_WEEKLY").lower()
    if weekly:
        if weekly not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise AlertSettingsError("DIGEST_WEEKLY", f"must be true or false (got {weekly!r})")
        values["digest_weekly"] = weekly in ("true", "1", "yes", "on")
    return AlertSettings(**values)
