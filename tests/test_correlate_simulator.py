"""Every message the simulated mailcow generated is found, fetched over real HTTP, with the
right per-recipient outcomes, direction, spam verdict and legs (the generator's truth)."""
from __future__ import annotations

import hashlib
from collections import Counter

from mailcow_logs_viewer.models import Leg, Message, Recipient


def _product_message(truth) -> Message | None:
    if truth.message_id:
        key = hashlib.sha256(f"msgid:{truth.message_id}".encode()).hexdigest()
        return Message.get_or_none(Message.correlation_key == key)
    if truth.queue_ids:
        leg = Leg.get_or_none(Leg.queue_id == truth.queue_ids[0])
        return Message.get_or_none(Message.id == leg.message_ref) if leg else None
    # NOQUEUE and postscreen rejects have neither: same sender and recipients, within the session.
    candidates = Message.select().where(Message.queue_id.is_null(), Message.sender == truth.sender,
                                        Message.first_seen.between(int(truth.first_time) - 1, int(truth.first_time) + 30))
    wanted = set(truth.recipients)
    return next((m for m in candidates if set(m.recipients.split(", ")) == wanted), None)


def test_every_generated_message_is_found_with_its_outcomes(fetched_app, simulator):
    truths = list(simulator.generator.truth.values())
    assert len(truths) > 300
    assert {t.status for t in truths} >= {"delivered", "rejected", "bounced", "deferred"}
    mismatches = []
    for truth in truths:
        message = _product_message(truth)
        if message is None:
            mismatches.append((truth.key, "missing"))
            continue
        outcomes = {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}
        expected = {r: ("rejected" if truth.refused else truth.outcomes.get(r, "deferred")) for r in truth.recipients}
        got = (message.final_status, outcomes, message.direction, message.is_spam)
        want = (truth.status, expected, truth.direction, truth.is_spam)
        if got != want:
            mismatches.append((truth.key, want, got))
    assert mismatches == []
    assert Message.select().count() == len(truths)


def test_legs_of_each_message_are_its_queue_ids(fetched_app, simulator):
    for truth in simulator.generator.truth.values():
        if not truth.queue_ids or not truth.message_id:
            continue
        message = _product_message(truth)
        legs = [leg.queue_id for leg in Leg.select().where(Leg.message_ref == message.id).order_by(Leg.first_time, Leg.id)]
        assert legs == truth.queue_ids, truth.key


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
