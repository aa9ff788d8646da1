"""Cross-check parse_postfix against whyscream/postfix-grok-patterns test cases.

Each YAML file holds ``data`` (a Postfix message without the syslog header) and the
``results`` that the grok patterns extract.  The grok keys that PostfixEvent covers are
mapped onto its fields and compared; keys we do not model are ignored; a case with no
covered key is skipped with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailcow_logs_viewer.parsing.postfix import PostfixEvent, parse_postfix

yaml = pytest.importorskip("yaml")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
GROK_DIR = CORPUS / "whyscream-postfix-grok-patterns" / "test"
CASES = sorted(GROK_DIR.glob("*.yaml")) if GROK_DIR.exists() else []

REJECT_KINDS = ("noqueue_reject", "reject", "milter_reject")
_KV_RE = re.compile(r"([a-z_]+)=(<[^>]*>|[^\s,]*)")
_HOST_IP_RE = re.compile(r"([^\s\[\]]*)\[([^\]]*)\](?::(\d+))?\Z")


def _unbracket(v: str) -> str:
    return v[1:-1] if len(v) >= 2 and v[0] == "<" and v[-1] == ">" else v


def _program_for(name: str) -> str:
    daemon = name.rsplit("_", 1)[0]
    return {"trivial_rewrite": "trivial-rewrite"}.get(daemon, daemon).join(("postfix/", ""))


def _split_relay(relay: str | None) -> dict:
    if not relay:
        return {}
    m = _HOST_IP_RE.match(relay)
    if not m:
        return {"hostname": relay}
    out = {"hostname": m.group(1), "ip": m.group(2)}
    if m.group(3):
        out["port"] = m.group(3)
    return out


def _kv_expectations(kv: str) -> dict[str, tuple[str, object]]:
    """Expand grok's postfix_keyvalue_data the way its logstash kv filter would."""
    out: dict[str, tuple[str, object]] = {}
    for m in _KV_RE.finditer(kv):
        k, v = m.group(1), m.group(2)
        if k == "from":
            out["kv:from"] = ("sender", _unbracket(v))
        elif k == "to":
            out["kv:to"] = ("recipient", _unbracket(v))
        elif k == "orig_to":
            out["kv:orig_to"] = ("orig_to", _unbracket(v))
        elif k == "relay":
            out["kv:relay"] = ("relay", v)
        elif k == "delay":
            out["kv:delay"] = ("delay", float(v))
        elif k == "delays":
            out["kv:delays"] = ("delays", v)
        elif k == "dsn":
            out["kv:dsn"] = ("dsn", v)
        elif k == "size":
            out["kv:size"] = ("size", int(v))
        elif k == "nrcpt":
            out["kv:nrcpt"] = ("nrcpt", int(v))
        elif k == "proto":
            out["kv:proto"] = ("proto", v)
        elif k == "helo":
            out["kv:helo"] = ("helo", _unbracket(v))
        elif k == "uid":
            out["kv:uid"] = ("uid", int(v))
        elif k == "client":
            hm = _HOST_IP_RE.match(v)
            if hm:
                out["kv:client_host"] = ("client_host", hm.group(1))
                out["kv:client_ip"] = ("client_ip", hm.group(2))
    return out


def expectations(results: dict, ev: PostfixEvent) -> dict[str, tuple[object, object]]:
    """grok key -> (expected, actual) for every key that PostfixEvent covers."""
    r = {k: ("" if v is None else v) for k, v in results.items()}
    exp: dict[str, tuple[object, object]] = {}

    def add(key, expected, actual):
        exp[key] = (expected, actual)

    if "postfix_queueid" in r:
        q = str(r["postfix_queueid"])
        add("postfix_queueid", None if q == "NOQUEUE" else q, ev.queue_id)
    if "postfix_client_hostname" in r:
        add("postfix_client_hostname", str(r["postfix_client_hostname"]), ev.client_host)
    if "postfix_client_ip" in r:
        add("postfix_client_ip", str(r["postfix_client_ip"]), ev.client_ip)
    for k in ("sasl_method", "sasl_username", "helo", "proto"):
        if f"postfix_{k}" in r:
            add(f"postfix_{k}", str(r[f"postfix_{k}"]), getattr(ev, k))
    if "postfix_message-id" in r:
        mid = ev.message_id
        add("postfix_message-id", str(r["postfix_message-id"]) or None,
            _unbracket(mid) if mid is not None else None)
    if "postfix_from" in r:
        add("postfix_from", _unbracket(str(r["postfix_from"])), ev.sender)
    if "postfix_to" in r:
        add("postfix_to", _unbracket(str(r["postfix_to"])), ev.recipient)
    if "postfix_orig_to" in r:
        add("postfix_orig_to", _unbracket(str(r["postfix_orig_to"])), ev.orig_to)
    if "postfix_status" in r:
        add("postfix_status", str(r["postfix_status"]), ev.status)
    if "postfix_size" in r:
        add("postfix_size", int(r["postfix_size"]), ev.size)
    if "postfix_nrcpt" in r:
        add("postfix_nrcpt", int(r["postfix_nrcpt"]), ev.nrcpt)
    if "postfix_delay" in r:
        add("postfix_delay", float(r["postfix_delay"]), ev.delay)
    if "postfix_dsn" in r:
        add("postfix_dsn", str(r["postfix_dsn"]), ev.dsn)
    if ev.kind == "delivery":
        rel = _split_relay(ev.relay)
        for part in ("hostname", "ip", "port"):
            if f"postfix_relay_{part}" in r:
                add(f"postfix_relay_{part}", str(r[f"postfix_relay_{part}"]), rel.get(part))
        for k in ("postfix_smtp_response", "postfix_error_response", "postfix_local_response",
                  "postfix_pipe_response", "postfix_status_message"):
            if k in r:
                add(k, str(r[k]), ev.reply)
    action = r.get("postfix_action")
    if action is not None:
        want = {"reject": "noqueue_reject" if ev.queue_id is None else "reject",
                "milter-reject": "milter_reject"}.get(str(action), "other")
        add("postfix_action", want, ev.kind)
    if ev.kind in REJECT_KINDS or action is not None:
        if "postfix_smtp_stage" in r:
            add("postfix_smtp_stage", str(r["postfix_smtp_stage"]), ev.stage)
        if "postfix_status_code" in r:
            add("postfix_status_code", str(r["postfix_status_code"]), ev.reject_code)
        if "postfix_status_code_enhanced" in r:
            add("postfix_status_code_enhanced", str(r["postfix_status_code_enhanced"]), ev.dsn)
    if "postfix_bounce_queueid" in r:
        add("postfix_bounce_queueid", str(r["postfix_bounce_queueid"]), ev.linked_queue_id)
    if "postfix_bounce_reason" in r:
        reason = {"delivery status": "success"}.get(str(r["postfix_bounce_reason"]),
                                                     str(r["postfix_bounce_reason"]))
        add("postfix_bounce_reason", reason, ev.notice_kind)
    if "postfix_keyvalue_data" in r:
        for key, (field, value) in _kv_expectations(str(r["postfix_keyvalue_data"])).items():
            add(key, value, getattr(ev, field))
    return exp


def run_case(path: Path) -> tuple[str, dict]:
    """Returns (outcome, mismatches) with outcome in 'pass', 'fail', 'skip'."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = doc.get("data")
    results = doc.get("results") or {}
    if not isinstance(data, str):
        return "skip", {}
    ev = parse_postfix(_program_for(path.stem), data)
    exp = expectations(results, ev)
    if not exp:
        return "skip", {}
    bad = {k: v for k, v in exp.items() if v[0] != v[1]}
    return ("fail" if bad else "pass"), bad


@pytest.mark.skipif(not CASES, reason="grok corpus not available")
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_grok_case(path):
    outcome, bad = run_case(path)
    if outcome == "skip":
        pytest.skip("no grok result key that PostfixEvent covers")
    assert not bad, {k: f"expected {e!r}, got {a!r}" for k, (e, a) in bad.items()}


@pytest.mark.skipif(not CASES, reason="grok corpus not available")
def test_grok_summary(capsys):
    tally = {"pass": 0, "fail": 0, "skip": 0}
    for p in CASES:
        tally[run_case(p)[0]] += 1
    with capsys.disabled():
        print(f"\ngrok cases: {tally['pass']} passed, {tally['fail']} failed, "
              f"{tally['skip']} not covered, of {len(CASES)}")
    assert tally["fail"] == 0
