"""Log lists, statistics and the log CSV exports, checked against counts computed here from
what the simulated mailcow served and what its generator says happened."""
from __future__ import annotations

import csv
import io
import re
import sqlite3
import time
from collections import Counter

import pytest

from mailcow_logs_viewer.db import open_database
from mailcow_logs_viewer.queries.scope import ADMIN
from mailcow_logs_viewer.queries.statistics import dashboard

from conftest import SIM_SEED, assert_hourly_counts_match_messages, simulated_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(test client, simulator, settings) over a database holding 6 simulated hours."""
    with simulated_world(tmp_path_factory.mktemp("logs"), SIM_SEED + 1, FETCH_COUNT_NETFILTER=5000) as built:
        yield built


@pytest.fixture
def client(world):
    open_database(world[2].database_path)
    return world[0]


@pytest.fixture
def sim(world):
    return world[1]


def test_postfix_list_counts_and_filters(client, sim):
    served = sim.buffer("postfix")
    body = client.get("/api/logs/postfix?limit=10").get_json()
    assert body["total"] == len(served)
    item = body["data"][0]
    assert set(item) >= {"id", "time", "program", "priority", "message", "queue_id", "message_id", "sender",
                         "recipient", "status", "relay", "delay", "dsn", "correlation_key"}
    for status in ("sent", "deferred", "bounced"):
        expected = sum(f"status={status} " in e["message"] for e in served)
        assert client.get(f"/api/logs/postfix?status={status}&limit=1").get_json()["total"] == expected, status
    rejected = sum("reject: " in e["message"] for e in served)
    assert client.get("/api/logs/postfix?status=rejected&limit=1").get_json()["total"] == rejected


def test_postfix_delivery_lines_carry_their_messages_id_sender_and_key(client, sim):
    lines = client.get("/api/logs/postfix?status=sent&limit=50").get_json()["data"]
    assert all(l["sender"] is not None and l["correlation_key"] and l["relay"] and l["dsn"] == "2.0.0" for l in lines)
    # spam sent without a Message-ID header has none; every other delivery line shows its message's
    assert sum(l["message_id"] is not None for l in lines) >= 40


def test_by_queue_returns_every_line_of_the_queue_with_rspamd(client, sim):
    truth = next(t for t in sim.generator.truth.values() if t.queue_ids and t.message_id and t.rspamd_actions
                 and len(t.queue_ids) == 1)
    body = client.get(f"/api/logs/postfix/by-queue/{truth.queue_ids[0]}").get_json()
    served = [e for e in sim.buffer("postfix") if e["message"].startswith(truth.queue_ids[0] + ":")]
    assert len(body["logs"]) == len(served)
    assert body["correlation_key"] and body["rspamd"]["action"] == truth.rspamd_actions[-1]
    assert client.get("/api/logs/postfix/by-queue/NOSUCHQUEUE").status_code == 404


def test_queue_id_and_search_filters(client, sim):
    queue_id = next(t.queue_ids[0] for t in sim.generator.truth.values() if t.queue_ids)
    by_filter = client.get(f"/api/logs/postfix?queue_id={queue_id}").get_json()
    by_search = client.get(f"/api/logs/postfix?search=queue:{queue_id}").get_json()
    assert by_filter["total"] == by_search["total"] > 2
    assert {l["queue_id"] for l in by_filter["data"]} == {queue_id}
    # Not to that address: every line of the queue, those naming no recipient (cleanup, qmgr) too.
    not_to = client.get(f"/api/logs/postfix?queue_id={queue_id}&search=-to:nobody@nowhere.invalid").get_json()
    assert not_to["total"] == by_filter["total"]


def test_rspamd_list_and_filters(client, sim):
    served = sim.buffer("rspamd")
    assert client.get("/api/logs/rspamd?limit=1").get_json()["total"] == len(served)
    spam_actions = ("reject", "add header", "rewrite subject")
    spam = client.get("/api/logs/rspamd?is_spam=true&limit=500").get_json()
    assert spam["total"] == sum(r["action"] in spam_actions for r in served)
    assert all(r["is_spam"] for r in spam["data"])
    high = client.get("/api/logs/rspamd?min_score=10&limit=1").get_json()["total"]
    assert high == sum(r["score"] >= 10 for r in served)
    item = client.get("/api/logs/rspamd?limit=1").get_json()["data"][0]
    assert set(item) >= {"id", "time", "message_id", "subject", "size", "sender_smtp", "recipients_smtp", "score",
                         "required_score", "action", "direction", "ip", "is_spam", "has_auth", "user", "symbols",
                         "correlation_key"}
    assert item["message_id"] is None or item["message_id"].startswith("<")
    assert client.get("/api/logs/rspamd?action=nonsense").status_code == 400


def test_netfilter_list_and_filters(client, sim):
    served = sim.buffer("netfilter")
    assert client.get("/api/logs/netfilter?limit=1").get_json()["total"] == len(served)
    bans = client.get("/api/logs/netfilter?action=banned&limit=500").get_json()
    assert bans["total"] == sum(e["message"].startswith("Banning ") for e in served) > 0
    unbans = client.get("/api/logs/netfilter?action=unbanned&limit=1").get_json()["total"]
    assert unbans == sum(e["message"].startswith("Unbanning ") for e in served)
    matched = client.get("/api/logs/netfilter?search=matched&limit=500").get_json()["data"]
    assert matched and all(m["rule_id"] is not None and m["ip"] for m in matched)
    with_attempts = [m for m in matched if m["attempts_left"] is not None]
    assert with_attempts, "a matched line gets the attempts left from its 'N more attempts' twin"
    user = next(m["username"] for m in matched if m["username"])
    by_user = client.get(f"/api/logs/netfilter?username={user}&limit=500").get_json()["data"]
    assert by_user and {m["username"] for m in by_user} == {user}


def test_dashboard_numbers_match_the_truth(client, sim):
    truth = list(sim.generator.truth.values())
    body = client.get("/api/stats/dashboard").get_json()
    assert body["messages"] == {"24h": len(truth), "7d": len(truth), "30d": len(truth)}
    spam = sum(t.is_spam for t in truth)
    assert body["spam"]["24h"] == body["spam"]["7d"] == spam
    assert body["spam"]["percentage_24h"] == round(100 * spam / len(truth), 2)
    bounced = sum(t.status == "bounced" for t in truth)
    assert body["failed_deliveries"] == {"24h": bounced, "7d": bounced}
    assert body["rejected"]["24h"] == sum(t.status == "rejected" for t in truth)
    # Counted here from what mailcow served: 'matched rule id' lines of the login rules
    # (1 mailcow UI/API, 3 SASL, 6/7 Dovecot, 8 SOGo).
    failures = sum(bool(re.match(r"\S+ matched rule id [13678] ", e["message"])) for e in sim.buffer("netfilter"))
    assert failures >= len(sim.generator.auth_failures) > 0
    assert body["auth_failures"] == {"24h": failures, "7d": failures}
    directions = Counter(t.direction for t in truth)
    assert body["direction"] == {"inbound_24h": directions["inbound"], "outbound_24h": directions["outbound"],
                                 "internal_24h": directions["internal"]}


def test_dashboard_splits_refusals_into_permanent_and_temporary_by_their_codes(client, world):
    """Permanent: a recipient refused with a 5.x.x code; counted here from the stored rows, for
    a day window that holds the last three hours' refusals and a week that holds them all (the
    API ends its windows at the present at the latest: the query is asked for a later end)."""
    codes, seen = {}, {}
    with sqlite3.connect(f"file:{world[2].database_path}?mode=ro", uri=True) as plain:
        for key, first_seen, dsn in plain.execute(
                "SELECT m.id, m.first_seen, r.dsn FROM message m LEFT JOIN recipient r ON r.message_ref = m.id "
                "WHERE m.final_status = 'rejected'"):
            codes.setdefault(key, []).append(dsn or "")
            seen[key] = first_seen
    end = max(seen.values()) + 21 * 3600

    def split(keys):
        permanent = sum(any(code.startswith("5") for code in codes[key]) for key in keys)
        return permanent, len(keys) - permanent

    recent = [key for key in codes if seen[key] >= end - 24 * 3600]
    assert 0 < len(recent) < len(codes)
    assert all(split(codes)), "the simulator refuses both ways (5xx, greylisting)"
    rejected = dashboard(ADMIN, end).rejected
    assert (rejected["permanent_24h"], rejected["temporary_24h"]) == split(recent)
    assert (rejected["permanent_7d"], rejected["temporary_7d"]) == split(codes)


def test_timeline_has_one_bucket_per_hour_including_empty_ones(client, sim):
    truth = list(sim.generator.truth.values())
    buckets = client.get("/api/stats/timeline?hours=24").get_json()["timeline"]
    assert len(buckets) == 24
    hours = [b["hour"] for b in buckets]
    assert hours == sorted(hours) and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", h) for h in hours)
    assert sum(b["total"] for b in buckets) == len(truth)
    assert sum(b["spam"] for b in buckets) == sum(t.is_spam for t in truth)
    assert all(b["clean"] == b["total"] - b["spam"] for b in buckets)
    assert any(b["total"] == 0 for b in buckets)          # the 18 hours before the preload
    assert client.get("/api/stats/timeline?hours=0").status_code == 400
    assert client.get("/api/stats/timeline?hours=721").status_code == 400
    assert len(client.get("/api/stats/timeline?hours=720").get_json()["timeline"]) == 720
    assert_hourly_counts_match_messages()


def test_top_blocked_ips_and_spam_triggers(client, sim):
    attempts = Counter(ip for _, ip, _ in sim.generator.auth_failures)
    top = client.get("/api/stats/top-blocked-ips?limit=3").get_json()["blocked_ips"]
    assert top and top[0]["ip"] in attempts
    assert top[0]["last_seen"].endswith("Z")
    triggers = client.get("/api/stats/top-spam-triggers?limit=5").get_json()["triggers"]
    assert triggers and all(t["count"] > 0 for t in triggers)
    counts = [t["count"] for t in triggers]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("source, header", [
    ("postfix", ["Time", "Program", "Priority", "Queue ID", "Message ID", "Sender", "Recipient", "Status", "Relay",
                 "Delay", "DSN", "Message", "Server"]),
    ("rspamd", ["Time", "Message ID", "Subject", "Sender", "Recipients", "Score", "Required Score", "Action",
                "Direction", "Is Spam", "Has Auth", "User", "IP", "Size", "Top Symbols", "Server"]),
    ("netfilter", ["Time", "IP", "Username", "Auth Method", "Action", "Attempts Left", "Rule ID", "Priority",
                   "Message", "Server"]),
])
def test_log_csv_exports(client, source, header):
    response = client.get(f"/api/export/{source}/csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == header and len(rows) > 1
    empty = client.get(f"/api/export/{source}/csv?start_date=2999-01-01").get_data(as_text=True)
    assert len(empty.strip().splitlines()) == 1


def test_settings_info_reports_imports_correlation_and_jobs(client, sim):
    body = client.get("/api/settings/info").get_json()
    assert body["configuration"]["fetch_interval"] == 60
    assert "mailcow_api_key" not in str(body).lower() and sim.api_key not in str(body)
    assert body["import_status"]["postfix"]["total_entries"] == len(sim.buffer("postfix"))
    assert body["import_status"]["postfix"]["gaps"] == 0
    status = body["correlation_status"]
    assert status["total"] == len(sim.generator.truth) == status["complete"] + status["incomplete"]


def test_hourly_counts_equal_direct_counts_for_any_window(client):
    """Totals from the hourly counters (plus exact edges) equal counting the messages."""
    import random

    from mailcow_logs_viewer.queries import _row_counts, hourly_counts

    now = int(time.time())
    rng = random.Random(5)
    for _ in range(200):
        start = rng.choice([None, rng.randint(now - 8 * 3600, now + 600)])
        end = rng.choice([None, rng.randint(now - 8 * 3600, now + 600)])
        if start is not None and end is not None and start > end:
            start, end = end, start
        assert hourly_counts(start, end) == _row_counts(start, end), (start, end)
    inbound = client.get("/api/messages?direction=inbound&start_date=%d&end_date=%d&limit=1" % (now - 7000, now - 100))
    direct = _row_counts(now - 7000, now - 100)["inbound"]
    assert inbound.get_json()["total"] == direct > 0
