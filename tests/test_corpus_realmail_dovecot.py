"""Real Postfix 3.7 + Dovecot 2.3 (Pigeonhole Sieve) output (../shared/corpus/realmail-dovecot-sample),
served by the simulated mailcow as mailcow's API would, fetched over HTTP and correlated: each of
the 25 messages ends with its expected outcome per recipient, into the mailbox."""
from __future__ import annotations

import json

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import DovecotLine, Leg, Message, Recipient
from mailcow_logs_viewer.runtime import Runtime

from conftest import corpus_path

SAMPLE = "realmail-dovecot-sample"


@pytest.fixture(scope="module")
def dovecot_world(tmp_path_factory):
    from mailcow_logs_viewer.config import load_settings
    from mailcow_logs_viewer.simulator import SimulatedMailcow

    postfix = json.loads(corpus_path(SAMPLE, "postfix.json").read_text())
    dovecot = json.loads(corpus_path(SAMPLE, "dovecot.json").read_text())
    sim = SimulatedMailcow()
    sim.start()
    sim.push("postfix", list(reversed(postfix)))       # push takes oldest first
    sim.push("dovecot", list(reversed(dovecot)))
    settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key,
                              "DATA_DIR": str(tmp_path_factory.mktemp("realmail-dovecot")),
                              "LOCAL_DOMAINS": "example.org"})
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    result = runtime.fetch_and_correlate()
    expected = [json.loads(line) for line in corpus_path(SAMPLE, "expected.jsonl").read_text().splitlines()]
    yield {"app": app, "result": result, "expected": expected, "postfix": postfix, "dovecot": dovecot}
    runtime.client.close()
    database.close()
    sim.stop()


def _outcomes(queue_id: str) -> tuple[Message, dict[str, Recipient]]:
    message = Message.get_by_id(Leg.get(Leg.queue_id == queue_id).message_ref)
    return message, {r.recipient: r for r in Recipient.select().where(Recipient.message_ref == message.id)}


def test_every_dovecot_line_is_stored_once_and_parsed(dovecot_world):
    fetched = dovecot_world["result"]["fetch"]["dovecot"]
    assert fetched["stored"] == len(dovecot_world["dovecot"]) == DovecotLine.select().count() == 94
    assert fetched["unparsed"] == 0


def test_each_recipient_ends_as_expected(dovecot_world):
    assert len(dovecot_world["expected"]) == 25
    checked = 0
    seen: dict[int, str] = {}
    for entry in dovecot_world["expected"]:
        message, outcomes = _outcomes(entry["queue_id"])
        # Every sample is a message of its own, d11 too: it reuses d03's Message-ID from the same
        # public client without a refusal between them, which the chain of custody (custody.py)
        # makes a distinct transaction (its duplicate is discarded by the global sieve_after).
        assert message.id not in seen, (entry["label"], seen.get(message.id))
        seen[message.id] = entry["label"]
        for address, want in entry["expected"].items():
            got = outcomes[address]
            label = f"{entry['label']} {address}"
            if want["outcome"] == "delivered":
                assert (got.status, got.folder) == ("delivered", want["folder"]), label
            elif want["outcome"] == "discarded":
                assert (got.status, got.folder) == ("discarded", None), label
            elif want["outcome"] == "redirected":
                assert got.status == "delivered" and got.folder is None, label     # no copy kept
                assert got.redirected_to == want["to"], label
                vacation = want["vacation"]
                if vacation.startswith("sent to"):
                    assert got.auto_reply == f"sent to {want['vacation_to']}", label
                else:
                    assert got.auto_reply.startswith("not sent: "), label
            else:
                assert got.status == "bounced", label
                assert got.reason == {"quota": "mailbox full (over quota)", "unknown": "no such mailbox"}[want["reason"]], label
            if "via" in want:
                assert got.orig_to == want["via"], label
            checked += 1
    assert checked == 30


def test_a_resent_message_id_is_two_related_messages(dovecot_world):
    first, _ = _outcomes("CCF3225434C")
    again, outcomes = _outcomes("AF908254005")
    assert first.id != again.id and first.message_id == again.message_id
    assert outcomes["quinn@example.org"].status == "discarded"
    body = dovecot_world["app"].test_client().get(f"/api/message/{again.correlation_key}/details").get_json()
    assert {(r["relation"], r["correlation_key"]) for r in body["related"]} == {("same_message_id", first.correlation_key)}


def test_message_statuses(dovecot_world):
    by_label = {e["label"]: e for e in dovecot_world["expected"]}
    assert _outcomes(by_label["d04-noah-discard-promo"]["queue_id"])[0].final_status == "discarded"
    assert _outcomes(by_label["d15-alias-team-promo-list"]["queue_id"])[0].final_status == "delivered"
    assert _outcomes(by_label["d16-multi-quota-mia-piet-quinn"]["queue_id"])[0].final_status == "bounced"


def test_redirected_copies_and_vacation_replies_are_related_messages(dovecot_world):
    redirects = [e for e in dovecot_world["expected"] if any(w["outcome"] == "redirected" for w in e["expected"].values())]
    assert len(redirects) == 6
    for entry in redirects:
        original, _ = _outcomes(entry["queue_id"])
        related = list(Message.select().where(Message.related_ref == original.id))
        kinds = sorted(m.related_kind for m in related)
        want = ["redirect"] + (["auto_reply"] if entry["expected"]["olga@example.org"]["vacation"].startswith("sent") else [])
        assert kinds == sorted(want), entry["label"]
        copy = next(m for m in related if m.related_kind == "redirect")
        assert copy.recipients == "olga@remote.test" and copy.final_status == "delivered", entry["label"]
        assert original.recipients == "olga@example.org", entry["label"]


def test_details_link_the_redirected_copy_and_show_the_dovecot_lines(dovecot_world):
    entry = next(e for e in dovecot_world["expected"] if e["label"] == "d02-olga-vacation-1")
    original, _ = _outcomes(entry["queue_id"])
    client = dovecot_world["app"].test_client()
    details = client.get(f"/api/message/{original.correlation_key}/details").get_json()
    outcome = details["outcomes"][0]
    copy = Message.get((Message.related_ref == original.id) & (Message.related_kind == "redirect"))
    assert outcome["redirects"] == [{"address": "olga@remote.test", "correlation_key": copy.correlation_key}]
    assert outcome["auto_reply"] == "sent to kim@far.test"
    assert [line["action"] for line in outcome["mailbox_lines"]] == ["redirect", "vacation"]
    assert {r["relation"] for r in details["related"]} == {"redirected_copy", "auto_reply"}
    back = client.get(f"/api/message/{copy.correlation_key}/details").get_json()
    assert [(r["relation"], r["correlation_key"]) for r in back["related"]] == [("redirect_of", original.correlation_key)]
    listed = client.get("/api/logs/dovecot", query_string={"session": "oKYAInckD2uoBQAAg+zDdQ"}).get_json()
    assert listed["total"] == 2 and {row["correlation_key"] for row in listed["data"]} == {original.correlation_key}
