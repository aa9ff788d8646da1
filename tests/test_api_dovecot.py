"""The Dovecot log and the mailbox stage through the API, over a simulated world fetched over
real HTTP: /api/logs/dovecot and its filters and CSV, the per-recipient fields, the discarded
status, folder: search, failed logins by user and IP, and Dovecot as a fourth import source."""
from __future__ import annotations

import csv
import io

import pytest

from mailcow_logs_viewer.models import DovecotLine, Recipient


@pytest.fixture
def client(fetched_app):
    return fetched_app.test_client()


def test_dovecot_log_lists_and_filters(client):
    everything = client.get("/api/logs/dovecot?limit=500").get_json()
    assert everything["total"] == DovecotLine.select().count() > 100
    linked = [row for row in everything["data"] if row["kind"] == "lmtp" and row["correlation_key"]]
    assert linked and all(row["recipient"] for row in linked)
    sample = next(row for row in linked if row["session"] and row["message_id"])
    for name in ("user", "message_id", "session"):
        page = client.get("/api/logs/dovecot", query_string={name: sample[name]}).get_json()
        assert page["total"] >= 1 and all(row[name] == sample[name] for row in page["data"]), name
    text = client.get("/api/logs/dovecot", query_string={"search": "fileinto"}).get_json()
    assert text["total"] > 0 and all("fileinto" in row["message"] for row in text["data"])
    failures = client.get("/api/logs/dovecot?kind=auth_failure").get_json()
    assert failures["total"] > 0 and all(row["ip"] and row["user"] for row in failures["data"])
    assert client.get("/api/logs/dovecot?kind=nope").status_code == 400
    assert "kind" in client.get("/api/logs/dovecot?kind=nope").get_json()["detail"]


def test_dovecot_csv(client):
    response = client.get("/api/export/dovecot/csv?kind=lmtp")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["Time", "Priority", "Kind", "Service"]
    assert len(rows) - 1 == DovecotLine.select().where(DovecotLine.kind == "lmtp").count()


def test_outcomes_carry_the_mailbox_step_and_search_finds_them(client):
    junk = client.get("/api/messages", query_string={"search": "folder:Junk"}).get_json()
    assert junk["total"] > 0
    for item in junk["data"]:
        assert any(o["folder"] == "Junk" for o in item["outcomes"]), item["correlation_key"]
    discarded = client.get("/api/messages?status=discarded&limit=500").get_json()
    want = Recipient.select(Recipient.message_ref).where(Recipient.status == "discarded").distinct().count()
    assert discarded["total"] == want > 0
    assert all(any(o["status"] == "discarded" for o in item["outcomes"]) for item in discarded["data"])
    assert client.get("/api/messages", query_string={"search": "status:discarded"}).get_json()["total"] == want
    dashboard = client.get("/api/stats/dashboard").get_json()
    assert dashboard["discarded"]["7d"] == want
    key = discarded["data"][0]["correlation_key"]
    details = client.get(f"/api/message/{key}/details").get_json()
    step = next(o for o in details["outcomes"] if o["status"] == "discarded")
    assert step["folder"] is None and "discard action" in step["mailbox_lines"][0]["message"]
    assert details["dovecot"]


def test_quota_refusal_in_plain_words(client):
    bounced = client.get("/api/messages?status=bounced&limit=500").get_json()["data"]
    reasons = {o["reason"] for item in bounced for o in item["outcomes"] if o["status"] == "bounced"}
    assert "mailbox full (over quota)" in reasons


def test_failed_logins_by_user_and_ip(client):
    counts = client.get("/api/stats/dovecot-login-failures?limit=100").get_json()
    lines = DovecotLine.select().where(DovecotLine.kind == "auth_failure")
    attempts = sum(line.attempts for line in lines)
    assert attempts > 0
    assert sum(row["attempts"] for row in counts["by_user"]) == attempts
    assert sum(row["attempts"] for row in counts["by_ip"]) == attempts


def test_dovecot_is_a_fourth_import_source(client):
    info = client.get("/api/settings/info").get_json()
    status = info["import_status"]["dovecot"]
    assert status["total_entries"] == DovecotLine.select().count() and status["unparsed"] == 0
    assert info["configuration"]["fetch_count_dovecot"] == 2000
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'mailcow_logs_viewer_lines_stored_total{source="dovecot"}' in metrics
