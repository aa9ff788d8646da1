"""GET /api/settings/info and GET /api/settings/health."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from ..domains import local_domains
from ..effective_settings import effective_variables
from ..models import Message
from ..auth import current_scope
from ..queries.alerts import open_alert_count
from ..queries.results import iso
from ..queries.settings import read_one_row, recent_imports, settings_info
from .alerts import channel_status
from .health import mailcow_block
from .serialize import answer

bp = Blueprint("settings", __name__)


def _configuration(settings) -> dict:
    return {
        "mailcow_url": settings.mailcow_url,
        "local_domains": sorted(local_domains()),
        "fetch_interval": settings.fetch_interval,
        "fetch_count_postfix": settings.fetch_count_postfix,
        "fetch_count_rspamd": settings.fetch_count_rspamd,
        "fetch_count_netfilter": settings.fetch_count_netfilter,
        "fetch_count_dovecot": settings.fetch_count_dovecot,
        "retention_days": settings.retention_days,
        "message_retention_days": settings.message_retention_days,
        "counter_retention_days": settings.counter_retention_days,
        "redact_subjects": settings.redact_subjects,
        "anonymize_ips_after_days": settings.anonymize_ips_after_days,
        "cleanup_hour": settings.cleanup_hour,
        "timezone": settings.timezone,
        "app_title": settings.app_title,
        "log_level": settings.log_level,
        "blacklist_enabled": bool(settings.blacklist_emails),
        "blacklist_count": len(settings.blacklist_emails),
        "max_search_results": settings.max_search_results,
        "csv_export_limit": settings.csv_export_limit,
        "scheduler_workers": settings.scheduler_workers,
        "max_correlation_age_minutes": settings.max_correlation_age_minutes,
        "correlation_check_interval": settings.correlation_check_interval,
        "mailcow_api_timeout": settings.mailcow_api_timeout,
        "mailcow_verify_ssl": settings.mailcow_verify_ssl,
        "auth_enabled": settings.auth_enabled,
        "auth_username": settings.auth_username if settings.auth_enabled else None,
    }


def alerts_block() -> dict:
    return {"open": open_alert_count(current_scope()), "channels": channel_status()}


@bp.get("/settings/info")
def info():
    settings = current_app.config["SETTINGS"]
    runner = current_app.extensions["runtime"].runner
    return answer(settings_info(current_scope(), _configuration(settings), [v._asdict() for v in effective_variables(settings)],
                                alerts_block(), runner, settings, int(time.time())))


@bp.get("/settings/health")
def health():
    started = time.perf_counter()
    try:
        read_one_row(Message)
        db = {"status": "connected"}
    except Exception as error:  # report, never raise: this endpoint exists to show failures
        current_app.logger.error("settings/health: database unreadable: %s", error)
        db = {"status": "error"}
    db["response_time_ms"] = round((time.perf_counter() - started) * 1000, 2)
    body = {"status": "healthy" if db["status"] == "connected" else "unhealthy", "timestamp": iso(time.time()),
            "database": db}
    if db["status"] == "connected":
        body["recent_activity"] = {"last_5_minutes": recent_imports(current_scope(), int(time.time()) - 300)}
    body["mailcow"] = mailcow_block()
    return jsonify(body), 200 if db["status"] == "connected" else 503
