"""netfilter message classifier: mailcow-api.md 2.5 catalogue, CrowdSec sample, fuzz."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcow_logs_viewer.parsing.netfilter import ACTIONS, NetfilterEvent, parse_netfilter

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CROWDSEC = CORPUS / "crowdsecurity-hub" / ".tests" / "mailcow-f2b-bans"

CASES = [
    # --- matched rule id: bare IP, triggering text sanitized ('/' -> '_') ---
    ("warn", "185.222.58.14 matched rule id 3 (warning: unknown[185.222.58.14]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin@example.org)",
     dict(action="warning", ip="185.222.58.14", network=None, rule_id=3, username="admin@example.org",
          auth_method="SASL LOGIN", auth_failure=True)),
    ("warn", "203.0.113.7 matched rule id 3 (warning: unknown[203.0.113.7]: SASL PLAIN authentication failed: UGFzc3dvcmQ6)",
     dict(action="warning", ip="203.0.113.7", auth_method="SASL PLAIN", auth_failure=True, username=None)),
    ("warn", "2001:db8::5 matched rule id 3 (warning: unknown[2001:db8::5]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=(unavailable))",
     dict(action="warning", ip="2001:db8::5", auth_failure=True, username=None)),
    ("warn", "45.148.10.92 matched rule id 1 (mailcow UI: Invalid password for API_USER by 45.148.10.92)",
     dict(action="warning", ip="45.148.10.92", rule_id=1, auth_method="mailcow UI", username="API_USER",
          auth_failure=True)),
    ("warn", "45.148.10.93 matched rule id 1 (mailcow UI: Invalid password for admin by 45.148.10.93)",
     dict(username="admin", auth_failure=True)),
    ("warn", "198.51.100.9 matched rule id 2 (Rspamd UI: Invalid password by 198.51.100.9)",
     dict(action="warning", rule_id=2, auth_method="Rspamd UI", auth_failure=True, username=None)),
    ("warn", "45.148.10.92 matched rule id 4 (warning: non-SMTP command from unknown[45.148.10.92]: GET _ HTTP_1.1)",
     dict(action="warning", rule_id=4, auth_failure=False, username=None)),
    ("warn", "193.32.162.7 matched rule id 5 (NOQUEUE: reject: RCPT from [193.32.162.7]:40022: 550 5.5.1 Protocol error; from=<a@b.example>, to=<john@example.org>, proto=SMTP, helo=<b.example>)",
     dict(action="warning", rule_id=5, auth_failure=False)),
    ("warn", "185.222.58.14 matched rule id 6 (auth-worker(231): lua(admin@example.org,185.222.58.14,<Xb3kQ9w1aK7AAAAA>): Password mismatch (SHA1 of given password: 7c4a8d))",
     dict(action="warning", rule_id=6, username="admin@example.org", auth_failure=True, auth_method="dovecot")),
    ("warn", "2a01:4f8::2 matched rule id 7 (auth-worker(231): lua(nobody@example.org,2a01:4f8::2,<Xb3kQ9w1>): unknown user (SHA1 of given password: 7c4a8d))",
     dict(ip="2a01:4f8::2", rule_id=7, username="nobody@example.org", auth_failure=True)),
    ("warn", "185.222.58.14 matched rule id 6 (imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<admin@example.org>, method=PLAIN, rip=185.222.58.14, lip=172.22.1.250, TLS)",
     dict(auth_method="IMAP", username="admin@example.org", auth_failure=True)),
    ("warn", "198.51.100.4 matched rule id 8 (sogod [391]: SOGoRootPage Login from '198.51.100.4' for user 'jane@example.org' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0)",
     dict(rule_id=8, auth_method="SOGo", username="jane@example.org", auth_failure=True)),
    ("warn", "198.51.100.5 matched rule id 9 (198.51.100.5 \"GET _SOGo_so_jane@example.org_Mail HTTP_1.1\" 403 0 \"-\" \"curl\")",
     dict(rule_id=9, auth_failure=False)),
    ("warn", "198.51.100.5 matched rule id 3", dict(action="warning", ip="198.51.100.5", rule_id=3, auth_failure=False)),
    # --- attempts ---
    ("warn", "9 more attempts in the next 600 seconds until 45.148.10.92/32 is banned",
     dict(action="warning", attempts_left=9, network="45.148.10.92/32", ip="45.148.10.92", auth_failure=False)),
    ("warn", "1 more attempts in the next 600 seconds until 2001:db8::/64 is banned",
     dict(action="warning", attempts_left=1, network="2001:db8::/64", ip="2001:db8::")),
    # --- bans ---
    ("crit", "Banning 185.222.58.14/32 for 30 minutes",
     dict(action="banned", network="185.222.58.14/32", ip="185.222.58.14", ban_minutes=30)),
    ("crit", "Banning 2a01:4f8:c0c:1234::1/128 for 166 minutes",
     dict(action="banned", network="2a01:4f8:c0c:1234::1/128", ip="2a01:4f8:c0c:1234::1", ban_minutes=166)),
    ("crit", "Banning 80.94.95.0/24", dict(action="banned", network="80.94.95.0/24", ban_minutes=None)),
    ("info", "Unbanning 185.222.58.14/32", dict(action="unbanned", network="185.222.58.14/32", ip="185.222.58.14")),
    ("info", "Unbanning 2a01:4f8:c0c:1234::1/128", dict(action="unbanned", ip="2a01:4f8:c0c:1234::1")),
    ("info", "185.222.58.14/32 is not banned, skipping unban and deleting from queue (if any)",
     dict(action="info", network="185.222.58.14/32")),
    # --- deny / allow lists, old and new wording ---
    ("crit", "Added host/network 80.94.95.0/24 to denylist", dict(action="denylisted", network="80.94.95.0/24", ip="80.94.95.0")),
    ("crit", "Added host/network 80.94.96.0/24 to blacklist", dict(action="denylisted", network="80.94.96.0/24")),
    ("crit", "Added host/network 2001:db8:1::/48 to denylist", dict(action="denylisted", ip="2001:db8:1::")),
    ("crit", "Removed host/network 80.94.95.0/24 from denylist", dict(action="info", network="80.94.95.0/24")),
    ("crit", "Removed host/network 80.94.95.0/24 from blacklist", dict(action="info", network="80.94.95.0/24")),
    ("info", "Address 172.22.1.0/24 is allowlisted by rule 172.22.1.0/24", dict(action="allowlisted", network="172.22.1.0/24")),
    ("info", "Address 192.0.2.8/32 is whitelisted by rule 192.0.2.0/24", dict(action="allowlisted", ip="192.0.2.8")),
    ("info", "Address fd4d:6169:6c63:6f77::1/128 is allowlisted by rule fd4d:6169:6c63:6f77::/64",
     dict(action="allowlisted", ip="fd4d:6169:6c63:6f77::1")),
    # --- housekeeping ---
    ("info", "Denylist was changed, it has 1 entries", dict(action="info", network=None)),
    ("info", "Blacklist was changed, it has 1 entries", dict(action="info")),
    ("info", "Allowlist was changed, it has 2 entries", dict(action="info")),
    ("info", "Whitelist was changed, it has 2 entries", dict(action="info")),
    ("info", "Watching Redis channel F2B_CHANNEL", dict(action="info")),
    ("info", "Clearing all bans", dict(action="info")),
    ("warn", "Error reading log line from pubsub: Connection reset", dict(action="info")),
    ("crit", "MAILCOW target not found in ip filter FORWARD table, restarting container to fix it...", dict(action="info")),
    ("info", "Clear completed: ip", dict(action="info")),
]


@pytest.mark.parametrize("priority,message,expected", CASES, ids=[c[1][:50] for c in CASES])
def test_catalogue(priority, message, expected):
    ev = parse_netfilter(message, priority)
    assert isinstance(ev, NetfilterEvent)
    assert ev.action in ACTIONS
    for k, v in expected.items():
        assert getattr(ev, k) == v, f"{k}: {getattr(ev, k)!r} != {v!r}"


def test_unbanning_is_never_banned():
    for msg in ("Unbanning 1.2.3.4/32", "Unbanning 2001:db8::1/128", "CRIT: Unbanning 1.2.3.4/32",
                "Unbanning 1.2.3.4/32 for 30 minutes"):
        assert parse_netfilter(msg).action == "unbanned"
    assert parse_netfilter("Banning 1.2.3.4/32 for 30 minutes").action == "banned"
    assert parse_netfilter("XBanning 1.2.3.4/32").action == "info"


def test_crowdsec_mailcow_ban_lines():
    d = CROWDSEC
    if not d.exists():
        pytest.skip("crowdsec corpus not available")
    lines = [l for f in sorted(d.glob("*.log")) for l in f.read_text().splitlines() if l.strip()]
    assert lines
    got = []
    for line in lines:
        # collector prefix "2026-05-09 13:50:00 CRIT: " -> message (level prefix is tolerated)
        msg = re.sub(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ", "", line)
        got.append(parse_netfilter(msg))
    assert [(e.action, e.ip, e.ban_minutes) for e in got] == [
        ("banned", "198.51.100.42", 60),
        ("banned", "198.51.100.99", 120),
        ("denylisted", "203.0.113.7", None),
    ]


@settings(max_examples=2000, deadline=None)
@given(st.text(), st.one_of(st.none(), st.text(max_size=6)))
def test_fuzz_never_raises(message, priority):
    assert parse_netfilter(message, priority).action in ACTIONS


_PARTS = ["Banning ", "Unbanning ", " matched rule id ", "3", " (", ")", "1.2.3.4", "/32", " for ",
          " minutes", " more attempts in the next ", " seconds until ", " is banned", "SASL ",
          " authentication failed", "sasl_username=", "user=<", ">", "Added host/network ",
          " to denylist", "Address ", " is allowlisted by rule ", "::1", "Password mismatch"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PARTS) | st.text(max_size=4), max_size=10))
def test_fuzz_keyword_soup(parts):
    assert parse_netfilter("".join(parts)).action in ACTIONS


def test_non_string_input():
    assert parse_netfilter(None).action == "info"  # type: ignore[arg-type]
