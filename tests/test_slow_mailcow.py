"""A slow mailcow (answers in 12 s, inside the 30 s timeout) must not stop the app.

Real waitress with 4 threads, real HTTP to the simulated mailcow made slow by its `slow`
fault: several tabs' worth of footer and dashboard requests (the version in the footer, the
summary that needs five mailcow calls) at once, and `/api/messages`, which needs only the
database, still answers at once; the mailcow-backed answers come back within the short wait,
stale (the last answer, marked) or 502, and each mailcow endpoint is asked once.
"""
from __future__ import annotations

import threading
import time

import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.api.responses import QueueSchema, StatusSummarySchema
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.mailcow_live import WAIT_SECONDS
from mailcow_logs_viewer.runtime import Runtime

from conftest import served

TAB = ("/api/status/version", "/api/status/summary", "/api/status/app-version", "/api/status/containers")


def _app(make_settings, simulator, **env):
    simulator.preload(hours=2)
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key, **env)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.fetch_and_correlate()
    return app, runtime


def _open_tabs(url: str, tabs: int) -> tuple[list, list[threading.Thread]]:
    answers: list = []

    def tab():
        for path in TAB:
            started = time.monotonic()
            try:
                response = requests.get(url + path, timeout=60)
                answers.append((path, response.status_code, response.json(), time.monotonic() - started))
            except requests.RequestException as error:
                answers.append((path, None, str(error), time.monotonic() - started))
    threads = [threading.Thread(target=tab) for _ in range(tabs)]
    for thread in threads:
        thread.start()
    return answers, threads


def test_slow_mailcow_does_not_hold_the_database_pages(make_settings, simulator):
    app, runtime = _app(make_settings, simulator)
    try:
        with served(app, threads=4) as url:
            simulator.fault_delay = 12
            simulator.set_fault("slow")
            before = simulator.requests.copy()
            answers, threads = _open_tabs(url, tabs=6)
            time.sleep(0.5)
            started = time.monotonic()
            messages = requests.get(f"{url}/api/messages?limit=5", timeout=15)
            took = time.monotonic() - started
            assert messages.status_code == 200 and messages.json()["total"] > 0
            assert took < WAIT_SECONDS + 3, f"/api/messages took {took:.1f} s behind a slow mailcow"
            for thread in threads:
                thread.join(60)
            assert len(answers) == 6 * len(TAB)
            for path, status, body, seconds in answers:
                assert seconds < 3 * (WAIT_SECONDS + 1), (path, seconds)
                if path == "/api/status/app-version":
                    assert status == 200
                else:   # nothing known yet: an immediate 502 that says why
                    assert status == 502, (path, status, body)
                    assert body["detail"].startswith("mailcow could not be reached: no answer within")
            time.sleep(12)                           # mailcow counts a request when it has answered it
            asked = simulator.requests - before
            for endpoint in ("status/version", "status/containers", "status/vmail", "domain/all"):
                assert asked[f"/api/v1/get/{endpoint}"] == 1, (endpoint, asked)
    finally:
        simulator.set_fault(None)
        runtime.client.close()
        database.close()


def test_slow_mailcow_serves_the_last_answer_marked_stale(make_settings, simulator):
    app, runtime = _app(make_settings, simulator, STATUS_CACHE_SECONDS=1)
    try:
        with served(app, threads=4) as url:
            fresh = requests.get(f"{url}/api/status/summary", timeout=10).json()
            assert "stale" not in fresh
            queue = requests.get(f"{url}/api/queue", timeout=10).json()
            assert "stale" not in queue
            time.sleep(1.1)                       # the cached answers expire
            simulator.fault_delay = 8
            simulator.set_fault("slow")
            started = time.monotonic()
            stale = requests.get(f"{url}/api/status/summary", timeout=30)
            assert time.monotonic() - started < WAIT_SECONDS + 1
            body = stale.json()
            assert stale.status_code == 200 and body["stale"] is True and body["fetched_at"]
            assert StatusSummarySchema().validate(body) == {}          # the marks are documented
            assert {k: body[k] for k in ("containers", "storage", "system")} == \
                {k: fresh[k] for k in ("containers", "storage", "system")}
            again = requests.get(f"{url}/api/queue", timeout=30).json()
            assert again["stale"] is True and again["data"] == queue["data"]
            assert QueueSchema().validate(again) == {}
            simulator.set_fault(None)
            deadline = time.monotonic() + 30       # the background refresh lands: fresh again
            while "stale" in requests.get(f"{url}/api/status/summary", timeout=30).json():
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        simulator.set_fault(None)
        runtime.client.close()
        database.close()
