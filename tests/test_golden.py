"""Golden answers: the body of every API endpoint on one fixed simulated world, byte for byte.

The world is the simulator's seed SIM_SEED, six hours of traffic ending at the fixed moment
NOW, fetched over real HTTP and correlated; the clock (`time.time`) reads NOW for the whole
module, so windows such as "the last 24 hours" and every "fetched at" are fixed too. A change
that moves any answer fails here; one that means to (a truth fix, a new field) regenerates the
files and says so in its commit:

    UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py -p no:cacheprovider

Normalised, because they are truly not fixed: the simulator's ephemeral port (it is in
MAILCOW_URL, echoed by /api/info and /api/settings/info) and /api/settings/health's
`response_time_ms` (a measured duration).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from mailcow_logs_viewer.db import open_database

from conftest import SIM_SEED, simulated_world

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NOW = 1772452800          # 2026-03-02T12:00:00Z: a Monday noon, in the past of any test run

# name -> URL. Names are file names under tests/golden/.
REQUESTS = {
    "health": "/api/health",
    "info": "/api/info",
    "messages": "/api/messages",
    "messages-page3": "/api/messages?page=3&limit=20",
    "messages-bounced": "/api/messages?status=bounced",
    "messages-spam": "/api/messages?status=spam&limit=10",
    "messages-inbound-range": "/api/messages?direction=inbound&start_date=2026-03-02T08:30:00Z"
                              "&end_date=2026-03-02T11:15:00Z",
    "messages-search": "/api/messages?search=example&limit=10",
    "messages-search-fields": "/api/messages?search=status:deferred%20OR%20status:rejected&limit=10",
    "messages-user": "/api/messages?search=-status:delivered&limit=10",
    "logs-postfix": "/api/logs/postfix",
    "logs-postfix-page4": "/api/logs/postfix?page=4&limit=30",
    "logs-postfix-deferred": "/api/logs/postfix?status=deferred",
    "logs-postfix-rejected": "/api/logs/postfix?status=rejected&limit=10",
    "logs-postfix-search": "/api/logs/postfix?search=relay&limit=10",
    "logs-rspamd": "/api/logs/rspamd",
    "logs-rspamd-spam": "/api/logs/rspamd?is_spam=true&min_score=5&limit=10",
    "logs-netfilter": "/api/logs/netfilter",
    "logs-netfilter-auth": "/api/logs/netfilter?action=auth_failure&limit=20",
    "queue": "/api/queue",
    "quarantine": "/api/quarantine",
    "stats-dashboard": "/api/stats/dashboard",
    "stats-timeline": "/api/stats/timeline",
    "stats-timeline-48": "/api/stats/timeline?hours=48",
    "stats-top-spam-triggers": "/api/stats/top-spam-triggers",
    "stats-top-blocked-ips": "/api/stats/top-blocked-ips",
    "stats-recent-activity": "/api/stats/recent-activity",
    "stats-auth-failures": "/api/stats/auth-failures",
    "stats-auth-failures-bans": "/api/stats/auth-failures?action=banned&start_date=2026-03-02T09:00:00Z&limit=5",
    "status-containers": "/api/status/containers",
    "status-storage": "/api/status/storage",
    "status-version": "/api/status/version",
    "status-app-version": "/api/status/app-version",
    "status-mailcow-info": "/api/status/mailcow-info",
    "status-summary": "/api/status/summary",
    "settings-info": "/api/settings/info",
    "settings-health": "/api/settings/health",
    "openapi": "/api/openapi.json",
    "export-messages.csv": "/api/export/messages/csv",
    "export-postfix.csv": "/api/export/postfix/csv",
    "export-rspamd.csv": "/api/export/rspamd/csv",
    "export-netfilter.csv": "/api/export/netfilter/csv",
}
DETAILS = 25         # message details of the newest messages, plus one of every status/direction
BY_QUEUE = 10        # /api/logs/postfix/by-queue of the queue ids of the newest lines


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from mailcow_logs_viewer.correlate import Correlator
    from mailcow_logs_viewer.ingest import Ingestor

    def frozen():
        return float(NOW)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", frozen)
        # Their default clocks were bound to time.time when first imported (maybe before this module).
        for cls in (Correlator, Ingestor):
            defaults = cls.__init__.__defaults__
            patch.setattr(cls.__init__, "__defaults__", defaults[:-1] + (frozen,))
        with simulated_world(tmp_path_factory.mktemp("golden"), SIM_SEED, CSV_EXPORT_LIMIT=200) as built:
            yield built


def _normalise(name: str, body: bytes, mailcow_url: str) -> bytes:
    body = body.replace(mailcow_url.encode(), b"http://mailcow.invalid")
    if name == "settings-info":
        # The world's data folder is a fresh temporary directory each run.
        body = re.sub(rb'("variable":"DATA_DIR","label":"Data folder","value":)"[^"]*"', rb'\1"/data"', body)
    if name == "settings-health":
        body = re.sub(rb'"response_time_ms":[0-9.e-]+', b'"response_time_ms":0', body)
    return body


def _requests(client) -> dict[str, str]:
    wanted = dict(REQUESTS)
    messages = client.get("/api/messages?limit=500").get_json()["data"]
    keys = [m["correlation_key"] for m in messages[:DETAILS]]
    firsts: dict[tuple, str] = {}
    for m in messages:
        firsts.setdefault((m["final_status"], m["direction"], m["is_spam"]), m["correlation_key"])
    keys += [k for k in firsts.values() if k not in keys]
    for i, key in enumerate(keys):
        wanted[f"details-{i:02d}"] = f"/api/message/{key}/details"
    lines = client.get("/api/logs/postfix?limit=200").get_json()["data"]
    queues = list(dict.fromkeys(line["queue_id"] for line in lines if line["queue_id"]))[:BY_QUEUE]
    for i, queue_id in enumerate(queues):
        wanted[f"by-queue-{i:02d}"] = f"/api/logs/postfix/by-queue/{queue_id}"
    return wanted


def test_every_answer_is_as_golden(world, tmp_path):
    client, sim, settings = world
    open_database(settings.database_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: float(NOW))
        answers = {}
        for name, url in _requests(client).items():
            response = client.get(url)
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
            answers[name] = _normalise(name, response.get_data(), sim.url)
    suffix = lambda name: "" if name.endswith(".csv") else ".json"  # noqa: E731
    if UPDATE:
        for old in GOLDEN.glob("*"):
            old.unlink()
        for name, body in answers.items():
            (GOLDEN / f"{name}{suffix(name)}").write_bytes(body)
    stored = {p.name for p in GOLDEN.glob("*")}
    expected = {f"{name}{suffix(name)}" for name in answers}
    assert stored == expected, "golden files differ from the requests (UPDATE_GOLDEN=1 regenerates)"
    changed = [name for name, body in answers.items() if (GOLDEN / f"{name}{suffix(name)}").read_bytes() != body]
    for name in changed:
        (tmp_path / name).write_bytes(answers[name])
    assert not changed, f"answers differ from tests/golden/: {changed}, see {tmp_path} (UPDATE_GOLDEN=1 regenerates)"
