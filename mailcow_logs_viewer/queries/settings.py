"""What /api/settings/info and /api/settings/health read from the database (and the job
runner): import state per source, correlation progress, the newest unfinished messages."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from ..db import database
from ..models import DovecotLine, Gap, ImportState, Message, NetfilterLine, PostfixLine, RspamdRow, State
from ..traffic import Traffic
from .counts import hourly_counts, row_count
from .filters import select_where
from .results import iso
from .scope import ADMIN, Scope

SOURCE_TABLES = (("postfix", PostfixLine), ("rspamd", RspamdRow), ("netfilter", NetfilterLine), ("dovecot", DovecotLine))
GAPS_READ, GAPS_SHOWN = 100, 10
INCOMPLETE_SHOWN = 10


@dataclass
class GapItem:
    start: str
    end: str
    estimated_missed: int
    detected_at: str
    server: str


@dataclass
class ImportSource:
    last_import: str | None
    last_fetch_run: str | None
    total_entries: int
    oldest_entry: str | None
    unparsed: int
    last_error: str | None
    gaps: int
    estimated_missed: int
    recent_gaps: list[GapItem]
    # what fetching this source costs mailcow (bytes of the answers; issue 17)
    api_bytes_per_day: int | None
    api_bytes_per_fetch: int | None
    api_bytes_last_24h: int
    api_requests_last_24h: int


@dataclass
class CorrelationStatus:
    last_update: str | None
    total: int
    complete: int
    incomplete: int
    expired: int
    completion_rate: float
    correlated_up_to_line: int


@dataclass
class IncompleteMessage:
    message_id: str | None
    queue_id: str | None
    sender: str | None
    recipient: str | None
    created_at: str
    age_minutes: int
    final_status: str
    correlation_key: str


@dataclass
class SettingsInfo:
    configuration: dict
    variables: list[dict]           # every setting as in effect (effective_settings)
    import_status: dict[str, ImportSource]
    correlation_status: CorrelationStatus
    background_jobs: dict
    alerts: dict                    # open alerts and the channels' delivery health
    recent_incomplete_correlations: list[IncompleteMessage]


def _incomplete(scope: Scope):
    return Message.select(Message.id).where(Message.is_complete == False, *scope.servers_filter(Message))  # noqa: E712


def _latest(values):
    return max((v for v in values if v is not None), default=None)


def import_status(scope: Scope, now: int, servers: list[str]) -> dict[str, ImportSource]:
    """Per source, the fetch state of the `servers` in the scope (all configured ones by
    default): counts added up, the latest times, each server's error named."""
    servers = [name for name in servers if scope.servers is None or name in scope.servers]
    states: dict[str, list[ImportState]] = {}
    for state in select_where(ImportState, scope.servers_filter(ImportState)).order_by(ImportState.server):
        states.setdefault(state.source, []).append(state)
    gaps: dict[str, list[GapItem]] = {}
    for gap in select_where(Gap, scope.servers_filter(Gap)).order_by(Gap.start_time.desc()).limit(GAPS_READ):
        gaps.setdefault(gap.source, []).append(GapItem(iso(gap.start_time), iso(gap.end_time), gap.estimated_missed,
                                                       iso(gap.detected_at), gap.server))
    several = len(servers) > 1
    result = {}
    for source, model in SOURCE_TABLES:
        mine = states.get(source, [])
        source_gaps = gaps.get(source, [])
        # One server's, or every server's added up (traffic.py), as /metrics shows it.
        traffic = (Traffic(servers[0], source) if len(servers) == 1 else Traffic.of_every_server(source)).summary(now)
        errors = [f"{s.server}: {s.last_error}" if several else s.last_error for s in mine if s.last_error]
        result[source] = ImportSource(
            last_import=iso(_latest(s.last_import for s in mine)),
            last_fetch_run=iso(_latest(s.last_fetch_run for s in mine)),
            total_entries=row_count(model, scope),
            oldest_entry=iso(select_where(model, scope.servers_filter(model), fn.MIN(model.time)).scalar()),
            unparsed=sum(s.unparsed for s in mine),
            last_error="; ".join(errors) or None,
            gaps=len(source_gaps),
            estimated_missed=sum(g.estimated_missed for g in source_gaps),
            recent_gaps=source_gaps[:GAPS_SHOWN],
            api_bytes_per_day=traffic.bytes_per_day, api_bytes_per_fetch=traffic.bytes_per_fetch,
            api_bytes_last_24h=traffic.bytes_last_24h, api_requests_last_24h=traffic.requests_last_24h)
    return result


def _last_run(runner, name: str):
    return runner.statuses[name].last_run if runner and name in runner.statuses else None


def correlation_status(scope: Scope, runner) -> CorrelationStatus:
    total = hourly_counts(scope=scope)["total"]
    # Incomplete messages are the few recent ones: count those, not the many complete ones.
    complete = total - _incomplete(scope).count()
    expired = (Message.select(Message.id)
               .where(Message.expired_unlinked == True, *scope.servers_filter(Message)).count())  # noqa: E712
    last = State.get_or_none(State.key == "correlate_postfix")
    last_update = max(filter(None, (_last_run(runner, "complete_correlations"), _last_run(runner, "fetch_logs"))),
                      default=None)
    return CorrelationStatus(
        last_update=iso(last_update), total=total, complete=complete, incomplete=total - complete, expired=expired,
        completion_rate=round(100.0 * complete / total, 2) if total else 0.0,
        correlated_up_to_line=int(last.value) if last else 0)


def _interval_text(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds} seconds ({seconds // 3600} hour{'s' if seconds > 3600 else ''})"
    if seconds % 60 == 0 and seconds >= 120:
        return f"{seconds} seconds ({seconds // 60} minutes)"
    return f"{seconds} seconds"


def _job_state(status) -> str:
    if status.running:
        return "running"
    if status.last_error:
        return "error"
    return "scheduled" if status.runs == 0 or status.daily_at else "ok"


def background_jobs(runner, settings) -> dict:
    if runner is None:
        return {}
    jobs = {}
    for name, status in runner.statuses.items():
        job = {"description": status.description,
               "status": _job_state(status),
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
            job["pending_items"] = _incomplete(ADMIN).count()
        if status.last_result:
            job["last_result"] = status.last_result
        jobs[name] = job
    return jobs


def recent_incomplete(scope: Scope, now: int) -> list[IncompleteMessage]:
    rows = (Message.select().where(Message.is_complete == False, *scope.message_filter())  # noqa: E712
            .order_by(Message.first_seen.desc()).limit(INCOMPLETE_SHOWN))
    return [IncompleteMessage(m.message_id, m.queue_id, m.sender, m.recipients.split(", ")[0] if m.recipients else None,
                              iso(m.first_seen), max(0, (now - m.first_seen) // 60), m.final_status, m.correlation_key)
            for m in rows]


def settings_info(scope: Scope, configuration: dict, variables: list[dict], alerts: dict, runner, settings,
                  now: int) -> SettingsInfo:
    servers = [server.name for server in settings.servers]
    return SettingsInfo(configuration, variables, import_status(scope, now, servers), correlation_status(scope, runner),
                        background_jobs(runner, settings), alerts, recent_incomplete(scope, now))


def recent_imports(scope: Scope, since: int) -> dict[str, int]:
    """Lines and messages stored since `since` (the settings health check's last 5 minutes)."""
    def count(model, time_field):
        return model.select(model.id).where(time_field >= since).count()
    return {"postfix_imported": count(PostfixLine, PostfixLine.time),
            "rspamd_imported": count(RspamdRow, RspamdRow.time),
            "netfilter_imported": count(NetfilterLine, NetfilterLine.time),
            "dovecot_imported": count(DovecotLine, DovecotLine.time),
            "correlations_created": count(Message, Message.first_seen)}


def read_one_row(model) -> None:
    """Raises when the database cannot be read: the health checks' probe."""
    database.execute_sql(f"SELECT 1 FROM {model._meta.table_name} LIMIT 1").fetchall()
