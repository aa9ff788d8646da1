"""The simulated mailcow: real HTTP over loopback, checked against mailcow's documented behaviour
(spec/mailcow-api.md) and against the generator's own truth."""
from __future__ import annotations

import json
import re
import time
from collections import defaultdict

import pytest
import requests

from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

KEY = "SIM-API-KEY"
H = {"X-API-Key": KEY}
T0 = 1775635200.0
QID = r"[0-9A-F]{11}"


@pytest.fixture(scope="module")
def gen_day():
    """One generator run over two simulated days, with its entries by source (oldest first)."""
    g = TrafficGenerator(seed=7, rate_per_hour=150, start=T0, queue_lifetime=4 * 3600)
    out = g.generate(T0 + 2 * 86400)
    by = defaultdict(list)
    for source, entry in out:
        by[source].append(entry)
    return g, by


@pytest.fixture(scope="module")
def server():
    sim = SimulatedMailcow(TrafficGenerator(seed=3, start=T0), buffer_rspamd=1000)
    sim.advance(T0 + 8 * 3600)
    url = sim.start()
    yield sim, url
    sim.stop()


@pytest.fixture
def fresh():
    sim = SimulatedMailcow(TrafficGenerator(seed=5, start=T0))
    url = sim.start()
    yield sim, url
    sim.set_fault(None)
    sim.stop()


def get(url, path, headers=H, **kw):
    return requests.get(url + path, headers=headers, timeout=10, **kw)


# ---- auth and routing -------------------------------------------------------------------------
def test_missing_or_empty_key_gives_empty_200(server):
    sim, url = server
    for headers in ({}, {"X-API-Key": ""}):
        r = get(url, "/api/v1/get/logs/postfix/5", headers=headers)
        assert r.status_code == 200 and r.content == b""
    assert get(url, "/api/v1/get/nope", headers={}).status_code == 200      # even unknown routes


def test_wrong_key_is_401_html_and_not_logged_to_api(server):
    sim, url = server
    r = get(url, "/api/v1/get/logs/postfix/5", headers={"X-API-Key": "WRONG"})
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.json() == {"type": "error", "msg": "authentication failed"}
    assert all(e["uri"] != "/api/v1/get/logs/postfix/5?wrong" for e in sim.buffer("api"))


def test_routes_405_404(server):
    sim, url = server
    r = requests.post(url + "/api/v1/get/logs/postfix/5", headers=H, timeout=5)
    assert r.status_code == 405 and r.json()["msg"] == "only GET method is allowed"
    for path in ("/api/v1/get/nope", "/api/v1/get/logs", "/api/v1/get/logs/nope/10", "/api/v1/foo/logs/postfix"):
        r = get(url, path)
        assert r.status_code == 404 and r.json() == {"type": "error", "msg": "route not found"}, path
    assert get(url, "/api/v1/get/status/nope").content == b""
    assert get(url, "/api/v1/get/mailq/nope").content == b""


def test_api_log_logs_itself_first(server):
    sim, url = server
    rows = get(url, "/api/v1/get/logs/api/1").json()
    assert rows[0]["uri"] == "/api/v1/get/logs/api/1" and isinstance(rows[0]["time"], int)


# ---- count and range forms ----------------------------------------------------------------------
def test_counts_ranges_and_invalid(server):
    sim, url = server
    full = sim.buffer("postfix")
    assert get(url, "/api/v1/get/logs/postfix/10").json() == full[:10]
    assert len(get(url, "/api/v1/get/logs/postfix").json()) == 1000
    assert get(url, "/api/v1/get/logs/postfix/11-20").json() == full[10:20]
    assert get(url, "/api/v1/get/logs/postfix/5abc").json() == full[:5]
    assert get(url, "/api/v1/get/logs/postfix/1e1").json() == full[:11]          # 1e1 -> 11
    for bad in ("0", "-5", "5-", "10-3", "0-10", "", "abc"):
        r = get(url, f"/api/v1/get/logs/postfix/{bad}")
        assert r.status_code == 200 and r.text == "{}", bad


def test_rspamd_range_is_shifted_by_one(server):
    sim, url = server
    rows = sim.buffer("rspamd")
    assert get(url, "/api/v1/get/logs/rspamd-history/5").json() == rows[:5]
    assert get(url, "/api/v1/get/logs/rspamd-history/101-200").json() == rows[101:201]
    assert get(url, "/api/v1/get/logs/netfilter/1-2").json() == sim.buffer("netfilter")[0:2]


def test_body_format_and_types(server):
    sim, url = server
    r = get(url, "/api/v1/get/logs/postfix/3")
    assert r.headers["Content-Type"] == "application/json"
    assert '"program": "postfix\\/' in r.text and r.text.startswith("[\n    {")
    for e in r.json():
        assert set(e) == {"time", "priority", "program", "message"} and isinstance(e["time"], str)
    for e in get(url, "/api/v1/get/logs/netfilter/50").json():
        assert isinstance(e["time"], int) and e["priority"] in ("info", "warn", "crit")
    for row in get(url, "/api/v1/get/logs/rspamd-history/50").json():
        assert isinstance(row["unix_time"], int) and isinstance(row["time_real"], float)
        assert not row["message-id"].startswith("<") and row["required_score"] == 15
        assert all(not (isinstance(v, float) and v.is_integer()) for v in (row["score"],))
    for e in get(url, "/api/v1/get/logs/dovecot/50").json():      # same shape as Postfix's (spec 2.3)
        assert set(e) == {"time", "priority", "program", "message"} and e["program"] == "dovecot"
        assert isinstance(e["time"], str)


def test_other_endpoints(server):
    sim, url = server
    containers = get(url, "/api/v1/get/status/containers").json()
    assert isinstance(containers, dict) and "postfix-mailcow" in containers
    assert [v["state"] for v in containers.values()].count("exited") == 1
    assert all(isinstance(v, str) for v in get(url, "/api/v1/get/status/vmail").json().values())
    assert get(url, "/api/v1/get/status/version").json() == {"version": "2026-03b"}
    assert {d["domain_name"] for d in get(url, "/api/v1/get/domain/all").json()} == {"example.org", "example.net"}
    assert len(get(url, "/api/v1/get/mailbox/all").json()) == 8
    aliases = get(url, "/api/v1/get/alias/all").json()
    assert any(len(a["goto"].split(",")) == 2 for a in aliases)
    assert get(url, "/api/v1/get/alias-domain/all").json()[0]["target_domain"] == "example.org"
    mailq = get(url, "/api/v1/get/mailq/all").json()
    assert isinstance(mailq, list)
    assert all(q["queue_name"] == "deferred" and all(isinstance(r, str) for r in q["recipients"]) for q in mailq)
    quarantine = get(url, "/api/v1/get/quarantine/all").json()
    assert quarantine and {q["action"] for q in quarantine} <= {"reject", "add header"}


def test_empty_lists(fresh):
    sim, url = fresh
    assert get(url, "/api/v1/get/logs/postfix/10").text == "{}"
    assert get(url, "/api/v1/get/mailq/all").text == "[]"
    assert get(url, "/api/v1/get/quarantine/all").text == "[]"


def test_buffer_trimming(fresh):
    sim = SimulatedMailcow(TrafficGenerator(seed=2, start=T0), buffer_postfix=100, buffer_rspamd=10)
    sim.advance(T0 + 3 * 3600)
    assert len(sim.buffer("postfix")) == 100 and len(sim.buffer("rspamd")) == 10
    sim.push("postfix", [{"time": "1", "priority": "info", "program": "x", "message": "newest"}])
    assert len(sim.buffer("postfix")) == 100 and sim.buffer("postfix")[0]["message"] == "newest"


# ---- determinism -----------------------------------------------------------------------------
def test_same_seed_same_entries_however_sliced():
    a = TrafficGenerator(seed=11, start=T0).generate(T0 + 6 * 3600)
    g = TrafficGenerator(seed=11, start=T0)
    b = []
    for h in range(1, 25):
        b += g.generate(T0 + h * 900)
    assert a == b and len(a) > 1000
    assert TrafficGenerator(seed=12, start=T0).generate(T0 + 6 * 3600) != a


# ---- consistency with the truth ------------------------------------------------------------------
def _lines_by_qid(postfix):
    out = defaultdict(list)
    for e in postfix:
        m = re.match(rf"({QID}): ", e["message"])
        if m:
            out[m.group(1)].append(e)
    return out


def test_truth_matches_postfix_and_rspamd(gen_day):
    g, by = gen_day
    by_qid = _lines_by_qid(by["postfix"])
    rows_by_mid = defaultdict(list)
    for row in by["rspamd"]:
        rows_by_mid[row["message-id"]].append(row)
    scanned_by_mid = defaultdict(list)      # a list's post and its copies share a Message-ID
    for m in g.truth.values():
        if m.message_id and not m.is_ndr and m.flow != "vacation_reply":
            scanned_by_mid[m.message_id.strip("<>")].append(m)
    checked = 0
    for m in g.truth.values():
        if not m.message_id:
            continue
        assert m.queue_ids, m
        for qid in m.queue_ids:
            lines = by_qid[qid]
            assert any(e["message"] == f"{qid}: message-id={m.message_id}" for e in lines), qid
            for e in lines:
                if " from=<" in e["message"] and e["program"] == "postfix/qmgr":
                    assert f"from=<{m.sender}>" in e["message"]
        if m.is_ndr or m.flow == "vacation_reply":     # Postfix's own notices and Sieve's replies are not scanned
            continue
        sharing = scanned_by_mid[m.message_id.strip("<>")]
        rows = rows_by_mid[m.message_id.strip("<>")]
        # one scan per leg, but for legs Rspamd never sees (pickup, a content filter's return port)
        assert len(rows) == sum(len(t.queue_ids) - len(t.unscanned_queue_ids) for t in sharing), m.key
        for row in rows:
            assert any(row["sender_smtp"] == t.sender and row["rcpt_smtp"] == t.envelope_recipients for t in sharing)
        for r, state in m.outcomes.items():
            assert r in m.recipients
        checked += 1
    assert checked > 200


def test_outcomes_follow_delivery_lines(gen_day):
    g, by = gen_day
    by_qid = _lines_by_qid(by["postfix"])
    for m in g.truth.values():
        if m.refused or not m.queue_ids or not m.complete:
            continue
        last = {}
        for qid in m.queue_ids:
            for e in by_qid[qid]:
                s = re.search(r"to=<([^>]+)>.*status=(\w+)", e["message"])
                if s:
                    last[s.group(1)] = s.group(2)
        for r in m.recipients:
            if r not in last:            # greylisted and never retried
                assert m.flow == "greylist" and m.outcomes[r] == "deferred"
                continue
            want = {"sent": "delivered", "bounced": "bounced", "deferred": "deferred"}[last[r]]
            # After Postfix's `sent` to Dovecot, a Sieve rule may still discard it.
            also = {"deferred": "expired", "delivered": "discarded"}.get(want, want)
            assert m.outcomes[r] in (want, also), (m.key, r)


def test_flows_present_with_expected_shapes(gen_day):
    g, by = gen_day
    msgs = list(g.truth.values())
    flows = {m.flow for m in msgs}
    assert {"inbound", "outbound", "internal", "greylist", "bounce_outbound", "rspamd_reject",
            "spam_add_header", "noqueue_user_unknown", "postscreen_dnsbl", "deferred_expired"} <= flows
    grey = [m for m in msgs if m.flow == "greylist" and len(m.queue_ids) == 2]
    assert grey and all(m.status in ("delivered", "discarded") and m.rspamd_actions[0] == "soft reject" for m in grey)
    assert any(m.flow == "greylist" and len(m.queue_ids) == 1 and m.status == "deferred" for m in msgs)
    bounced = [m for m in msgs if m.flow == "bounce_outbound" and m.complete]
    assert bounced and all(m.status == "bounced" and m.ndr_queue_id for m in bounced)
    ndr = g.truth[next(k for k, v in g.truth.items() if v.is_ndr)]
    assert ndr.sender == "" and ndr.parent_key in g.truth
    expired = [m for m in msgs if m.flow == "deferred_expired" and m.complete]
    assert expired and all(set(m.outcomes.values()) == {"expired"} and m.ndr_queue_id for m in expired)
    text = "\n".join(e["message"] for e in by["postfix"])
    assert "status=expired, returned to sender" in text
    assert re.search(r"to=<[^>]+>, orig_to=<[^>]+>, relay=dovecot\[172\.22\.1\.250\]:24", text)
    assert re.search(r"NOQUEUE: reject: RCPT from \[[\d.]+\]:\d+: 550 5\.7\.1 .*; from=<[^>]*>, to=<[^>]*>, "
                     r"proto=ESMTP, helo=<[^>]*>", text)
    assert "454 4.7.1" in text and "Relay access denied" in text
    assert "5.7.1 This message does not meet our delivery requirements" in text
    assert "4.7.1 Greylisted, please try again later; from=<" in text
    rejected = [m for m in msgs if m.flow == "rspamd_reject"]
    assert all(m.status == "rejected" and m.is_spam for m in rejected)
    assert all(m.status == "rejected" and m.message_id is None
               for m in msgs if m.flow.startswith(("noqueue", "postscreen")))


def test_patterns_of_other_setups_are_generated_with_their_truth(gen_day):
    """Issue 12: content-filter hops (in both line orders), list copies, probes, retried
    temporary refusals, pickup submissions and a pre-queue proxy, as real Postfix logs them."""
    g, by = gen_day
    msgs = list(g.truth.values())
    by_qid = _lines_by_qid(by["postfix"])
    position = {id(e): n for n, e in enumerate(by["postfix"])}
    hops = [m for m in msgs if m.flow == "content_filter" and len(m.queue_ids) == 2]
    orders = set()
    for m in hops:
        first, returned = m.queue_ids
        handoff = next(e for e in by_qid[first] if f"queued as {returned})" in e["message"])
        assert "relay=127.0.0.1[127.0.0.1]:10024" in handoff["message"] and "status=sent" in handoff["message"]
        client = next(e for e in by_qid[returned] if "client=localhost[127.0.0.1]" in e["message"])
        assert client["program"] == "postfix/10025/smtpd" and m.unscanned_queue_ids == [returned]
        orders.add(position[id(client)] < position[id(handoff)])
    assert orders == {True, False}
    assert {m.direction for m in hops} == {"inbound", "outbound"}
    copies = [m for m in msgs if m.flow == "list_copy"]
    assert copies
    for copy in copies:
        post = g.truth[copy.same_message_id_as]
        assert post.flow == "list_post" and post.message_id == copy.message_id and post.key != copy.key
        assert (post.direction, copy.direction, copy.sender) == ("outbound", "inbound", "all-staff-bounces@corp-example.com")
    assert {p.status for p in g.probes} == {"deliverable", "undeliverable"}
    assert not any(m.sender.startswith("double-bounce@") or p.queue_id in m.queue_ids for m in msgs for p in g.probes)
    retried = [m for m in msgs if m.flow == "retried_refusal"]
    assert {m.status for m in retried} >= {"delivered", "rejected"}
    assert all(m.message_id is None and not m.queue_ids for m in retried if m.status == "rejected")
    text = "\n".join(e["message"] for e in by["postfix"])
    assert re.search(r"NOQUEUE: reject: RCPT from \[[\d.]+\]:\d+: 450 4\.3\.2 Service currently unavailable", text)
    assert "450 4.1.8" in text and "status=deliverable (250 2.1.5 Ok)" in text and "status=undeliverable (" in text
    local = [m for m in msgs if m.flow == "pickup"]
    assert local and all(m.client_ip is None and m.direction in ("internal", "outbound") for m in local)
    assert any(e["program"] == "postfix/pickup" and e["message"].endswith(": uid=0 from=<root>")
               for m in local for e in by_qid[m.queue_ids[0]])
    proxied = [m for m in msgs if m.flow == "proxied_inbound"]
    assert proxied and all("client=localhost[127.0.0.1], orig_client=" in by_qid[m.queue_ids[0]][0]["message"]
                           and m.client_ip in by_qid[m.queue_ids[0]][0]["message"] for m in proxied)


def test_bruteforce_netfilter_sequence(gen_day):
    g, by = gen_day
    assert g.auth_failures and g.bans
    t_ban, net = g.bans[0]
    ip = net.split("/")[0]
    nf = [e for e in by["netfilter"] if ip in e["message"]]
    msgs = [e["message"] for e in nf]
    assert msgs[0].startswith(f"{ip} matched rule id 3 (warning: unknown[{ip}]: SASL ")
    assert msgs[1] == f"9 more attempts in the next 600 seconds until {net} is banned"
    i = msgs.index(f"Banning {net} for 30 minutes")
    assert "matched rule id 3" in msgs[i - 1] and nf[i]["priority"] == "crit"
    assert msgs[-1] == f"Unbanning {net}" and nf[-1]["priority"] == "info"
    assert nf[-1]["time"] - nf[i]["time"] >= 1800
    sasl = [e for e in by["postfix"] if "SASL LOGIN authentication failed" in e["message"] or
            "SASL PLAIN authentication failed" in e["message"]]
    assert sasl and all(e["program"] in ("postfix/smtps/smtpd", "postfix/submission/smtpd") and
                        e["priority"] == "warning" for e in sasl)
    assert any("matched rule id 6" in e["message"] for e in by["netfilter"])
    assert any("matched rule id 1 (mailcow UI: Invalid password" in e["message"] for e in by["netfilter"])


def test_lines_per_message_and_time_order(gen_day):
    g, by = gen_day
    times = [int(e["time"]) for e in by["postfix"]]
    assert times == sorted(times)
    inbound = [m for m in g.truth.values() if m.flow == "inbound" and m.status == "delivered"]
    by_qid = _lines_by_qid(by["postfix"])
    assert 5 <= sum(len(by_qid[m.queue_ids[0]]) for m in inbound) / len(inbound) <= 7   # + 4-5 without qid


# ---- faults --------------------------------------------------------------------------------
def test_fault_down_refuses_and_recovers(fresh):
    sim, url = fresh
    sim.set_fault("down")
    with pytest.raises(requests.ConnectionError):
        get(url, "/api/v1/get/logs/postfix/1")
    sim.fault = None
    assert get(url, "/api/v1/get/status/version").status_code == 200


def test_fault_http_errors(fresh):
    sim, url = fresh
    sim.advance(T0 + 3600)
    sim.fault = "error500"
    r = get(url, "/api/v1/get/logs/postfix/10")
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
    sim.fault = "unauthorized"
    before = sim.requests["/api/v1/get/logs/postfix/10"]
    assert get(url, "/api/v1/get/logs/postfix/10").status_code == 401
    assert sim.requests["/api/v1/get/logs/postfix/10"] == before + 1
    sim.fault = "truncated"
    with pytest.raises(ValueError):
        json.loads(get(url, "/api/v1/get/logs/postfix/10").text)
    sim.fault = "empty_object"
    assert get(url, "/api/v1/get/logs/postfix/10").text == "{}"
    sim.fault = "empty_body"
    assert get(url, "/api/v1/get/logs/postfix/10").content == b""
    sim.fault = "null_entries"
    rows = get(url, "/api/v1/get/logs/postfix/10").json()
    assert None in rows and len([r for r in rows if r]) == 10
    sim.fault_delay, sim.fault = 0.3, "slow"
    t = time.monotonic()
    assert get(url, "/api/v1/get/logs/postfix/1").status_code == 200
    assert time.monotonic() - t >= 0.3


def test_big_buffer_serves_quickly():
    sim = SimulatedMailcow(TrafficGenerator(seed=1, start=T0), buffer_postfix=2_000_000)
    entry = {"time": "1775635200", "priority": "info", "program": "postfix/qmgr", "message": "ABCDEF01234: removed"}
    sim.push("postfix", [dict(entry, message=f"{i:011X}: removed") for i in range(2_000_000)])
    url = sim.start()
    try:
        t = time.monotonic()
        rows = get(url, "/api/v1/get/logs/postfix/2000").json()
        assert len(rows) == 2000 and rows[0]["message"] == f"{1_999_999:011X}: removed"
        assert time.monotonic() - t < 1.0
    finally:
        sim.stop()


def test_greylisted_senders_that_never_retry_end_rejected_after_the_retry_window():
    from mailcow_logs_viewer.outcome import REFUSAL_RETRY_SECONDS
    g = TrafficGenerator(seed=7, rate_per_hour=150, start=T0)
    g.generate(T0 + REFUSAL_RETRY_SECONDS + 6 * 3600)
    bots = [m for m in g.truth.values() if m.flow == "greylist" and len(m.queue_ids) == 1]
    old = [m for m in bots if m.first_time < g.clock - REFUSAL_RETRY_SECONDS - 60]
    young = [m for m in bots if m.first_time > g.clock - REFUSAL_RETRY_SECONDS + 60]
    assert old and young
    assert {m.status for m in old} == {"rejected"} and {m.status for m in young} == {"deferred"}
