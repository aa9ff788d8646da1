"""The only real Postfix + Rspamd history we have (../shared/corpus/realmail-sample), served by
the simulated mailcow exactly as mailcow's API would, fetched over HTTP and correlated: each
of the 72 SMTP transactions ends as the trace says."""
from __future__ import annotations

import hashlib
import json
import re

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import Leg, Message, PostfixLine, Recipient, RspamdRow
from mailcow_logs_viewer.runtime import Runtime

from conftest import corpus_path

STATUS = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "expired"}


@pytest.fixture(scope="module")
def realmail(tmp_path_factory):
    from mailcow_logs_viewer.config import load_settings
    from mailcow_logs_viewer.simulator import SimulatedMailcow

    sample = json.loads(corpus_path("realmail-sample", "mailcow.json").read_text())
    sim = SimulatedMailcow()
    sim.start()
    # mailcow serves newest first; push takes entries oldest first.
    sim.push("postfix", list(reversed(sample["postfix"])))
    sim.push("rspamd", list(reversed(sample["rspamd"])))
    settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key,
                              "DATA_DIR": str(tmp_path_factory.mktemp("realmail")),
                              "LOCAL_DOMAINS": "example.org,example.net"})
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    result = runtime.fetch_and_correlate()
    yield {"app": app, "result": result, "sample": sample,
           "trace": [json.loads(line) for line in corpus_path("realmail-sample", "trace.jsonl").read_text().splitlines()],
           "sent": {json.loads(l)["label"]: json.loads(l) for l in corpus_path("realmail-sample", "sent.jsonl").read_text().splitlines()}}
    runtime.client.close()
    database.close()
    sim.stop()


def _expected_outcomes(entry: dict) -> dict[str, str]:
    """Per recipient: the status of its last delivery line; a deferral then qmgr's expiry -> expired."""
    last: dict[str, str] = {}
    for line in entry["deliveries"]:
        match = re.match(r"to=<([^>]*)>.*status=(\w+)", line)
        last[match.group(1)] = STATUS[match.group(2)]
    if "expired" in entry["final"]:
        last = {r: ("expired" if s == "deferred" else s) for r, s in last.items()}
    for recipient in entry["rcpt_results"]:
        last[recipient] = "rejected"
    return last


def _message_for(entry: dict) -> Message:
    leg = Leg.get(Leg.queue_id == entry["queue_id"])
    return Message.get_by_id(leg.message_ref)


def test_every_line_and_row_is_stored_once(realmail):
    fetched = realmail["result"]["fetch"]
    assert fetched["postfix"]["stored"] == len(realmail["sample"]["postfix"]) == PostfixLine.select().count() == 822
    assert fetched["rspamd"]["stored"] == len(realmail["sample"]["rspamd"]) == RspamdRow.select().count() == 62
    assert fetched["postfix"]["unparsed"] == fetched["rspamd"]["unparsed"] == 0


def test_accepted_transactions_end_with_the_traced_outcome_per_recipient(realmail):
    accepted = [e for e in realmail["trace"] if e["outcome"] == "accepted"]
    assert len(accepted) == 51
    for entry in accepted:
        message = _message_for(entry)
        outcomes = {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}
        expected = _expected_outcomes(entry)
        # A greylisted first attempt or an Rspamd row can add nothing beyond these recipients.
        assert {r: outcomes.get(r) for r in expected} == expected, entry["label"]
        accepted_states = [s for s in expected.values() if s != "rejected"]
        want = ("bounced" if any(s in ("bounced", "expired") for s in accepted_states)
                else "deferred" if "deferred" in accepted_states else "delivered")
        assert message.final_status == want, entry["label"]
        assert message.is_complete, entry["label"]


def test_greylisted_message_is_one_message_with_both_legs_and_ends_delivered(realmail):
    for label in ("b-in-grey-0", "b-in-grey-1", "b-in-grey-2", "b-in-spam-addheader-0"):
        first, retry = realmail["sent"][label], realmail["sent"][label + "-retry"]
        assert first["message_id"] == retry["message_id"]
        key = hashlib.sha256(f"msgid:{first['message_id']}".encode()).hexdigest()
        message = Message.get(Message.correlation_key == key)
        legs = Leg.select().where(Leg.message_ref == message.id)
        assert legs.count() == 2, label
        assert message.final_status == "delivered", label
        assert RspamdRow.select().where(RspamdRow.message_ref == message.id).count() == 2, label


def test_spam_verdicts_and_rejects_at_data(realmail):
    # Rspamd keeps no history row for a GTUBE hit: the reject comes from Postfix's milter line
    # alone, and without a verdict the message is not counted as spam.
    for label, status, spam in (("b-in-spam-addheader-0", "delivered", True), ("b-in-gtube", "rejected", False),
                                ("b-in-spam-reject-0", "rejected", True), ("b-out-gtube", "rejected", False),
                                ("b-in-spam-reject-1", "rejected", True)):
        key = hashlib.sha256(f"msgid:{realmail['sent'][label]['message_id']}".encode()).hexdigest()
        message = Message.get(Message.correlation_key == key)
        assert (message.final_status, message.is_spam) == (status, spam), label
        if spam:
            assert message.subject == realmail["sent"][label]["subject"], label


def test_noqueue_rejects_are_rejected_messages_with_their_reason(realmail):
    rejected = [e for e in realmail["trace"] if e["outcome"] == "all recipients rejected"]
    assert len(rejected) == 5
    for entry in rejected:
        candidates = [m for m in Message.select().where(Message.queue_id.is_null(), Message.sender == entry["sender"])
                      if set(m.recipients.split(", ")) & set(entry["rcpts"])]
        assert candidates, entry["label"]
        assert all(m.final_status == "rejected" and m.reject_reason for m in candidates), entry["label"]


def test_directions(realmail):
    for entry in realmail["trace"]:
        if entry["outcome"] != "accepted":
            continue
        message = _message_for(entry)
        if entry["label"].startswith("b-out-"):
            local = all(r.endswith(("@example.org", "@example.net")) for r in entry["rcpts"])
            assert message.direction == ("internal" if local else "outbound"), entry["label"]
        elif entry["label"].startswith("b-in-") or entry["label"].startswith("b-trickle"):
            assert message.direction == "inbound", entry["label"]


def test_non_delivery_notices_are_related_to_their_message(realmail):
    bounced = [e for e in realmail["trace"] if e.get("notifications") and any("non-delivery" in n for n in e["notifications"])]
    assert bounced
    for entry in bounced:
        parent = _message_for(entry)
        notice_queue = next(n.split(": ")[1] for n in entry["notifications"] if "non-delivery" in n)
        notice = Message.get_by_id(Leg.get(Leg.queue_id == notice_queue).message_ref)
        assert notice.id != parent.id
        assert notice.related_ref == parent.id, entry["label"]
        assert notice.sender == ""


def test_every_rspamd_row_is_linked_to_a_message(realmail):
    assert RspamdRow.select().where(RspamdRow.message_ref.is_null()).count() == 0
