"""/api/queue, /api/quarantine and /api/status/* against the simulated mailcow over real HTTP."""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from mailcow_logs_viewer import __version__, create_app
from mailcow_logs_viewer.api.params import iso
from mailcow_logs_viewer.mailcow_live import docker_time, split_recipient
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.simulator import objects
from mailcow_logs_viewer.versions import check_versions, is_newer

from conftest import free_port

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MAILCOW_ENDPOINTS = ("/api/queue", "/api/quarantine", "/api/status/containers", "/api/status/storage",
                     "/api/status/version", "/api/status/mailcow-info", "/api/status/summary")
VIRUS_ROW = {"id": 0, "qid": "ABCDEF12345", "subject": "Scan_0042.pdf", "virus_flag": 1833, "score": 2013.5,
             "rcpt": "jane@example.org", "sender": "scanner@printers-example.net", "action": "reject",
             "created": 1775622100, "notified": 0}


def raw(sim, endpoint):
    """What the simulated mailcow itself answers (counted in sim.requests like any request)."""
    response = requests.get(f"{sim.url}/api/v1/get/{endpoint}", headers={"X-API-Key": sim.api_key}, timeout=10)
    response.raise_for_status()
    return response.json()


def make_app(make_settings, sim, **overrides):
    settings = make_settings(MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key, **overrides)
    # Same client as production, with a short back-off so the fault tests stay quick.
    client = MailcowClient(settings.mailcow_url, settings.mailcow_api_key, timeout=5, retries=1, backoff=0.01)
    return create_app(settings, Runtime(settings, client=client))


@pytest.fixture
def sim(simulator):
    simulator.preload(hours=6)
    simulator.generator.quarantine_add(dict(VIRUS_ROW))
    yield simulator
    simulator.set_fault(None)


@pytest.fixture
def status_app(make_settings, sim):
    app = make_app(make_settings, sim)
    yield app
    app.extensions["runtime"].client.close()
    database.close()


@pytest.fixture
def api(status_app):
    return status_app.test_client()


# ------------------------------------------------------------------ containers, storage, counts

def test_containers_map_mailcow_fields(api, sim):
    mailcow = raw(sim, "status/containers")
    body = api.get("/api/status/containers").get_json()
    assert set(body) >= {"containers", "summary"}
    assert list(body["containers"]) == list(mailcow)            # keyed by service, mailcow's order
    for service, info in mailcow.items():
        mine = body["containers"][service]
        assert mine["name"] == service.removesuffix("-mailcow")
        assert mine["state"] == info["state"]
        assert mine["image"] == info["image"]
        assert ISO_Z.match(mine["started_at"])
        assert mine["started_at"] == info["started_at"][:19] + "Z"   # nanoseconds dropped, still UTC
    assert body["containers"]["olefy-mailcow"]["state"] == "exited"
    running = sum(1 for info in mailcow.values() if info["state"] == "running")
    assert body["summary"]["running"] == running == len(mailcow) - 1
    assert body["summary"]["stopped"] == 1                     # the exited container
    assert body["summary"]["total"] == len(mailcow) == 18


def test_docker_time_normalisation():
    assert docker_time("2026-04-06T07:12:44.481537201Z") == "2026-04-06T07:12:44Z"
    assert docker_time("2026-04-06T07:12:44Z") == "2026-04-06T07:12:44Z"
    assert docker_time("2026-04-06T09:12:44.5+02:00") == "2026-04-06T07:12:44Z"
    assert docker_time("0001-01-01T00:00:00Z") is None         # never started
    assert docker_time("garbage") is None and docker_time(None) is None


def test_storage_is_mailcow_vmail_strings(api, sim):
    mailcow = raw(sim, "status/vmail")
    body = api.get("/api/status/storage").get_json()
    assert body == {key: mailcow[key] for key in ("disk", "used", "total", "used_percent")}
    assert all(isinstance(value, str) for value in body.values())


def test_mailcow_info_counts(api, sim):
    expected = {}
    for name, endpoint in (("domains", "domain/all"), ("mailboxes", "mailbox/all"), ("aliases", "alias/all")):
        rows = raw(sim, endpoint)
        expected[name] = {"total": len(rows), "active": sum(1 for r in rows if r["active"] == 1)}
    body = api.get("/api/status/mailcow-info").get_json()
    assert body == expected
    assert body["domains"]["total"] > 0 and body["mailboxes"]["total"] > 0


def test_mailcow_info_empty_object_is_zero(api, sim, monkeypatch):
    # mailcow answers `{}`, not `[]`, for an empty alias list.
    monkeypatch.setattr(objects, "aliases", lambda world: [])
    assert requests.get(f"{sim.url}/api/v1/get/alias/all", headers={"X-API-Key": sim.api_key}).content == b"{}"
    body = api.get("/api/status/mailcow-info").get_json()
    assert body["aliases"] == {"total": 0, "active": 0}


def test_summary_combines_the_parts(api, sim):
    body = api.get("/api/status/summary").get_json()
    vmail = raw(sim, "status/vmail")
    assert body["containers"]["running"] == 17 and body["containers"]["stopped"] == 1
    assert body["containers"]["total"] == 18
    assert body["storage"] == {"used_percent": vmail["used_percent"], "used": vmail["used"], "total": vmail["total"]}
    assert body["system"] == {"domains": len(raw(sim, "domain/all")), "mailboxes": len(raw(sim, "mailbox/all")),
                              "aliases": len(raw(sim, "alias/all"))}


# ------------------------------------------------------------------ queue

def test_queue_newest_first_with_recipient_strings(api, sim):
    mailcow = raw(sim, "mailq/all")
    assert mailcow, "the simulator should have deferred mail after six hours"
    body = api.get("/api/queue").get_json()
    assert body["total"] == len(mailcow) == len(body["data"])
    times = [item["arrival_time"] for item in body["data"]]
    assert times == sorted(times, reverse=True)
    by_id = {item["queue_id"]: item for item in mailcow}
    for item in body["data"]:
        original = by_id[item["queue_id"]]
        for key in ("queue_name", "arrival_time", "message_size", "forced_expire", "sender", "recipients"):
            assert item[key] == original[key], key
        assert all(isinstance(r, str) for r in item["recipients"])
        assert item["arrival"] == iso(original["arrival_time"])
        assert len(item["recipients_parsed"]) == len(item["recipients"])
        for text, parsed in zip(item["recipients"], item["recipients_parsed"]):
            assert set(parsed) == {"address", "reason"}
            assert text.startswith(parsed["address"])
            if parsed["reason"] is not None:
                assert text == f"{parsed['address']} ({parsed['reason']})"


def test_split_recipient_on_first_paren():
    text = "bob@x.net (host mx[1.2.3.4] said: 451 4.7.1 (greylisted) (in reply to RCPT TO command))"
    assert split_recipient(text) == {
        "address": "bob@x.net", "reason": "host mx[1.2.3.4] said: 451 4.7.1 (greylisted) (in reply to RCPT TO command)"}
    assert split_recipient("a@b.c") == {"address": "a@b.c", "reason": None}
    assert split_recipient({"address": "a@b.c", "delay_reason": "timeout"}) == {"address": "a@b.c", "reason": "timeout"}


def test_queue_search(api, sim):
    mailcow = raw(sim, "mailq/all")
    target = mailcow[0]
    body = api.get(f"/api/queue?search={target['queue_id'].lower()}").get_json()
    assert [item["queue_id"] for item in body["data"]] == [target["queue_id"]] and body["total"] == 1
    address = split_recipient(target["recipients"][0])["address"]
    body = api.get("/api/queue", query_string={"search": address.upper()}).get_json()
    assert body["total"] >= 1
    assert all(any(address in r for r in item["recipients"]) or address in item["sender"] for item in body["data"])
    assert api.get("/api/queue?search=no-such-thing-anywhere").get_json() == {
        "total": 0, "data": [], "fetched_at": body["fetched_at"]}


@pytest.mark.parametrize("path", ["/api/queue", "/api/quarantine"])
def test_search_is_validated(api, path):
    response = api.get(path, query_string={"search": "x" * 501})
    assert response.status_code == 400 and "search" in response.get_json()["detail"]
    response = api.get(path, query_string={"search": "a\x00b"})
    assert response.status_code == 400 and "search" in response.get_json()["detail"]


# ------------------------------------------------------------------ quarantine

def test_quarantine_shape_and_order(api, sim):
    mailcow = raw(sim, "quarantine/all")
    body = api.get("/api/quarantine").get_json()
    assert body["total"] == len(mailcow) == len(body["data"])
    created = [item["created"] for item in body["data"]]
    assert created == sorted(created, reverse=True)
    by_id = {row["id"]: row for row in mailcow}
    for item in body["data"]:
        row = by_id[item["id"]]
        assert item["subject"] == row["subject"] and item["sender"] == row["sender"]
        assert item["recipients"] == [row["rcpt"]]
        assert ISO_Z.match(item["created"]) and item["created"] == iso(row["created"])
        assert item["virus_flag"] is (row["virus_flag"] > 0)
        assert item["score"] == row["score"] and item["action"] == row["action"] and item["qid"] == row["qid"]
        assert item["notified"] is bool(row["notified"])
        assert f"Rspamd action {row['action']}, score" in item["reason"]


def test_quarantine_virus_row(api, sim):
    body = api.get("/api/quarantine", query_string={"search": "ABCDEF12345"}).get_json()
    assert body["total"] == 1
    item = body["data"][0]
    assert item["virus_flag"] is True                       # mailcow sends 1833: a string position
    assert item["created"] == "2026-04-08T04:21:40Z"
    assert item["reason"] == "Virus found; Rspamd action reject, score 2013.5"
    assert item["recipients"] == ["jane@example.org"] and item["notified"] is False
    assert api.get("/api/quarantine?search=scan_0042").get_json()["total"] >= 1    # subject, any case


def test_quarantine_reason_like_the_spec(api, sim):
    sim.generator.quarantine_add({"id": 0, "qid": "6B4E21A0D93", "subject": "Your invoice #88213 is overdue",
                                  "virus_flag": 0, "score": 17.42, "rcpt": "john@example.org",
                                  "sender": "billing@invoices-example.top", "action": "reject",
                                  "created": 1775601200, "notified": 1})
    item = api.get("/api/quarantine?search=6B4E21A0D93").get_json()["data"][0]
    assert item["reason"] == "Rspamd action reject, score 17.42"
    assert item["virus_flag"] is False and item["notified"] is True


# ------------------------------------------------------------------ caching

def test_second_call_is_served_from_cache(api, sim):
    before = sim.requests.copy()
    for _ in range(3):
        assert api.get("/api/status/summary").status_code == 200
        assert api.get("/api/status/containers").status_code == 200
        assert api.get("/api/queue").status_code == 200
        assert api.get("/api/queue?search=a").status_code == 200
    calls = sim.requests - before
    for endpoint in ("status/containers", "status/vmail", "domain/all", "mailbox/all", "alias/all", "mailq/all"):
        assert calls[f"/api/v1/get/{endpoint}"] == 1, endpoint


def test_cache_can_be_turned_off(make_settings, sim):
    app = make_app(make_settings, sim, STATUS_CACHE_SECONDS=0)
    client = app.test_client()
    before = sim.requests["/api/v1/get/mailq/all"]
    client.get("/api/queue")
    client.get("/api/queue")
    assert sim.requests["/api/v1/get/mailq/all"] - before == 2
    database.close()


def test_cache_expires(make_settings, sim):
    app = make_app(make_settings, sim, STATUS_CACHE_SECONDS=1)
    client = app.test_client()
    before = sim.requests["/api/v1/get/status/vmail"]
    client.get("/api/status/storage")
    client.get("/api/status/storage")
    assert sim.requests["/api/v1/get/status/vmail"] - before == 1
    time.sleep(1.1)
    client.get("/api/status/storage")
    assert sim.requests["/api/v1/get/status/vmail"] - before == 2
    database.close()


def test_concurrent_requests_ask_mailcow_once(status_app, sim):
    sim.set_fault("slow")
    sim.fault_delay = 0.5
    before = sim.requests["/api/v1/get/status/vmail"]
    codes = []

    def call():
        codes.append(status_app.test_client().get("/api/status/storage").status_code)
    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [200] * 6
    assert sim.requests["/api/v1/get/status/vmail"] - before == 1


def test_failure_is_remembered_briefly(make_settings, sim, monkeypatch):
    app = make_app(make_settings, sim)                   # default cache of 30 s
    monkeypatch.setattr(app.extensions["runtime"].live.cache, "error_ttl", 0.5)
    client = app.test_client()
    sim.set_fault("unauthorized")                        # each 401 counts toward a ban: do not repeat it
    before = sim.requests["/api/v1/get/mailq/all"]
    for _ in range(3):
        _assert_clean_502(client.get("/api/queue"), sim.api_key)
    assert sim.requests["/api/v1/get/mailq/all"] - before == 1
    sim.set_fault(None)
    time.sleep(0.6)
    assert client.get("/api/queue").status_code == 200
    database.close()


# ------------------------------------------------------------------ mailcow failing

def _assert_clean_502(response, key):
    assert response.status_code == 502
    body = response.get_json()
    assert set(body) == {"detail"}
    assert body["detail"].startswith("mailcow could not be reached: ")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and key not in text and "<html" not in text.lower()


@pytest.mark.parametrize("fault", ["down", "error500", "unauthorized", "empty_body", "truncated"])
def test_mailcow_failure_is_502(make_settings, sim, fault):
    app = make_app(make_settings, sim, STATUS_CACHE_SECONDS=0)
    client = app.test_client()
    sim.set_fault(fault)
    for path in MAILCOW_ENDPOINTS:
        _assert_clean_502(client.get(path), sim.api_key)
    assert app.extensions["runtime"].mailcow_state["reachable"] is False
    # The app version needs no mailcow: still answers.
    assert client.get("/api/status/app-version").status_code == 200
    sim.set_fault(None)
    assert client.get("/api/status/containers").status_code == 200     # recovers, errors are not cached
    database.close()


def test_down_detail_names_the_reason(make_settings, sim):
    app = make_app(make_settings, sim, STATUS_CACHE_SECONDS=0)
    sim.set_fault("down")
    assert "cannot connect" in app.test_client().get("/api/queue").get_json()["detail"]
    sim.set_fault("error500")
    assert "HTTP 500" in app.test_client().get("/api/queue").get_json()["detail"]
    database.close()


def test_null_body_is_502(api, sim, monkeypatch):
    # mailcow prints `null` for status/containers when dockerapi fails.
    monkeypatch.setattr(objects, "containers", lambda started, stopped="olefy": None)
    monkeypatch.setattr(objects, "vmail", lambda: None)
    for path in ("/api/status/containers", "/api/status/storage", "/api/status/summary"):
        response = api.get(path)
        _assert_clean_502(response, sim.api_key)
        assert "null" in response.get_json()["detail"]


# ------------------------------------------------------------------ versions

class ReleaseServer:
    """A local stand-in for GitHub's releases/latest, counting requests."""

    def __init__(self, releases: dict):
        self.releases = releases
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = json.dumps(outer.releases.get(self.path, {})).encode()
                self.send_response(200 if self.path in outer.releases else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def releases():
    server = ReleaseServer({
        "/app": {"tag_name": "v99.0.0", "body": "Big release", "published_at": "2026-05-01T10:00:00Z",
                 "html_url": "https://example.invalid/app"},
        "/mailcow": {"tag_name": "2026-07a", "body": "mailcow notes", "published_at": "2026-07-20T10:00:00Z"},
    })
    yield server
    server.close()


def test_versions_offline(make_settings, sim):
    closed = free_port()
    app = make_app(make_settings, sim, APP_VERSION_URL=f"http://127.0.0.1:{closed}/app",
                   MAILCOW_VERSION_URL=f"http://127.0.0.1:{closed}/mailcow")
    client = app.test_client()
    before = client.get("/api/status/app-version").get_json()   # no check yet: nothing claimed
    assert before["current_version"] == __version__ and before["update_available"] is False
    assert before["latest_version"] is None and before["last_checked"] is None
    check_versions(app.extensions["runtime"], timeout=2)
    for path, current in (("/api/status/app-version", __version__), ("/api/status/version", objects.VERSION)):
        body = client.get(path).get_json()
        assert body["current_version"] == current
        assert body["update_available"] is False
        assert body["latest_version"] is None
        assert "release check failed" in body["error"] and "cannot connect" in body["error"]
        assert ISO_Z.match(body["last_checked"])
        assert set(body) >= {"current_version", "latest_version", "update_available", "changelog", "last_checked"}
    database.close()


def test_versions_from_the_background_job(make_settings, sim, releases):
    app = make_app(make_settings, sim, APP_VERSION_URL=f"{releases.url}/app",
                   MAILCOW_VERSION_URL=f"{releases.url}/mailcow")
    runtime = app.extensions["runtime"]
    runner = runtime.build_runner()                 # not started: run the registered job by hand
    assert runner.statuses["version_check"].interval_seconds == 86400
    job = next(j for j in runner.scheduler.jobs if j.job_func.args[:1] == ("version_check",))
    job.run()
    assert runner.statuses["version_check"].last_error is None
    assert releases.hits == 2
    client = app.test_client()
    app_body = client.get("/api/status/app-version").get_json()
    assert app_body["current_version"] == __version__ and app_body["latest_version"] == "v99.0.0"
    assert app_body["update_available"] is True and app_body["changelog"] == "Big release"
    assert app_body["error"] is None and ISO_Z.match(app_body["last_checked"])
    mc = client.get("/api/status/version").get_json()
    assert mc["current_version"] == "2026-03b" and mc["latest_version"] == "2026-07a"
    assert mc["update_available"] is True and mc["changelog"] == "mailcow notes"
    assert releases.hits == 2                       # requests never call GitHub themselves
    # Offline later: the error is reported, the last known release kept, no update claimed.
    releases.releases.clear()
    job.run()
    mc = client.get("/api/status/version").get_json()
    assert mc["update_available"] is False and "HTTP 404" in mc["error"] and mc["latest_version"] == "2026-07a"
    database.close()


def test_version_comparison():
    assert is_newer("2026-07a", "2026-03b") and is_newer("2026-03b", "2026-03a") and is_newer("2026-03a", "2026-03")
    assert not is_newer("2026-03b", "2026-03b") and not is_newer("2026-01", "2026-03b")
    assert is_newer("v1.4.4", "1.4.3") and not is_newer("1.4.3", "v1.4.3") and is_newer("1.10.0", "1.9.9")
    assert not is_newer("2026-07a", "06424670f")     # a nightly commit hash cannot be ordered
    assert not is_newer(None, "1.0.0")
