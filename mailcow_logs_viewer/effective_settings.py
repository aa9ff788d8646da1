"""The settings as an admin set them: the environment variable's real name, a plain label,
and the value in effect (defaults included; the two secrets are left out altogether).

The Settings page shows these, so what it says can be typed into a compose file as is:
`TZ`, not "timezone"; `LOG_LEVEL` as the process really logs (the demo runs at INFO).
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from .config import Settings, _EnvSchema

SECRETS = frozenset({"MAILCOW_API_KEY", "AUTH_PASSWORD", "MAILCOW_OAUTH_CLIENT_SECRET", "OIDC_CLIENT_SECRET"})
LABELS = {
    "MAILCOW_URL": "mailcow address", "MAILCOW_API_TIMEOUT": "API timeout (s)",
    "MAILCOW_VERIFY_SSL": "Check mailcow's TLS certificate", "FETCH_INTERVAL": "Fetch every (s)",
    "FETCH_COUNT_POSTFIX": "Postfix lines per fetch", "FETCH_COUNT_RSPAMD": "Rspamd rows per fetch",
    "FETCH_COUNT_NETFILTER": "Netfilter lines per fetch", "RETENTION_DAYS": "Keep logs (days)",
    "CLEANUP_HOUR": "Clean up at (hour)", "MAX_CORRELATION_AGE_MINUTES": "Wait for a message's lines (min)",
    "CORRELATION_CHECK_INTERVAL": "Re-check incomplete messages every (s)", "TZ": "Time zone",
    "APP_TITLE": "Title", "APP_LOGO_URL": "Logo", "LOG_LEVEL": "Log level", "BLACKLIST_EMAILS": "Hidden addresses",
    "LOCAL_DOMAINS": "Extra local domains", "MAX_SEARCH_RESULTS": "Count search results up to",
    "CSV_EXPORT_LIMIT": "CSV rows at most", "SCHEDULER_WORKERS": "Background workers",
    "STATUS_CACHE_SECONDS": "Cache mailcow's status (s)", "APP_VERSION_URL": "Release check (this app)",
    "MAILCOW_VERSION_URL": "Release check (mailcow)", "DATA_DIR": "Data folder",
    "APP_HOST": "Listen address", "APP_PORT": "Listen port", "WEB_THREADS": "Web threads", "DEBUG": "Debug mode",
    "AUTH_ENABLED": "Login required", "AUTH_USERNAME": "Login name",
    "GEOIP": "IP countries",
}


class Variable(NamedTuple):
    variable: str
    label: str
    value: str | int | float | bool | list | None


def _shown(variable: str, value):
    if variable == "BLACKLIST_EMAILS":
        return f"{len(value)} address{'' if len(value) == 1 else 'es'}"   # the addresses themselves stay private
    if variable == "LOG_LEVEL":
        return logging.getLevelName(logging.getLogger().getEffectiveLevel())
    return list(value) if isinstance(value, tuple) else value


def effective_variables(settings: Settings) -> list[Variable]:
    return [Variable(field.data_key, LABELS.get(field.data_key, field.data_key), _shown(field.data_key, getattr(settings, name)))
            for name, field in _EnvSchema().fields.items() if field.data_key not in SECRETS]
