"""GET /api/health (public, can fail) and GET /api/info."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from .. import APP_NAME, __version__
from ..auth import current_account
from ..domains import local_domains
from ..models import PostfixLine
from ..queries.settings import read_one_row

bp = Blueprint("health", __name__)


def _runtime():
    return current_app.extensions["runtime"]


def mailcow_block() -> dict:
    state = dict(_runtime().mailcow_state)
    for key in ("last_success", "last_error_at"):
        if state[key] is not None:
            state[key] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state[key]))
    return state


def degraded_by(runtime) -> list[str]:
    """What keeps the app from doing its job while it still answers (Docker's check fails on it)."""
    problems = []
    statuses = dict(runtime.runner.statuses) if runtime.runner is not None else {}
    if any("disk is full" in (status.last_error or "") for status in statuses.values()):
        problems.append("the disk under DATA_DIR is full: new log lines cannot be stored")
    if runtime.key_refused:
        problems.append("mailcow refuses the API key (401): check MAILCOW_API_KEY and its allowed IPs")
    return problems


@bp.get("/health")
def health():
    settings = current_app.config["SETTINGS"]
    try:
        read_one_row(PostfixLine)
        db_status = "connected"
    except Exception as error:  # the point of a health check: report, never raise
        current_app.logger.error("health check: database unreadable: %s", error)
        db_status = "error"
    runner = _runtime().runner
    problems = degraded_by(_runtime())
    body = {
        "status": "unhealthy" if db_status != "connected" else "degraded" if problems else "healthy",
        "database": db_status,
        "version": __version__,
        "scheduler": "running" if runner is not None and runner.alive else "stopped",
        "mailcow": mailcow_block(),
    }
    if problems:
        body["problems"] = problems
    if not settings.auth_enabled:
        body["config"] = {
            "fetch_interval": settings.fetch_interval,
            "retention_days": settings.retention_days,
            "mailcow_url": settings.mailcow_url,
            "blacklist_enabled": bool(settings.blacklist_emails),
            "auth_enabled": settings.auth_enabled,
        }
    return jsonify(body), 200 if db_status == "connected" else 503


@bp.get("/info")
def info():
    settings = current_app.config["SETTINGS"]
    scope = current_account()
    # LOCAL_DOMAINS counts before the first successful refresh from mailcow, too. Other
    # customers' domains are not a mailbox user's or a domain admin's business.
    domains = local_domains() | set(settings.local_domains)
    return jsonify({
        "name": APP_NAME,
        "version": __version__,
        "mailcow_url": settings.mailcow_url,
        "local_domains": sorted(scope.our_domains(domains)),
        "fetch_interval": settings.fetch_interval,
        "retention_days": settings.retention_days,
        "timezone": settings.timezone,
        "app_title": settings.app_title,
        "app_logo_url": settings.app_logo_url,
        "blacklist_count": len(settings.blacklist_emails),
        "auth_enabled": settings.auth_enabled,
        "role": scope.role,
        "username": scope.username,
        "servers": [server.name for server in settings.servers],
    })
