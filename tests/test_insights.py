"""Insights, top reasons, queue health and bans now, on a database fetched from the simulated
mailcow over HTTP: the figures equal counts computed independently from the generator's truth,
and the list behind every count holds exactly that many messages."""
from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from mailcow_logs_viewer.db import open_database
from mailcow_logs_viewer.reasons import reason_key

from conftest import SIM_SEED, simulated_world

LOCAL = ("example.org", "example.net")
STATUSES = ("delivered", "deferred", "bounced", "rejected")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with simulated_world(tmp_path_factory.mktemp("insights"), SIM_SEED) as built:
        yield built


@pytest.fixture
def client(world):
    open_database(world[2].database_path)
    return world[0]


@pytest.fixture
def truth(world):
    return list(world[1].generator.truth.values())


def _domain(address: str) -> str | None:
    return address.rsplit("@", 1)[1].lower() if "@" in address else None


def _truth_entity(truth, name_of, entity) -> dict:
    """The insights row of `entity`, counted from what the generator did."""
    row = Counter()
    for t in truth:
        sender = name_of(t.sender)
        receivers = {name_of(r) for r in t.recipients} - {None}
        if sender == entity:
            row["sent"] += 1
        if entity in receivers:
            row["received"] += 1
        if sender == entity or entity in receivers:
            row["total"] += 1
            row[t.status] += 1
            row["spam"] += t.is_spam
    return row


def _total(client, **params) -> int:
    return client.get("/api/messages", query_string={**params, "limit": 1}).get_json()["total"]


def test_our_domains_equal_the_truth_and_their_links(client, truth):
    body = client.get("/api/insights/domains").get_json()
    rows = {r["entity"]: r for r in body["data"]}
    assert set(rows) == set(LOCAL)
    for domain, row in rows.items():
        expected = _truth_entity(truth, lambda a: _domain(a) if a else None, domain)
        for field in ("sent", "received", "total", *STATUSES, "spam"):
            assert row[field] == expected[field], (domain, field)
        assert row["total"] > 0 and row["bounced"] > 0
        for status in STATUSES:
            assert _total(client, domain=domain, status=status) == row[status], (domain, status)
        assert _total(client, domain=domain) == row["total"]
        assert row["delay_median"] is not None and row["delay_p95"] >= row["delay_median"]


def test_mailboxes_and_remote_domains_equal_the_truth(client, truth):
    mailboxes = client.get("/api/insights/mailboxes", query_string={"limit": 1000}).get_json()["data"]
    assert mailboxes and all(_domain(m["entity"]) in LOCAL for m in mailboxes)
    for row in mailboxes[:8]:
        expected = _truth_entity(truth, lambda a: a.lower() if a and "@" in a else None, row["entity"])
        assert {f: row[f] for f in ("sent", "received", *STATUSES, "spam")} == \
               {f: expected[f] for f in ("sent", "received", *STATUSES, "spam")}, row["entity"]
        assert _total(client, mailbox=row["entity"], status="delivered") == row["delivered"]
    remote = client.get("/api/insights/domains", query_string={"kind": "remote", "limit": 5}).get_json()["data"]
    assert remote and all(not r["local"] for r in remote)
    for row in remote:
        expected = _truth_entity(truth, lambda a: _domain(a) if a else None, row["entity"])
        assert row["total"] == expected["total"] and row["bounced"] == expected["bounced"], row["entity"]


def test_entities_sort_either_way_and_bad_parameters_are_named(client):
    rows = client.get("/api/insights/mailboxes", query_string={"sort": "bounced", "order": "desc"}).get_json()["data"]
    assert [r["bounced"] for r in rows] == sorted((r["bounced"] for r in rows), reverse=True)
    rows = client.get("/api/insights/mailboxes", query_string={"sort": "entity", "order": "asc"}).get_json()["data"]
    assert [r["entity"] for r in rows] == sorted(r["entity"] for r in rows)
    for path, query in (("domains", "kind=elsewhere"), ("mailboxes", "sort=nope"), ("reasons", "direction=up"),
                        ("destinations", "start_date=never")):
        response = client.get(f"/api/insights/{path}?{query}")
        assert response.status_code == 400 and query.split("=")[0] in response.get_json()["detail"]


def test_top_reasons_group_the_failures_and_link_to_them(client, truth):
    groups = client.get("/api/insights/reasons", query_string={"limit": 200}).get_json()["data"]
    by_reason = {g["reason"]: g for g in groups}
    # The simulator refuses unknown users, spamhaus-listed clients and relaying, and greylists.
    user_unknown = sum(t.flow in ("noqueue_user_unknown",) for t in truth)
    assert by_reason["5.1.1 user unknown"]["rejected"] == user_unknown
    assert by_reason["blocked using zen.spamhaus.org"]["messages"] == sum(t.flow == "postscreen_dnsbl" for t in truth)
    assert by_reason["5.1.1 user unknown"]["bounced"] > 0
    failed = sum(t.status in ("bounced", "deferred", "rejected") for t in truth)
    assert sum(g["messages"] for g in groups) >= failed      # a message may fail for two reasons
    for group in groups[:6]:
        assert _total(client, reason=group["reason"]) == group["messages"], group["reason"]
    inbound = client.get("/api/insights/reasons", query_string={"direction": "outbound"}).get_json()["data"]
    assert "blocked using zen.spamhaus.org" not in {g["reason"] for g in inbound}


def test_destination_health_counts_recipients_of_remote_domains(client, truth):
    rows = client.get("/api/insights/destinations").get_json()["data"]
    assert rows and all(_domain("x@" + r["domain"]) not in LOCAL for r in rows)
    worst = rows[0]
    assert worst["deferred"] + worst["bounced"] > 0 and worst["top_reason"]
    for row in rows:
        outcomes = Counter(t.outcomes.get(r, "deferred") for t in truth if not t.refused
                           for r in t.recipients if _domain(r) == row["domain"])
        assert row["bounced"] == outcomes["bounced"] + outcomes["expired"], row["domain"]
        assert row["delivered"] == outcomes["delivered"], row["domain"]
        assert row["deferral_rate"] == round(row["deferred"] / row["recipients"], 4)


def test_reason_keys_mask_what_differs_and_keep_what_is_shared():
    said = "host mx.example.net[198.51.100.7] said: 550 5.1.1 <bob@example.net>: Recipient address rejected: " \
           "User unknown in virtual mailbox table (in reply to RCPT TO command)"
    assert reason_key("5.1.1", said) == reason_key("5.1.1", "<ann@example.org>: Recipient address rejected: "
                                                             "User unknown in virtual mailbox table") == "5.1.1 user unknown"
    assert reason_key(None, "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org") \
        == "blocked using zen.spamhaus.org"
    assert reason_key("4.7.1", "451 4.7.1 Greylisted, please try again later") == "greylisted"
    assert reason_key("4.3.0", "421 4.3.0 queue 4F2A1B9C0D1 busy for 300 s") == "4.3.0 queue <id> busy for n s"
    assert reason_key(None, None) is None


def test_queue_health_matches_the_simulated_queue(client, world):
    sim = world[1]
    body = client.get("/api/queue/health").get_json()
    queued = sim.generator.mail_queue()
    assert body["size"] == len(queued) > 0
    oldest = min(item["arrival_time"] for item in queued)
    assert abs(body["oldest_age_seconds"] - (time.time() - oldest)) < 120
    assert sum(body["ages"]) == len(queued) and len(body["ages"]) == len(body["buckets"])
    domains = Counter(d for item in queued for d in {r.split(" (")[0].rsplit("@", 1)[-1] for r in item["recipients"]})
    assert {g["key"]: g["messages"] for g in body["by_domain"]} == dict(domains)


def test_bans_now_follow_the_simulated_bans(client, world):
    now = time.time()
    bans = {b["network"] for b in client.get("/api/security/bans").get_json()["data"]}
    # The simulator bans for 30 minutes and logs the unban then; leave a margin for the fetch.
    surely = {net for t, net in world[1].generator.bans if t + 1800 > now + 30}
    possibly = {net for t, net in world[1].generator.bans if t + 1800 > now - 60}
    assert surely <= bans <= possibly
    places = client.get("/api/security/places?ip=8.8.8.8,10.0.0.1").get_json()["data"]
    assert places["8.8.8.8"]["country_code"] == "US" and places["10.0.0.1"]["country_code"] is None


def test_a_ban_counts_until_its_unban_or_its_time_runs_out(app):
    from mailcow_logs_viewer.bans import active_bans
    from mailcow_logs_viewer.models import NetfilterLine

    now = int(time.time())
    lines = [("banned", "192.0.2.1/32", now - 600, 30), ("unbanned", "192.0.2.1/32", now - 60, None),   # lifted
             ("banned", "192.0.2.2/32", now - 3600, 30),                                                # ran out
             ("banned", "192.0.2.3/32", now - 300, 30),                                                 # 25 min left
             ("banned", "2001:db8::/64", now - 90000, None),                                            # no duration
             ("banned", "192.0.2.1/32", now - 30, 60)]                                                  # banned again
    for key, (action, network, at, minutes) in enumerate(lines):
        NetfilterLine.create(line_key=key, server="mx", time=at, priority="crit", message=f"{action} {network}", action=action,
                             network=network, ip=network.split("/")[0], ban_minutes=minutes)
    found = {b.network: b for b in active_bans(now)}
    assert set(found) == {"192.0.2.1/32", "192.0.2.3/32", "2001:db8::/64"}
    assert found["192.0.2.3/32"].seconds_left == 25 * 60 and found["2001:db8::/64"].until is None
    assert found["192.0.2.1/32"].seconds_left == 3600 - 30
    assert [b.network for b in active_bans(now, "192.0.2.3")] == ["192.0.2.3/32"]


def test_metrics_carry_the_mail_figures_without_created_noise(client, truth, world):
    text = client.get("/metrics").get_data(as_text=True)
    assert "_created" not in text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    bounced_out = sum(t.status == "bounced" and t.direction == "outbound" for t in truth)
    assert values['mailcow_logs_viewer_messages_by_direction{direction="outbound",final_status="bounced"}'] == bounced_out
    assert values["mailcow_logs_viewer_queue_messages"] == len(world[1].generator.mail_queue())
    assert values["mailcow_logs_viewer_queue_oldest_age_seconds"] > 0
    # As the dashboard counts them: the 'matched rule id' lines of the login rules mailcow served.
    served = sum(bool(re.match(r"\S+ matched rule id [13678] ", e["message"])) for e in world[1].buffer("netfilter"))
    assert values["mailcow_logs_viewer_auth_failures"] == served >= len(world[1].generator.auth_failures) > 0
    assert "mailcow_logs_viewer_active_bans" in values
    assert all(f'mailcow_logs_viewer_source_fetch_lag_seconds{{source="{s}"}}' in values
               for s in ("postfix", "rspamd", "netfilter", "dovecot"))
    assert not any(k.startswith("mailcow_logs_viewer_scrape_errors") and v for k, v in values.items())
