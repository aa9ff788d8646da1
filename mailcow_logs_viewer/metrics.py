"""GET /metrics: Prometheus text exposition (behind the same Basic auth as the API, see auth.py).

Each app gets its own CollectorRegistry (tests build many apps in one process). Request counts
and latencies are recorded by a before/after_request hook; everything else is read at scrape
time from the database and the scheduler's job statuses, so a metric is never stale and
nothing is kept twice. A part that cannot be read is skipped and counted in
`mailcow_logs_viewer_scrape_errors`, so one bad query never hides the other metrics.
"""
from __future__ import annotations

import logging
import os
import time

from flask import Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .mail_metrics import MailFigures
from .models import Alert, Gap, ImportState, Message, PostfixLine, State
from .traffic import Traffic
from .vocabulary import SOURCES

log = logging.getLogger(__name__)

PREFIX = "mailcow_logs_viewer"
# Any token is a valid HTTP method and reaches the public routes: a label per raw method would
# let anyone grow the registry (and /metrics) without bound, so unknown methods count as one.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StoreCollector:
    """Metrics read at scrape time from the database, the runtime and the settings."""

    def __init__(self, app):
        self.app = app

    def describe(self):
        return []   # collected lazily; nothing to describe up front (no database at registration)

    def collect(self):
        errors = GaugeMetricFamily(f"{PREFIX}_scrape_errors", "Parts of this scrape that could not be read",
                                   labels=["part"])
        for name, part in (("import", self._imports), ("gaps", self._gaps), ("jobs", self._jobs),
                           ("messages", self._messages), ("correlation", self._correlation),
                           ("database", self._database), ("mailcow", self._mailcow), ("alerts", self._alerts),
                           *MailFigures(self.app).parts()):
            try:
                families = list(part())
            except Exception as error:  # a scrape reports what it can
                log.warning("metrics: %s unreadable: %s", name, error)
                errors.add_metric([name], 1)
                continue
            yield from families
        yield errors

    # -------------------------------------------------------------- import counters

    def _imports(self):
        fetched = CounterMetricFamily(f"{PREFIX}_lines_fetched", "Log entries fetched from mailcow", labels=["source"])
        stored = CounterMetricFamily(f"{PREFIX}_lines_stored", "New log entries stored", labels=["source"])
        unparsed = CounterMetricFamily(f"{PREFIX}_lines_unparsed", "Entries kept raw because they could not be parsed",
                                       labels=["source"])
        last_import = GaugeMetricFamily(f"{PREFIX}_last_import_timestamp_seconds",
                                        "When a fetch last stored new entries", labels=["source"])
        failing = GaugeMetricFamily(f"{PREFIX}_source_fetch_failing", "1 when the last fetch of this source failed",
                                    labels=["source"])
        received = CounterMetricFamily(f"{PREFIX}_api_received_bytes", "Bytes of mailcow's log answers received",
                                       labels=["source"])
        requests = CounterMetricFamily(f"{PREFIX}_api_log_requests", "Log requests made to mailcow", labels=["source"])
        states = {row.source: row for row in ImportState.select()}
        for source in sorted(set(SOURCES) | set(states)):
            traffic = Traffic.of_every_server(source)
            received.add_metric([source], traffic.bytes_total)
            requests.add_metric([source], traffic.requests_total)
            row = states.get(source)
            fetched.add_metric([source], row.fetched if row else 0)
            stored.add_metric([source], row.stored if row else 0)
            unparsed.add_metric([source], row.unparsed if row else 0)
            if row is not None and row.last_import is not None:
                last_import.add_metric([source], row.last_import)
            failing.add_metric([source], 1 if row is not None and row.last_error else 0)
        return fetched, stored, unparsed, last_import, failing, received, requests

    def _gaps(self):
        from peewee import fn

        gaps = GaugeMetricFamily(f"{PREFIX}_gaps", "Detected gaps (entries mailcow trimmed before they were fetched), "
                                 "within the retention period", labels=["source"])
        missed = GaugeMetricFamily(f"{PREFIX}_gap_missed_lines", "Estimated entries lost in detected gaps",
                                   labels=["source"])
        found = {source: (count, total or 0) for source, count, total in
                 Gap.select(Gap.source, fn.COUNT(Gap.id), fn.SUM(Gap.estimated_missed)).group_by(Gap.source).tuples()}
        for source in sorted(set(SOURCES) | set(found)):
            count, total = found.get(source, (0, 0))
            gaps.add_metric([source], count)
            missed.add_metric([source], total)
        return gaps, missed

    # -------------------------------------------------------------- background jobs

    def _jobs(self):
        runs = CounterMetricFamily(f"{PREFIX}_job_runs", "Runs of a background job", labels=["job"])
        failures = CounterMetricFamily(f"{PREFIX}_job_failures", "Failed runs of a background job", labels=["job"])
        duration = GaugeMetricFamily(f"{PREFIX}_job_last_duration_seconds", "How long the last run took",
                                     labels=["job"])
        last_run = GaugeMetricFamily(f"{PREFIX}_job_last_run_timestamp_seconds", "When the last run started",
                                     labels=["job"])
        running = GaugeMetricFamily(f"{PREFIX}_job_running", "1 while the job runs", labels=["job"])
        fetch_errors = CounterMetricFamily(f"{PREFIX}_fetch_errors", "Failed fetches from mailcow (fetch_logs job)")
        runner = getattr(self.app.extensions.get("runtime"), "runner", None)
        statuses = dict(runner.statuses) if runner is not None else {}
        for name, status in sorted(statuses.items()):
            runs.add_metric([name], status.runs)
            failures.add_metric([name], status.failures)
            if status.last_duration is not None:
                duration.add_metric([name], status.last_duration)
            if status.last_run is not None:
                last_run.add_metric([name], status.last_run)
            running.add_metric([name], 1 if status.running else 0)
        fetch = statuses.get("fetch_logs")
        fetch_errors.add_metric([], fetch.failures if fetch is not None else 0)
        return runs, failures, duration, last_run, running, fetch_errors

    # -------------------------------------------------------------- messages and correlation

    def _messages(self):
        from peewee import fn

        family = GaugeMetricFamily(f"{PREFIX}_messages", "Stored messages by final status", labels=["final_status"])
        for status, count in (Message.select(Message.final_status, fn.COUNT(Message.id))
                              .group_by(Message.final_status).tuples()):
            family.add_metric([status or "unknown"], count)
        return (family,)

    def _correlation(self):
        lag = GaugeMetricFamily(f"{PREFIX}_correlation_lag_seconds",
                                "Seconds between the newest stored Postfix line and the newest correlated one")
        backlog = GaugeMetricFamily(f"{PREFIX}_correlation_backlog_lines", "Stored Postfix lines not correlated yet")
        seconds, lines = correlation_backlog()
        lag.add_metric([], seconds)
        backlog.add_metric([], lines)
        return lag, backlog

    def _alerts(self):
        from peewee import fn

        family = GaugeMetricFamily(f"{PREFIX}_alerts_open", "Open alerts by rule", labels=["rule"])
        for rule, count in (Alert.select(Alert.rule, fn.COUNT(Alert.id)).where(Alert.state == "open")
                            .group_by(Alert.rule).tuples()):
            family.add_metric([rule], count)
        return (family,)

    # -------------------------------------------------------------- storage and mailcow

    def _database(self):
        path = self.app.config["SETTINGS"].database_path
        size = GaugeMetricFamily(f"{PREFIX}_database_size_bytes", "Size of the SQLite file plus its write-ahead log")
        total = 0
        for candidate in (path, path.with_name(path.name + "-wal")):
            try:
                total += os.path.getsize(candidate)
            except OSError:
                pass
        size.add_metric([], total)
        return (size,)

    def _mailcow(self):
        runtime = self.app.extensions.get("runtime")
        state = dict(getattr(runtime, "mailcow_state", None) or {})
        reachable = GaugeMetricFamily(f"{PREFIX}_mailcow_reachable",
                                      "1 when the last call to mailcow succeeded, 0 when it failed (absent before)")
        if state.get("reachable") is not None:
            reachable.add_metric([], 1 if state["reachable"] else 0)
        started = GaugeMetricFamily(f"{PREFIX}_start_time_seconds", "When this app started")
        if runtime is not None and getattr(runtime, "started_at", None):
            started.add_metric([], runtime.started_at)
        return reachable, started


def correlation_backlog() -> tuple[int, int]:
    """(seconds between the newest stored and the newest correlated Postfix line, lines not
    correlated yet): the lag metric and the correlation_lag alert rule."""
    cursor_row = State.get_or_none(State.key == "correlate_postfix")
    try:
        cursor = int(cursor_row.value) if cursor_row else 0
    except ValueError:
        cursor = 0
    newest = PostfixLine.select(PostfixLine.id, PostfixLine.time).order_by(PostfixLine.id.desc()).limit(1).first()
    if newest is None or newest.id <= cursor:
        return 0, 0
    done = (PostfixLine.select(PostfixLine.time).where(PostfixLine.id <= cursor)
            .order_by(PostfixLine.id.desc()).limit(1).first())
    if done is None:
        # Nothing correlated yet: the lag is everything stored.
        oldest = PostfixLine.select(PostfixLine.time).order_by(PostfixLine.id).limit(1).first()
        reference = oldest.time if oldest is not None else newest.time
    else:
        reference = done.time
    return max(0, newest.time - reference), PostfixLine.select().where(PostfixLine.id > cursor).count()


def install_metrics(app) -> CollectorRegistry:
    """Register GET /metrics and the request hooks on `app`, with a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    requests_total = Counter(f"{PREFIX}_http_requests", "HTTP requests by endpoint, method and status",
                             ["endpoint", "method", "status"], registry=registry)
    latency = Histogram(f"{PREFIX}_http_request_duration_seconds", "Time to answer a request, by endpoint",
                        ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=registry)
    registry.register(StoreCollector(app))
    app.extensions["metrics_registry"] = registry

    @app.before_request
    def _metrics_start():
        g._metrics_started = time.perf_counter()

    @app.after_request
    def _metrics_record(response):
        # url_rule is the route template (/api/message/<key>/details), never the raw path, so
        # the label set stays small; anything unrouted counts as one "<unmatched>" endpoint.
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        method = request.method if request.method in METHODS else "other"
        requests_total.labels(rule, method, str(response.status_code)).inc()
        started = g.get("_metrics_started")
        if started is not None:
            latency.labels(rule, method).observe(time.perf_counter() - started)
        return response

    def metrics_view():
        body = generate_latest(registry)
        return Response(body, mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                      "Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    return registry


__all__ = ["install_metrics", "StoreCollector"]
