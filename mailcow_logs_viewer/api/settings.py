"""GET /api/settings/info and GET /api/settings/health."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify
from peewee import fn

from ..db import database
from ..domains import local_domains
from ..effective_settings import effective_variables
from ..models import DovecotLine, Gap, ImportState, Message, NetfilterLine, PostfixLine, RspamdRow, State
from ..queries import hourly_counts, row_count
from ..traffic import Traffic
from .health import mailcow_block
from .params import iso

bp = Blueprint("settings", __name__)

_SOURCES = (("postfix", PostfixLine), ("rspamd", RspamdRow), ("netfilter", NetfilterLine), ("dovecot", DovecotLine))


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


def _import_status() -> dict:
    states = {s.source: s for s in ImportState.select()}
    gaps: dict[str, list] = {}
    for gap in Gap.select().order_by(Gap.start_time.desc()).limit(100):
        gaps.setdefault(gap.source, []).append({"start": iso(gap.start_time), "end": iso(gap.end_time),
                                                "estimated_missed": gap.estimated_missed,
                                                "detected_at": iso(gap.detected_at)})
    result = {}
    for source, model in _SOURCES:
        state = states.get(source)
        oldest = model.select(fn.MIN(model.time)).scalar()
        total = row_count(model)
        source_gaps = gaps.get(source, [])
        result[source] = {
            "last_import": iso(state.last_import) if state else None,
            "last_fetch_run": iso(state.last_fetch_run) if state else None,
            "total_entries": total,
            "oldest_entry": iso(oldest),
            "unparsed": state.unparsed if state else 0,
            "last_error": state.last_error if state else None,
            "gaps": len(source_gaps),
            "estimated_missed": sum(g["estimated_missed"] for g in source_gaps),
            "recent_gaps": source_gaps[:10],
            **_api_traffic(source),
        }
    return result


def _api_traffic(source: str) -> dict:
    """What fetching this source costs mailcow (bytes of the answers; issue 17)."""
    traffic = Traffic(source).summary(int(time.time()))
    return {"api_bytes_per_day": traffic.bytes_per_day, "api_bytes_per_fetch": traffic.bytes_per_fetch,
            "api_bytes_last_24h": traffic.bytes_last_24h, "api_requests_last_24h": traffic.requests_last_24h}


def _correlation_status(runtime) -> dict:
    total = hourly_counts()["total"]
    # Incomplete messages are the few recent ones: count those, not the many complete ones.
    complete = total - Message.select(Message.id).where(Message.is_complete == False).count()
    expired = Message.select(Message.id).where(Message.expired_unlinked == True).count()
    last = State.get_or_none(State.key == "correlate_postfix")
    runner = runtime.runner
    last_run = runner.statuses["complete_correlations"].last_run if runner and "complete_correlations" in runner.statuses else None
    fetch_run = runner.statuses["fetch_logs"].last_run if runner and "fetch_logs" in runner.statuses else None
    last_update = max(filter(None, (last_run, fetch_run)), default=None)
    return {
        "last_update": iso(last_update),
        "total": total,
        "complete": complete,
        "incomplete": total - complete,
        "expired": expired,
        "completion_rate": round(100.0 * complete / total, 2) if total else 0.0,
        "correlated_up_to_line": int(last.value) if last else 0,
    }


def _interval_text(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds} seconds ({seconds // 3600} hour{'s' if seconds > 3600 else ''})"
    if seconds % 60 == 0 and seconds >= 120:
        return f"{seconds} seconds ({seconds // 60} minutes)"
    return f"{seconds} seconds"


def background_jobs(runtime) -> dict:
    runner = runtime.runner
    if runner is None:
        return {}
    jobs = {}
    settings = runtime.settings
    for name, status in runner.statuses.items():
        job = {"description": status.description,
               "status": "running" if status.running else ("error" if status.last_error else
                                                           ("scheduled" if status.runs == 0 or status.daily_at else "ok")),
               "last_run": iso(status.last_run),
               "last_duration_seconds": round(status.last_duration, 3) if status.last_duration is not None else None,
               "last_error": status.last_error,
               "next_run": iso(status.next_run),
               "runs": status.runs,
               "failures": status.failures}
        if status.interval_seconds:
            job["interval"] = _interval_text(status.interval_seconds)
        if status.daily_at:
            job["schedule"] = f"Daily at {status.daily_at} ({settings.timezone})"
            job["retention"] = f"{settings.retention_days} days"
        if name == "complete_correlations":
            job["pending_items"] = Message.select(Message.id).where(Message.is_complete == False).count()
        if status.last_result:
            job["last_result"] = status.last_result
        jobs[name] = job
    return jobs


def alerts_block() -> dict:
    from ..models import Alert
    from .alerts import channel_status
    return {"open": Alert.select(Alert.id).where(Alert.state == "open").count(), "channels": channel_status()}


@bp.get("/settings/info")
def info():
    settings = current_app.config["SETTINGS"]
    runtime = current_app.extensions["runtime"]
    now = int(time.time())
    incomplete = (Message.select().where(Message.is_complete == False)
                  .order_by(Message.first_seen.desc()).limit(10))
    return jsonify({
        "configuration": _configuration(settings),
        "variables": [v._asdict() for v in effective_variables(settings)],
        "import_status": _import_status(),
        "correlation_status": _correlation_status(runtime),
        "background_jobs": background_jobs(runtime),
        "alerts": alerts_block(),
        "recent_incomplete_correlations": [
            {"message_id": m.message_id, "queue_id": m.queue_id, "sender": m.sender,
             "recipient": (m.recipients.split(", ")[0] if m.recipients else None), "created_at": iso(m.first_seen),
             "age_minutes": max(0, (now - m.first_seen) // 60), "final_status": m.final_status,
             "correlation_key": m.correlation_key}
            for m in incomplete],
    })


@bp.get("/settings/health")
def health():
    started = time.perf_counter()
    try:
        database.execute_sql("SELECT 1 FROM message LIMIT 1").fetchall()
        db = {"status": "connected"}
    except Exception as error:  # report, never raise: this endpoint exists to show failures
        current_app.logger.error("settings/health: database unreadable: %s", error)
        db = {"status": "error"}
    db["response_time_ms"] = round((time.perf_counter() - started) * 1000, 2)
    body = {"status": "healthy" if db["status"] == "connected" else "unhealthy", "timestamp": iso(time.time()),
            "database": db}
    if db["status"] == "connected":
        since = int(time.time()) - 300
        body["recent_activity"] = {"last_5_minutes": {
            "postfix_imported": PostfixLine.select(PostfixLine.id).where(PostfixLine.time >= since).count(),
            "rspamd_imported": RspamdRow.select(RspamdRow.id).where(RspamdRow.time >= since).count(),
            "netfilter_imported": NetfilterLine.select(NetfilterLine.id).where(NetfilterLine.time >= since).count(),
            "dovecot_imported": DovecotLine.select(DovecotLine.id).where(DovecotLine.time >= since).count(),
            "correlations_created": Message.select(Message.id).where(Message.first_seen >= since).count(),
        }}
    body["mailcow"] = mailcow_block()
    return jsonify(body), 200 if db["status"] == "connected" else 503
