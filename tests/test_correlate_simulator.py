"""Every message the simulated mailcow generated is found, fetched over real HTTP, with the
right per-recipient outcomes, status, sender, client, direction, spam verdict and legs (the
generator's truth), including the patterns of other real setups (issue 12): content-filter
hops, mailing-list copies that reuse a post's Message-ID, verification probes, temporary
refusals retried, local submissions through pickup, a pre-queue proxy."""
from __future__ import annotations

import hashlib
import re
from collections import Counter

from mailcow_logs_viewer.models import Leg, Message, PostfixLine, Recipient

ISSUE_12_FLOWS = {"content_filter", "list_post", "list_copy", "retried_refusal", "pickup", "proxied_inbound"}


def _msgid_key(message_id: str) -> str:
    return hashlib.sha256(f"msgid:{message_id}".encode()).hexdigest()


def _product_message(truth) -> Message | None:
    if truth.queue_ids:
        leg = Leg.get_or_none(Leg.queue_id == truth.queue_ids[0])
        return Message.get_or_none(Message.id == leg.message_ref) if leg else None
    if truth.message_id:
        return Message.get_or_none(Message.correlation_key == _msgid_key(truth.message_id))
    # NOQUEUE and postscreen rejects have neither: same sender and recipients, within the session.
    candidates = Message.select().where(Message.queue_id.is_null(), Message.sender == truth.sender,
                                        Message.first_seen.between(int(truth.first_time) - 1, int(truth.first_time) + 30))
    wanted = set(truth.recipients)
    return next((m for m in candidates if set(m.recipients.split(", ")) == wanted), None)


def test_every_generated_message_is_found_with_its_outcomes(fetched_app, simulator):
    truths = list(simulator.generator.truth.values())
    assert len(truths) > 300
    assert {t.status for t in truths} >= {"delivered", "rejected", "bounced", "deferred"}
    assert {t.flow for t in truths} >= ISSUE_12_FLOWS
    mismatches = []
    for truth in truths:
        message = _product_message(truth)
        if message is None:
            mismatches.append((truth.key, truth.flow, "missing"))
            continue
        outcomes = {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}
        expected = {r: ("rejected" if truth.refused else truth.outcomes.get(r, "deferred")) for r in truth.recipients}
        got = (message.final_status, outcomes, message.direction, message.is_spam, message.sender, message.ip)
        want = (truth.status, expected, truth.direction, truth.is_spam, truth.sender, truth.client_ip)
        if got != want:
            mismatches.append((truth.key, truth.flow, want, got))
    assert mismatches == []
    assert Message.select().count() == len(truths)


def test_legs_of_each_message_are_its_queue_ids(fetched_app, simulator):
    checked = Counter()
    for truth in simulator.generator.truth.values():
        if not truth.queue_ids or not truth.message_id:
            continue
        message = _product_message(truth)
        legs = [leg.queue_id for leg in Leg.select().where(Leg.message_ref == message.id).order_by(Leg.first_time, Leg.id)]
        assert legs == truth.queue_ids, truth.key
        checked[truth.flow] += 1
    assert checked["content_filter"] and checked["greylist"]      # two legs each: a filter hop, a retry


def test_a_message_id_reused_by_a_list_copy_makes_two_related_messages(fetched_app, simulator):
    """The post keeps the plain key; the copy gets the derived one (README "Keys")."""
    client = fetched_app.test_client()
    truth = simulator.generator.truth
    copies = [t for t in truth.values() if t.same_message_id_as and t.queue_ids]
    assert copies
    served = simulator.buffer("postfix")
    for copy in copies:
        post = truth[copy.same_message_id_as]
        post_message, copy_message = _product_message(post), _product_message(copy)
        assert post_message.correlation_key == _msgid_key(post.message_id)
        qid = copy.queue_ids[0]
        first_time = min(int(e["time"]) for e in served if e["message"].startswith(qid + ":"))
        assert copy_message.correlation_key == _msgid_key(f"{copy.message_id}\n{qid}:{first_time}")
        assert (copy_message.direction, post_message.direction) == ("inbound", "outbound")
        related = client.get(f"/api/message/{copy_message.correlation_key}/details").get_json()["related"]
        assert {"correlation_key": post_message.correlation_key, "relation": "same_message_id"}.items() <= \
            next(r for r in related if r["correlation_key"] == post_message.correlation_key).items()


def test_a_retried_temporary_refusal_is_an_earlier_attempt_of_the_accepted_message(fetched_app, simulator):
    retried = [t for t in simulator.generator.truth.values() if t.flow == "retried_refusal" and t.queue_ids]
    assert retried
    for truth in retried:
        message = _product_message(truth)
        refusals = PostfixLine.select().where(PostfixLine.message_ref == message.id,
                                              PostfixLine.kind == "noqueue_reject")
        assert [line.dsn[:1] for line in refusals] == ["4"], truth.key
        assert message.reject_reason is None


def test_verification_probes_are_in_the_postfix_log_and_in_no_message(fetched_app, simulator):
    client = fetched_app.test_client()
    probes = simulator.generator.probes
    assert {p.status for p in probes} == {"deliverable", "undeliverable"}
    for probe in probes:
        assert Leg.get(Leg.queue_id == probe.queue_id).message_ref is None
        lines = client.get(f"/api/logs/postfix/by-queue/{probe.queue_id}").get_json()
        assert not lines.get("correlation_key")
        found = client.get("/api/logs/postfix", query_string={"search": probe.queue_id}).get_json()["data"]
        assert probe.status in {line["status"] for line in found}
    assert Message.select().where(Message.sender.startswith("double-bounce@")).count() == 0


def test_local_submissions_carry_qmgrs_sender_and_no_client(fetched_app, simulator):
    served = "\n".join(e["message"] for e in simulator.buffer("postfix"))
    assert re.search(r": uid=0 from=<root>$", served, re.M)
    submitted = [t for t in simulator.generator.truth.values() if t.flow == "pickup"]
    assert submitted and all("@" in t.sender for t in submitted)
    for truth in submitted:
        message = _product_message(truth)
        assert (message.sender, message.ip) == (truth.sender, None)


def test_non_delivery_notice_is_related_not_merged(fetched_app, simulator):
    notices = [t for t in simulator.generator.truth.values() if t.is_ndr and t.parent_key]
    assert notices, "the generated mix has bounces with non-delivery notices"
    truth_by_key = simulator.generator.truth
    for notice in notices:
        message = _product_message(notice)
        parent = _product_message(truth_by_key[notice.parent_key])
        assert message is not None and parent is not None
        assert message.id != parent.id
        assert message.related_ref == parent.id
        assert message.sender == ""


def test_status_counts_match_the_truth(fetched_app, simulator):
    expected = Counter(t.status for t in simulator.generator.truth.values())
    got = Counter(m.final_status for m in Message.select())
    assert got == expected
