"""GET /metrics: Prometheus text, filled from a database fetched from the simulated mailcow."""
from __future__ import annotations

import base64

from prometheus_client.parser import text_string_to_metric_families

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import ImportState, Message, PostfixLine, State

P = "mailcow_logs_viewer_"
NAMES = ("lines_fetched_total", "lines_stored_total", "lines_unparsed_total", "gaps", "gap_missed_lines",
         "fetch_errors_total", "job_last_duration_seconds", "messages", "correlation_lag_seconds",
         "database_size_bytes", "http_requests_total", "http_request_duration_seconds_bucket")


def scrape(client) -> dict:
    """{(name, frozenset(labels)): value} for every sample."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((P + name, frozenset(labels.items())))


def test_metrics_from_a_fetched_database(fetched_app):
    client = fetched_app.test_client()
    text = client.get("/metrics").get_data(as_text=True)
    for name in ("lines_fetched_total", "lines_stored_total", "lines_unparsed_total", "gaps", "fetch_errors_total",
                 "messages", "correlation_lag_seconds", "database_size_bytes"):
        assert f"# TYPE {P}{name.removesuffix('_total')}" in text, name
    samples = scrape(client)
    for source in ("postfix", "rspamd", "netfilter"):
        state = ImportState.get(ImportState.source == source)
        assert value(samples, "lines_fetched_total", source=source) == state.fetched > 0
        assert value(samples, "lines_stored_total", source=source) == state.stored > 0
        assert value(samples, "lines_unparsed_total", source=source) == state.unparsed
        assert value(samples, "gaps", source=source) is not None
    by_status = {}
    for message in Message.select(Message.final_status):
        by_status[message.final_status] = by_status.get(message.final_status, 0) + 1
    assert by_status
    for status, count in by_status.items():
        assert value(samples, "messages", final_status=status) == count
    assert value(samples, "correlation_lag_seconds") == 0          # everything was correlated
    assert value(samples, "correlation_backlog_lines") == 0
    assert value(samples, "database_size_bytes") > 0


def test_correlation_lag_is_the_time_behind(fetched_app):
    newest = PostfixLine.select().order_by(PostfixLine.id.desc()).first()
    middle = PostfixLine.select().order_by(PostfixLine.id).offset(PostfixLine.select().count() // 2).first()
    State.insert(key="correlate_postfix", value=str(middle.id)).on_conflict_replace().execute()
    samples = scrape(fetched_app.test_client())
    assert value(samples, "correlation_lag_seconds") == newest.time - middle.time
    assert value(samples, "correlation_backlog_lines") == PostfixLine.select().where(PostfixLine.id > middle.id).count()


def test_job_metrics_and_fetch_errors(fetched_app):
    runtime = fetched_app.extensions["runtime"]
    runner = runtime.build_runner()            # not started: jobs run by hand

    def broken():
        raise RuntimeError("boom")

    runner.run_job("complete_correlations", runtime.correlator.run)
    runner.run_job("fetch_logs", broken)
    runner.run_job("fetch_logs", broken)
    samples = scrape(fetched_app.test_client())
    assert value(samples, "job_runs_total", job="complete_correlations") == 1
    assert value(samples, "job_failures_total", job="complete_correlations") == 0
    assert value(samples, "job_last_duration_seconds", job="complete_correlations") >= 0
    assert value(samples, "job_failures_total", job="fetch_logs") == 2
    assert value(samples, "fetch_errors_total") == 2


def test_request_counts_and_latency_by_route(app, client):
    client.get("/api/health")
    client.get("/api/health")
    client.get("/api/no-such-route")
    samples = scrape(client)
    assert value(samples, "http_requests_total", endpoint="/api/health", method="GET", status="200") == 2
    assert value(samples, "http_requests_total", endpoint="<unmatched>", method="GET", status="404") == 1
    assert value(samples, "http_request_duration_seconds_count", endpoint="/api/health", method="GET") == 2
    text = client.get("/metrics").get_data(as_text=True)
    for name in NAMES:
        assert P + name in text, name


def test_each_app_has_its_own_registry(make_settings):
    settings = make_settings()
    first, second = create_app(settings), create_app(settings)
    first.test_client().get("/api/health")
    assert first.extensions["metrics_registry"] is not second.extensions["metrics_registry"]
    assert value(scrape(second.test_client()), "http_requests_total", endpoint="/api/health", method="GET",
                 status="200") is None
    database.close()


def test_metrics_behind_auth(make_settings):
    app = create_app(make_settings(AUTH_ENABLED="true", AUTH_PASSWORD="s3cret"))
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    token = base64.b64encode(b"admin:s3cret").decode()
    response = client.get("/metrics", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and f"{P}database_size_bytes" in response.get_data(as_text=True)
    database.close()


def test_a_broken_part_does_not_break_the_scrape(app, client, monkeypatch):
    from mailcow_logs_viewer import metrics

    def explode(self):
        raise RuntimeError("no such table")
    monkeypatch.setattr(metrics.StoreCollector, "_messages", explode)
    samples = scrape(client)
    assert value(samples, "scrape_errors", part="messages") == 1
    assert value(samples, "database_size_bytes") > 0
