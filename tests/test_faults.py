"""Mailcow misbehaving for several fetch cycles, with the real scheduler thread running the jobs.

Each fault of the simulated mailcow (connection refused, answers slower than
MAILCOW_API_TIMEOUT, a 500 with an HTML body, a 401, `{}`, an empty body, truncated JSON,
`null` entries) stays on for several cycles of the scheduled `fetch_logs` job while new
lines keep arriving at mailcow. Throughout: the app answers from its database, /api/health
stays 200 and says mailcow is unreachable, the scheduler thread lives on and records the job
failures; once mailcow recovers, every line still in its buffer is stored exactly once.

The jobs are not waited for at their interval (which would make this minutes long): the test
moves the scheduled job's `next_run` to now and waits for the scheduler thread to run it, so
every cycle runs on the real scheduler thread through `JobRunner.run_job`.
"""
from __future__ import annotations

import datetime
import time

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import NetfilterLine, PostfixLine, RspamdRow
from mailcow_logs_viewer.runtime import Runtime

from conftest import run_scheduled

LOGS = ("/api/v1/get/logs/postfix", "/api/v1/get/logs/rspamd-history", "/api/v1/get/logs/netfilter")
# Faults after which a fetch cycle fails (and mailcow is reported unreachable). `{}` is what
# mailcow sends for an empty list and `null` entries are lines it could not decode: both are
# valid answers, so those cycles succeed.
FAILING = {"down": "cannot connect", "slow": "no answer within 1 s", "error500": "HTTP 500",
           "unauthorized": "401 authentication failed", "empty_body": "empty answer", "truncated": "not JSON"}
CYCLES = {"slow": 2}          # a slow cycle costs 3 attempts x 1 s x 3 sources
DEFAULT_CYCLES = 3


def _stored_postfix() -> list[tuple]:
    return sorted((r.time, r.program, r.message) for r in PostfixLine.select(PostfixLine.time, PostfixLine.program,
                                                                               PostfixLine.message))


def _buffer_postfix(sim) -> list[tuple]:
    return sorted((int(e["time"]), e["program"], e["message"]) for e in sim.buffer("postfix") if e is not None)


@pytest.fixture
def running(make_settings, simulator):
    """(simulator, runtime, Flask test client) with the scheduler thread started."""
    start = time.time() - 2 * 3600
    simulator.preload(hours=0.5, now=start)
    simulator.fault_delay = 2
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key, MAILCOW_API_TIMEOUT=1,
                             FETCH_INTERVAL=3600, CORRELATION_CHECK_INTERVAL=3600)
    runtime = Runtime(settings)
    runtime.client.backoff = 0.01     # the retry count stays the product's; only the pauses are shortened
    app = create_app(settings, runtime)
    runner = runtime.build_runner()
    runner.tick = 0.02
    runner.start(run_immediately=False)
    try:
        yield simulator, runtime, app.test_client(), start
    finally:
        simulator.set_fault(None)
        runtime.stop()
        database.close()


@pytest.mark.parametrize("fault", ["down", "slow", "error500", "unauthorized", "empty_object", "empty_body",
                                   "truncated", "null_entries"])
def test_mailcow_fault_for_several_cycles_then_recovery(running, fault):
    sim, runtime, client, start = running
    runner = runtime.runner
    run_scheduled(runner, "refresh_domains")
    run_scheduled(runner, "fetch_logs")
    assert runner.statuses["fetch_logs"].last_error is None
    assert _stored_postfix() == _buffer_postfix(sim)
    total_before = client.get("/api/messages?limit=1").get_json()["total"]
    assert total_before > 0
    assert client.get("/api/health").get_json()["mailcow"]["reachable"] is True
    failures_before = runner.statuses["fetch_logs"].failures

    sim.set_fault(fault)
    cycles = CYCLES.get(fault, DEFAULT_CYCLES)
    for cycle in range(1, cycles + 1):
        sim.advance(start + cycle * 300)          # mailcow keeps logging while we cannot read it
        requests_before = {path: sim.count_requests(path) for path in LOGS}
        run_scheduled(runner, "fetch_logs")
        if fault == "unauthorized":
            # A 401 is never retried, and one 401 ends the cycle: every failed try counts
            # toward a netfilter ban of this host.
            sent = sum(sim.count_requests(path) - requests_before[path] for path in LOGS)
            assert sent == 1, f"{sent} requests after a 401 in one cycle"
        if fault == "error500":
            # 5xx is retried (bounded): more than one request per source.
            assert sim.count_requests(LOGS[0]) - requests_before[LOGS[0]] == runtime.client.retries + 1

        messages = client.get("/api/messages?limit=5")
        assert messages.status_code == 200
        assert messages.get_json()["total"] >= total_before
        health = client.get("/api/health")
        assert health.status_code == 200
        body = health.get_json()
        # A refused key is degraded (issue 17, finding 9): Docker's check should see it.
        assert body["status"] == ("degraded" if fault == "unauthorized" else "healthy")
        assert body["database"] == "connected"
        assert body["scheduler"] == "running"
        info = client.get("/api/settings/info")
        assert info.status_code == 200
        job = info.get_json()["background_jobs"]["fetch_logs"]
        assert job["runs"] >= cycle + 1
        if fault in FAILING:
            assert body["mailcow"]["reachable"] is False
            assert body["mailcow"]["last_error"]
            assert job["status"] == "error" and FAILING[fault] in job["last_error"]
            assert FAILING[fault] in body["mailcow"]["last_error"]
            assert job["failures"] == failures_before + cycle
        else:
            assert body["mailcow"]["reachable"] is True
            assert job["last_error"] is None
    if fault in FAILING:
        # The hourly domain refresh fails the same way and is recorded, not fatal.
        if fault != "slow":
            run_scheduled(runner, "refresh_domains")
            assert runner.statuses["refresh_domains"].last_error
        assert runtime.mailcow_state["reachable"] is False
    run_scheduled(runner, "complete_correlations")
    assert runner.statuses["complete_correlations"].last_error is None
    assert runner.alive

    sim.set_fault(None)
    sim.advance(start + (cycles + 1) * 300)
    run_scheduled(runner, "fetch_logs")
    run_scheduled(runner, "refresh_domains")
    assert runner.statuses["fetch_logs"].last_error is None
    assert runner.statuses["refresh_domains"].last_error is None
    stored, expected = _stored_postfix(), _buffer_postfix(sim)
    assert len(stored) == len(expected) > 0
    assert stored == expected                          # every line once: none lost, none twice
    assert RspamdRow.select().count() == len(sim.buffer("rspamd"))
    assert NetfilterLine.select().count() == len(sim.buffer("netfilter"))
    body = client.get("/api/health").get_json()
    assert body["mailcow"]["reachable"] is True and body["scheduler"] == "running"
    assert client.get("/api/messages?limit=1").get_json()["total"] > total_before


def test_reads_are_answered_while_a_fetch_hangs_on_a_slow_mailcow(running):
    """A fetch stuck on mailcow's timeouts holds no lock that readers wait for."""
    sim, runtime, client, start = running
    runner = runtime.runner
    run_scheduled(runner, "fetch_logs")
    sim.set_fault("slow")
    status = runner.statuses["fetch_logs"]
    before = status.runs
    job = next(j for j in runner.scheduler.jobs if j.job_func.args and j.job_func.args[0] == "fetch_logs")
    job.next_run = datetime.datetime.now()
    deadline = time.time() + 10
    while not status.running and time.time() < deadline:
        time.sleep(0.02)
    assert status.running
    for path in ("/api/health", "/api/messages?limit=5", "/api/settings/info"):
        started = time.time()
        assert client.get(path).status_code == 200
        assert time.time() - started < 2, f"{path} waited for the hung fetch"
    assert client.get("/api/settings/info").get_json()["background_jobs"]["fetch_logs"]["status"] == "running"
    sim.set_fault(None)
    while status.runs == before:
        time.sleep(0.05)
    assert runner.alive
