"""Rspamd history row mapping: realmail-sample history, spec examples, legacy and bad rows."""

from __future__ import annotations

import collections
import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcow_logs_viewer.parsing.rspamd import RspamdRecord, RspamdRowError, map_rspamd_row

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REALMAIL = CORPUS / "realmail-sample"

SPEC_ROW = {
    "unix_time": 1775637141,
    "message-id": "CAJx8fK2p0q@mail.gmail.com",
    "subject": "Lunch on Friday?",
    "score": -4.999876,
    "required_score": 15,
    "action": "no action",
    "thresholds": {"reject": 15, "add header": 8, "greylist": 7},
    "is_skipped": False,
    "time_real": 0.412873,
    "size": 6021,
    "ip": "209.85.221.47",
    "user": "unknown",
    "sender_smtp": "alice@gmail.com",
    "sender_mime": "alice@gmail.com",
    "rcpt_smtp": ["john@example.org"],
    "rcpt_mime": ["john@example.org"],
    "symbols": {
        "BAYES_HAM": {"name": "BAYES_HAM", "score": -2.999876, "metric_score": -3,
                      "description": "Message probably ham, probability: ", "options": ["99.99%"]},
        "RCPT_MAILCOW_DOMAIN": {"name": "RCPT_MAILCOW_DOMAIN", "score": 0, "metric_score": 0,
                                "options": ["example.org"]},
        "RCVD_TLS_LAST": {"name": "RCVD_TLS_LAST", "score": 0, "metric_score": 0,
                          "description": "All hops used encrypted transports"},
    },
}

UNDEF_ROW = {
    "unix_time": 1775635022, "message-id": "undef", "subject": "Your invoice #88213 is overdue",
    "score": 17.42, "required_score": 15, "action": "reject", "size": 48117,
    "ip": "185.234.216.12", "user": "unknown", "sender_smtp": "billing@invoices-example.top",
    "sender_mime": "billing@invoices-example.top", "rcpt_smtp": ["john@example.org"], "rcpt_mime": [],
    "symbols": {"MISSING_MID": {"name": "MISSING_MID", "score": 2.5, "metric_score": 2.5,
                                "description": "Message-ID header is missing"}},
}

GREYLIST_ROW = {
    "unix_time": 1775634410, "message-id": "0100019abc.7d1e@email.newsletter-example.com",
    "subject": "Last chance: 40% off everything", "score": 7.3, "required_score": 15,
    "action": "soft reject", "passthrough_module": "greylist",
    "thresholds": {"reject": 15, "add header": 8, "greylist": 7}, "size": 35520,
    "ip": "198.51.100.61", "user": "unknown", "sender_smtp": "bounce@newsletter-example.com",
    "sender_mime": "deals@newsletter-example.com", "rcpt_smtp": ["jane@example.org"],
    "rcpt_mime": ["jane@example.org"],
    "symbols": {"GREYLIST": {"name": "GREYLIST", "score": 0, "metric_score": 0,
                             "description": "Greylisting result",
                             "options": ["greylisted", "Wed, 08 Apr 2026 09:51:50 GMT", "new record"]}},
}

AUTH_ROW = {
    "unix_time": 1775637301, "message-id": "5f1c@example.org", "subject": "Q3 numbers", "score": 0,
    "required_score": 15, "action": "no action", "ip": "198.51.100.77", "user": "john@example.org",
    "sender_smtp": "john@example.org", "sender_mime": "john@example.org",
    "rcpt_smtp": ["a.user@gmail.com", "b.user@corp-example.com"], "rcpt_mime": [],
    "symbols": {"MAILCOW_AUTH": {"name": "MAILCOW_AUTH", "score": 0, "metric_score": 0}},
}


def test_spec_row():
    r = map_rspamd_row(SPEC_ROW)
    assert isinstance(r, RspamdRecord)
    assert r.time == 1775637141
    assert r.message_id == "CAJx8fK2p0q@mail.gmail.com"
    assert r.subject == "Lunch on Friday?"
    assert r.size == 6021
    assert r.score == pytest.approx(-4.999876)
    assert r.required_score == 15.0
    assert r.action == "no action" and not r.is_spam
    assert r.user is None and r.ip == "209.85.221.47" and not r.has_auth
    assert r.sender_smtp == "alice@gmail.com" and r.rcpt_smtp == ["john@example.org"]
    assert r.thresholds == {"reject": 15.0, "add header": 8.0, "greylist": 7.0}
    assert r.passthrough_module is None
    assert r.symbols["BAYES_HAM"] == {"score": pytest.approx(-2.999876), "metric_score": -3.0,
                                      "description": "Message probably ham, probability: ",
                                      "options": ["99.99%"]}
    assert r.symbols["RCPT_MAILCOW_DOMAIN"] == {"score": 0.0, "metric_score": 0.0, "options": ["example.org"]}
    assert r.symbols["RCVD_TLS_LAST"] == {"score": 0.0, "metric_score": 0.0,
                                          "description": "All hops used encrypted transports"}


def test_undef_message_id_and_unknown_user():
    r = map_rspamd_row(UNDEF_ROW)
    assert r.message_id is None
    assert r.user is None and not r.has_auth
    assert r.action == "reject" and r.is_spam
    assert r.rcpt_mime == []
    assert r.thresholds is None


def test_soft_reject_passthrough():
    r = map_rspamd_row(GREYLIST_ROW)
    assert r.action == "soft reject" and not r.is_spam
    assert r.passthrough_module == "greylist"
    assert r.symbols["GREYLIST"]["options"][0] == "greylisted"


def test_auth_row():
    r = map_rspamd_row(AUTH_ROW)
    assert r.has_auth and r.user == "john@example.org"
    no_user = dict(AUTH_ROW, user="unknown")
    assert map_rspamd_row(no_user).has_auth  # MAILCOW_AUTH symbol alone is enough


@pytest.mark.parametrize("action,spam", [("no action", False), ("greylist", False), ("soft reject", False),
                                         ("add header", True), ("rewrite subject", True), ("reject", True),
                                         ("quarantine", True), ("discard", True)])
def test_is_spam(action, spam):
    assert map_rspamd_row(dict(SPEC_ROW, action=action)).is_spam is spam


def test_unknown_values_and_null_sender():
    r = map_rspamd_row(dict(SPEC_ROW, ip="unknown", sender_smtp="", sender_mime="unknown"))
    assert r.ip is None and r.sender_smtp == "" and r.sender_mime is None


def test_tolerant_of_missing_and_stringly_typed():
    r = map_rspamd_row({"unix_time": "1775637141"})
    assert r.time == 1775637141 and r.message_id is None and r.subject is None
    assert r.rcpt_smtp == [] and r.rcpt_mime == [] and r.symbols == {} and r.score == 0.0
    assert r.action == "" and r.required_score is None and r.size is None and not r.has_auth
    r = map_rspamd_row({"unix_time": 1775637141.0, "score": "3.5", "required_score": "15",
                        "size": "1200", "rcpt_smtp": "x@y", "symbols": None})
    assert (r.time, r.score, r.required_score, r.size, r.rcpt_smtp) == (1775637141, 3.5, 15.0, 1200, ["x@y"])


def test_legacy_rows():
    # rspamd#1429/#2348 style v1 rows: symbols as a string, 'id' and 'from' keys
    r = map_rspamd_row({"unix_time": 1491403423, "id": "<abc@example.com>", "ip": "1.2.3.4",
                        "action": "no action", "score": 1.5, "required_score": 15,
                        "symbols": "DMARC_NA(0){example.com;},R_SPF_ALLOW(-0.2),MIME_GOOD(-0.1)",
                        "size": 1024, "user": "unknown", "from": "a@example.com"})
    assert r.message_id == "abc@example.com"
    assert r.sender_smtp == "a@example.com"
    assert set(r.symbols) == {"DMARC_NA", "R_SPF_ALLOW", "MIME_GOOD"}
    assert r.symbols["R_SPF_ALLOW"]["score"] == pytest.approx(-0.2)
    assert r.symbols["DMARC_NA"]["options"] == ["example.com"]
    r = map_rspamd_row({"unix_time": 1, "symbols": ["A", {"name": "B", "score": 2}]})
    assert set(r.symbols) == {"A", "B"} and r.symbols["B"]["score"] == 2.0
    r = map_rspamd_row({"unix_time": 1, "symbols": 42, "rcpt_smtp": [None, 5, "a@b"]})
    assert r.symbols == {} and r.rcpt_smtp == ["5", "a@b"]


@pytest.mark.parametrize("row", [None, [], "x", 5, {}, {"unix_time": None}, {"unix_time": "abc"},
                                 {"unix_time": True}, {"unix_time": 1.5}, {"unix_time": float("nan")},
                                 {"unix_time": [1]}, {"time": 1775637141}])
def test_bad_rows_raise(row):
    with pytest.raises(RspamdRowError):
        map_rspamd_row(row)
    assert issubclass(RspamdRowError, ValueError)


def _history_rows():
    p = REALMAIL / "rspamd-history.json"
    if not p.exists():
        pytest.skip("realmail corpus not available")
    return json.loads(p.read_text())["rows"]


def test_realmail_history_rows_all_map():
    rows = _history_rows()
    summary = json.loads((REALMAIL / "summary.json").read_text())
    recs = [map_rspamd_row(r) for r in rows]
    assert len(recs) == summary["history_rows"] == 62
    assert collections.Counter(r.action for r in recs) == summary["history_actions"]
    users = collections.Counter(r.user or "unknown" for r in recs)
    assert users == summary["history_users"]
    for raw, rec in zip(rows, recs):
        assert rec.time == raw["unix_time"]
        assert rec.message_id == (None if raw["message-id"] in ("undef", "") else raw["message-id"])
        assert rec.message_id is None or not rec.message_id.startswith("<")
        assert rec.rcpt_smtp == raw["rcpt_smtp"]
        assert set(rec.symbols) == set(raw["symbols"])
        for name, sym in rec.symbols.items():
            assert set(sym) <= {"score", "metric_score", "description", "options"}
            assert isinstance(sym["score"], float)
        assert rec.has_auth == (raw["user"] != "unknown" or "MAILCOW_AUTH" in raw["symbols"])
        assert rec.is_spam == (raw["action"] in ("reject", "add header", "rewrite subject"))


def test_realmail_message_ids_join_postfix():
    """Rspamd's bare message-ids match Postfix's bracketed ones from the same run."""
    rows = _history_rows()
    log = (REALMAIL / "postfix.log").read_text(errors="replace")
    ids = {r.message_id for r in map(map_rspamd_row, rows) if r.message_id}
    assert ids
    missing = [i for i in ids if f"message-id=<{i}>" not in log]
    assert not missing


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["unix_time", "message-id", "score", "symbols", "rcpt_smtp", "user",
                                        "ip", "action", "size", "thresholds", "required_score", "subject"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                       | st.lists(st.text(max_size=4) | st.integers(), max_size=3)
                       | st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3)))
def test_fuzz_only_row_error(row):
    try:
        map_rspamd_row(row)
    except RspamdRowError:
        pass


def test_mutating_real_rows():
    for raw in _history_rows()[:10]:
        for key in list(raw):
            row = copy.deepcopy(raw)
            row[key] = "unknown" if key != "unix_time" else row[key]
            map_rspamd_row(row)
            del row[key]
            if key != "unix_time":
                map_rspamd_row(row)
