"""How lines are grouped into messages, on lines written in the exact formats of real Postfix
logs (PITFALLS 28-35): content-filter hops in any order, Message-IDs reused by distinct
transactions, temporary refusals retried or never retried, verification probes, local
submissions and pre-queue proxies. Each test stores lines the way a fetch does and runs the
real correlator on the real SQLite file."""
from __future__ import annotations

import time

import pytest

from mailcow_logs_viewer.correlate import Correlator, correlation_key
from mailcow_logs_viewer.log_rows import POSTFIX, RSPAMD, insert_rows, postfix_row, rspamd_row
from mailcow_logs_viewer.models import Leg, LocalDomain, Message, PostfixLine, Recipient
from mailcow_logs_viewer.outcome import RECIPIENT_STATUSES, REFUSAL_RETRY_SECONDS

NOW = int(time.time())
T0 = NOW - 3600


def store(lines: list[tuple[int, str, str]], base: int = T0) -> None:
    """Store (offset, program, message) lines the way a fetch does."""
    insert_rows(POSTFIX, [postfix_row({"time": str(base + offset), "priority": "info", "program": program,
                                       "message": message}, 0, base) for offset, program, message in lines], "mx")


def by_msgid(message_id: str) -> Message:
    return Message.get(Message.correlation_key == correlation_key("msgid", message_id))


def outcomes(message: Message) -> dict[str, str]:
    return {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}


def legs(message: Message) -> list[tuple[str, str]]:
    return [(leg.queue_id, leg.role) for leg in Leg.select().where(Leg.message_ref == message.id)
            .order_by(Leg.first_time, Leg.id)]


@pytest.fixture
def correlator(app):
    LocalDomain.create(domain="example.org", kind="domain", updated_at=T0)
    return Correlator(max_age_minutes=10, clock=lambda: NOW)


# ------------------------------------------------------------------ 1. content-filter hops

MID = "<20261201.hop@example.net>"


def _first_hop(handoff_status: str = "sent") -> list:
    return [
        (0, "postfix/smtpd", "4A1B2C3D4E: client=mail.example.net[203.0.113.9]"),
        (0, "postfix/cleanup", f"4A1B2C3D4E: message-id={MID}"),
        (0, "postfix/qmgr", "4A1B2C3D4E: from=<alice@example.net>, size=2040, nrcpt=1 (queue active)"),
        (2, "postfix/smtp", "4A1B2C3D4E: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=2.1, "
                            "delays=0.1/0/0/2, dsn=2.0.0, status=sent (250 2.0.0 Ok, id=12345-01, from "
                            "MTA([127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5F6A7B8C9D)"),
        (2, "postfix/qmgr", "4A1B2C3D4E: removed"),
    ]


def _second_hop(status_line: str, with_message_id: bool = True) -> list:
    lines = [(1, "postfix/10025/smtpd", "5F6A7B8C9D: client=localhost[127.0.0.1]")]
    if with_message_id:
        lines.append((1, "postfix/cleanup", f"5F6A7B8C9D: message-id={MID}"))
    lines += [(1, "postfix/qmgr", "5F6A7B8C9D: from=<alice@example.net>, size=2600, nrcpt=1 (queue active)"),
              (1, "postfix/lmtp", status_line)]
    return lines


DELIVERED = ("5F6A7B8C9D: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.4, "
             "delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> Saved)")
DEFERRED = ("5F6A7B8C9D: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.4, "
            "delays=0.1/0/0.1/0.2, dsn=4.2.2, status=deferred (host dovecot said: 452 4.2.2 Quota exceeded)")


@pytest.mark.parametrize("with_message_id", [True, False])
@pytest.mark.parametrize("order", ["one fetch", "new hop first", "new hop in an earlier fetch"])
def test_content_filter_hop_joins_the_message_whatever_the_order(correlator, order, with_message_id):
    first, second = _first_hop(), _second_hop(DELIVERED, with_message_id)
    if order == "one fetch":
        store(first[:3] + second + first[3:])
    elif order == "new hop first":
        store(second + first)
    else:
        store(first[:3])
        correlator.run()
        store(second)
        correlator.run()
        store(first[3:])
    correlator.run()
    message = by_msgid(MID)
    assert legs(message) == [("4A1B2C3D4E", "primary"), ("5F6A7B8C9D", "reinjected")]
    assert (message.final_status, outcomes(message)) == ("delivered", {"bob@example.org": "delivered"})
    assert message.ip == "203.0.113.9" and Message.select().count() == 1


def test_deferred_behind_the_filter_is_deferred_not_delivered(correlator):
    store(_first_hop()[:3] + _second_hop(DEFERRED) + _first_hop()[3:])
    correlator.run()
    message = by_msgid(MID)
    assert (message.final_status, outcomes(message)) == ("deferred", {"bob@example.org": "deferred"})


# ------------------------------------------------------------------ 2. Message-ID is not an identity

LIST_MID = "<post-42@example.org>"


_LIST_LINES = [
    (0, "postfix/submission/smtpd", "1A2B3C4D5E: client=laptop.example.com[198.51.100.20], "
                                    "sasl_method=PLAIN, sasl_username=alice@example.org"),
    (0, "postfix/cleanup", f"1A2B3C4D5E: message-id={LIST_MID}"),
    (0, "postfix/qmgr", "1A2B3C4D5E: from=<alice@example.org>, size=3000, nrcpt=1 (queue active)"),
    (1, "postfix/smtp", "1A2B3C4D5E: to=<list@lists.example.net>, relay=lists.example.net[192.0.2.25]:25, "
                        "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 77AA)"),
    (1, "postfix/qmgr", "1A2B3C4D5E: removed"),
    # The list sends the post back to its subscribers: alice and bob are on it.
    (60, "postfix/smtpd", "2B3C4D5E6F: client=lists.example.net[192.0.2.25]"),
    (60, "postfix/cleanup", f"2B3C4D5E6F: message-id={LIST_MID}"),
    (60, "postfix/qmgr", "2B3C4D5E6F: from=<list-bounces@lists.example.net>, size=3900, nrcpt=2 (queue active)"),
    (61, "postfix/lmtp", "2B3C4D5E6F: to=<alice@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                         "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)"),
    (61, "postfix/lmtp", "2B3C4D5E6F: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                         "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)"),
    (61, "postfix/qmgr", "2B3C4D5E6F: removed"),
]


def test_a_list_copy_with_the_same_message_id_is_an_inbound_message_of_its_own(correlator):
    store(_LIST_LINES)
    correlator.run()
    post = by_msgid(LIST_MID)
    assert (post.direction, post.sender, legs(post)) == ("outbound", "alice@example.org", [("1A2B3C4D5E", "primary")])
    copy = Message.get(Message.id != post.id)
    assert copy.message_id == LIST_MID and copy.correlation_key == correlation_key(
        "msgid", f"{LIST_MID}\n2B3C4D5E6F:{T0 + 60}")
    assert (copy.direction, copy.sender, legs(copy)) == ("inbound", "list-bounces@lists.example.net",
                                                         [("2B3C4D5E6F", "primary")])
    assert outcomes(copy) == {"alice@example.org": "delivered", "bob@example.org": "delivered"}


def _scan(offset: int, message_id: str, ip: str, sender: str, rcpts: list[str], subject: str) -> None:
    row = {"unix_time": T0 + offset, "message-id": message_id.strip("<>"), "subject": subject, "score": 1.5,
           "required_score": 15, "action": "no action", "symbols": {}, "ip": ip, "user": "unknown",
           "sender_smtp": sender, "sender_mime": sender, "rcpt_smtp": rcpts, "rcpt_mime": rcpts, "size": 1200}
    insert_rows(RSPAMD, [rspamd_row(row, 0, T0, frozenset({"example.org"}))], "mx")


def test_the_scan_of_a_list_copy_belongs_to_the_copy_not_to_the_post(correlator):
    """Rspamd rows name only the Message-ID: each goes to the transaction from its client."""
    store(_LIST_LINES)
    _scan(0, LIST_MID, "198.51.100.20", "alice@example.org", ["list@lists.example.net"], "Agenda")
    _scan(60, LIST_MID, "192.0.2.25", "list-bounces@lists.example.net", ["alice@example.org", "bob@example.org"],
          "[list] Agenda")
    correlator.run()
    post = by_msgid(LIST_MID)
    copy = Message.get(Message.id != post.id)
    assert (post.final_status, outcomes(post), post.subject) == (
        "delivered", {"list@lists.example.net": "delivered"}, "Agenda")
    assert (copy.final_status, copy.subject, len(outcomes(copy))) == ("delivered", "[list] Agenda", 2)


def test_a_greylisted_transaction_retried_by_the_same_client_is_one_message(correlator):
    store([
        (0, "postfix/smtpd", "3C4D5E6F70: client=mail.example.net[203.0.113.9]"),
        (0, "postfix/cleanup", "3C4D5E6F70: message-id=<grey-1@example.net>"),
        (1, "postfix/cleanup", "3C4D5E6F70: milter-reject: END-OF-MESSAGE from mail.example.net[203.0.113.9]: "
                               "4.7.1 Try again later; from=<alice@example.net> to=<bob@example.org> proto=ESMTP "
                               "helo=<mail.example.net>"),
        (600, "postfix/smtpd", "4D5E6F7081: client=mail.example.net[203.0.113.9]"),
        (600, "postfix/cleanup", "4D5E6F7081: message-id=<grey-1@example.net>"),
        (600, "postfix/qmgr", "4D5E6F7081: from=<alice@example.net>, size=900, nrcpt=1 (queue active)"),
        (601, "postfix/lmtp", "4D5E6F7081: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                              "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)"),
        (601, "postfix/qmgr", "4D5E6F7081: removed"),
    ])
    correlator.run()
    message = by_msgid("<grey-1@example.net>")
    assert legs(message) == [("3C4D5E6F70", "primary"), ("4D5E6F7081", "retry")]
    assert (message.final_status, message.reject_reason) == ("delivered", None)
    assert Message.select().count() == 1


def test_many_strangers_reusing_one_message_id_stay_apart_and_a_thousand_hops_stay_readable(correlator, client):
    lines = []
    for n in range(1000):
        qid = f"{0xA00000 + n:X}"
        lines += [(n, "postfix/smtpd", f"{qid}: client=host{n}.example.com[198.18.{n // 250}.{n % 250 + 1}]"),
                  (n, "postfix/cleanup", f"{qid}: message-id=<same@example.com>"),
                  (n, "postfix/qmgr", f"{qid}: from=<sender{n}@example.com>, size=100, nrcpt=1 (queue active)")]
    # ... and one message re-injected locally a thousand times (a forwarding loop cut short)
    for n in range(1000):
        qid = f"{0xB00000 + n:X}"
        lines += [(2000 + n, "postfix/pickup", f"{qid}: uid=0 from=<root>"),
                  (2000 + n, "postfix/cleanup", f"{qid}: message-id=<loop@example.org>"),
                  (2000 + n, "postfix/qmgr", f"{qid}: from=<root@example.org>, size=100, nrcpt=1 (queue active)")]
    store(lines)
    correlator.run()
    assert Message.select().where(Message.message_id == "<same@example.com>").count() == 1000
    loop = by_msgid("<loop@example.org>")
    assert len(legs(loop)) == 1000
    body = client.get(f"/api/message/{loop.correlation_key}/details").get_json()
    assert len(body["legs"]) == 1000 and len(body["postfix"]) == 3000
    stranger = by_msgid("<same@example.com>")
    related = client.get(f"/api/message/{stranger.correlation_key}/details").get_json()["related"]
    assert {r["relation"] for r in related} == {"same_message_id"} and len(related) == 50


# ------------------------------------------------------------------ 3. temporary NOQUEUE retried

def test_a_temporary_noqueue_refusal_retried_joins_the_accepted_message(correlator):
    store([
        (0, "postfix/postscreen", "NOQUEUE: reject: RCPT from [203.0.113.9]:51234: 450 4.3.2 Service currently "
                                  "unavailable; from=<alice@example.net>, to=<bob@example.org>, proto=ESMTP, "
                                  "helo=<mail.example.net>"),
        (5, "postfix/smtpd", "NOQUEUE: reject: RCPT from mail.example.net[203.0.113.9]: 450 4.1.8 "
                             "<alice@example.net>: Sender address rejected: Domain not found; "
                             "from=<alice@example.net> to=<bob@example.org> proto=ESMTP helo=<mail.example.net>"),
        (300, "postfix/smtpd", "5E6F708192: client=mail.example.net[203.0.113.9]"),
        (300, "postfix/cleanup", "5E6F708192: message-id=<retried@example.net>"),
        (300, "postfix/qmgr", "5E6F708192: from=<alice@example.net>, size=900, nrcpt=1 (queue active)"),
        (301, "postfix/lmtp", "5E6F708192: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                              "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)"),
        # another client's temporary refusal is not this message's attempt
        (10, "postfix/smtpd", "NOQUEUE: reject: RCPT from other.example.com[198.51.100.7]: 450 4.7.1 "
                              "<bob@example.org>: Recipient address rejected: Greylisted; "
                              "from=<carol@example.com> to=<bob@example.org> proto=ESMTP helo=<other.example.com>"),
    ])
    correlator.run()
    message = by_msgid("<retried@example.net>")
    assert (message.final_status, message.reject_reason) == ("delivered", None)
    assert PostfixLine.select().where(PostfixLine.message_ref == message.id).count() == 2
    assert Recipient.get(Recipient.message_ref == message.id).attempts == 3
    refused = Message.get(Message.id != message.id)
    assert (refused.sender, refused.final_status) == ("carol@example.com", "rejected")
    assert Message.select().count() == 2


def test_a_temporary_refusal_joins_the_retry_to_its_recipient_not_another_message_of_the_client(correlator):
    """The same client and sender send carol's mail first; bob's refused transaction is
    retried later, and its delivery line arrives only in the next fetch."""
    refusal = (0, "postfix/smtpd", "NOQUEUE: reject: RCPT from mail.example.net[203.0.113.9]: 450 4.1.8 "
                                   "<alice@example.net>: Sender address rejected: Domain not found; "
                                   "from=<alice@example.net> to=<bob@example.org> proto=ESMTP helo=<mail.example.net>")
    other = [(100, "postfix/smtpd", "6A7B8C9DAE: client=mail.example.net[203.0.113.9]"),
             (100, "postfix/cleanup", "6A7B8C9DAE: message-id=<other@example.net>"),
             (100, "postfix/qmgr", "6A7B8C9DAE: from=<alice@example.net>, size=900, nrcpt=1 (queue active)"),
             (101, "postfix/lmtp", "6A7B8C9DAE: to=<carol@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                                   "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)")]
    retry = [(600, "postfix/smtpd", "7B8C9DAEBF: client=mail.example.net[203.0.113.9]"),
             (600, "postfix/cleanup", "7B8C9DAEBF: message-id=<retry@example.net>"),
             (600, "postfix/qmgr", "7B8C9DAEBF: from=<alice@example.net>, size=900, nrcpt=1 (queue active)")]
    store([refusal] + other + retry)
    correlator.run()
    assert by_msgid("<other@example.net>").final_status == "delivered"
    assert Message.select().where(Message.final_status == "rejected").count() == 1     # not retried yet, as far as we know
    store([(601, "postfix/lmtp", "7B8C9DAEBF: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.3, "
                                 "delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)")])
    correlator.run()
    retried = by_msgid("<retry@example.net>")
    assert (retried.final_status, retried.first_seen) == ("delivered", T0)
    assert PostfixLine.select().where(PostfixLine.message_ref == by_msgid("<other@example.net>").id,
                                      PostfixLine.kind == "noqueue_reject").count() == 0
    assert Message.select().count() == 2


# ------------------------------------------------------------------ 4. verification probes

def test_address_verification_probes_are_not_messages(correlator, client):
    store([
        (0, "postfix/cleanup", "6F70819203: message-id=<20261201.6F70819203@mx.example.org>"),
        (0, "postfix/qmgr", "6F70819203: from=<double-bounce@mx.example.org>, size=236, nrcpt=1 (queue active)"),
        (1, "postfix/smtp", "6F70819203: to=<someone@remote.example>, relay=mx.remote.example[192.0.2.9]:25, "
                            "delay=0.6, delays=0/0/0.3/0.3, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)"),
        (1, "postfix/qmgr", "6F70819203: removed"),
        (2, "postfix/cleanup", "708192A3B4: message-id=<20261201.708192A3B4@mx.example.org>"),
        (2, "postfix/qmgr", "708192A3B4: from=<double-bounce@mx.example.org>, size=236, nrcpt=1 (queue active)"),
        (3, "postfix/smtp", "708192A3B4: to=<nobody@remote.example>, relay=mx.remote.example[192.0.2.9]:25, "
                            "delay=0.6, delays=0/0/0.3/0.3, dsn=5.1.1, status=undeliverable (host "
                            "mx.remote.example[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT TO command))"),
        (3, "postfix/qmgr", "708192A3B4: removed"),
    ])
    correlator.run()
    assert Message.select().count() == 0
    logs = client.get("/api/logs/postfix?search=deliverable").get_json()["data"]
    assert {line["status"] for line in logs} == {"deliverable", "undeliverable"}


def test_a_probe_placed_before_its_result_leaves_the_message_list(correlator):
    store([(0, "postfix/cleanup", "8192A3B4C5: message-id=<20261201.8192A3B4C5@mx.example.org>")])
    store([(0, "postfix/smtp", "8192A3B4C5: to=<x@remote.example>, relay=mx.remote.example[192.0.2.9]:25, "
                               "delay=0.6, delays=0/0/0.3/0.3, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)")],
          base=T0 + 1)
    correlator.run()
    assert Message.select().count() == 0


# ------------------------------------------------------------------ 5. greylisted, never retried

def test_greylisted_and_never_retried_ends_rejected_after_the_retry_window(app):
    LocalDomain.create(domain="example.org", kind="domain", updated_at=T0)
    clock = [T0 + 10]
    correlator = Correlator(clock=lambda: clock[0])
    store([
        (0, "postfix/smtpd", "92A3B4C5D6: client=unknown[198.51.100.66]"),
        (0, "postfix/cleanup", "92A3B4C5D6: message-id=<bot@spam.example>"),
        (1, "postfix/cleanup", "92A3B4C5D6: milter-reject: END-OF-MESSAGE from unknown[198.51.100.66]: 4.7.1 "
                               "Greylisted, please try again later; from=<bot@spam.example> to=<bob@example.org> "
                               "proto=ESMTP helo=<WINPC>"),
    ])
    correlator.run()
    assert by_msgid("<bot@spam.example>").final_status == "deferred"
    clock[0] = T0 + REFUSAL_RETRY_SECONDS + 60
    assert correlator.expire()["refusals_ended"] == 1
    message = by_msgid("<bot@spam.example>")
    assert (message.final_status, message.is_complete, outcomes(message)) == (
        "rejected", True, {"bob@example.org": "rejected"})
    assert "Greylisted" in message.reject_reason


# ------------------------------------------------------------------ 6, 7. sender and client

def test_local_submission_sender_is_qmgrs_envelope_sender(correlator, client):
    store([
        (0, "postfix/pickup", "A3B4C5D6E7: uid=0 from=<root>"),
        (0, "postfix/cleanup", "A3B4C5D6E7: message-id=<cron-1@host.example.org>"),
        (0, "postfix/qmgr", "A3B4C5D6E7: from=<reports@example.org>, size=500, nrcpt=1 (queue active)"),
        (1, "postfix/smtp", "A3B4C5D6E7: to=<admin@remote.example>, relay=mx.remote.example[192.0.2.9]:25, "
                            "delay=0.5, delays=0/0/0.2/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok)"),
    ])
    correlator.run()
    assert by_msgid("<cron-1@host.example.org>").sender == "reports@example.org"
    for query in ("sender=reports@example.org", "search=from:reports@example.org"):
        assert client.get(f"/api/messages?{query}").get_json()["total"] == 1, query


@pytest.mark.parametrize("qmgr_first", [False, True])
def test_a_bare_pickup_sender_stays_unqualified_until_qmgr_qualifies_it(correlator, client, qmgr_first):
    """Before qmgr's line, `pickup` names only the local user: the sender is that word, not a
    guess at the domain; qmgr's line (in a later fetch, or stored before pickup's in one) qualifies it."""
    pickup = [(0, "postfix/pickup", "C5D6E7F8A9: uid=0 from=<root>"),
              (0, "postfix/cleanup", "C5D6E7F8A9: message-id=<cron-2@mail.example.org>")]
    qmgr = [(1, "postfix/qmgr", "C5D6E7F8A9: from=<root@mail.example.org>, size=500, nrcpt=1 (queue active)")]
    if qmgr_first:
        store(qmgr + pickup)
    else:
        store(pickup)
        correlator.run()
        message = by_msgid("<cron-2@mail.example.org>")
        assert (message.sender, message.final_status, message.ip) == ("root", "pending", None)
        assert client.get("/api/messages?sender=root@mail.example.org").get_json()["total"] == 0
        store(qmgr)
    correlator.run()
    message = by_msgid("<cron-2@mail.example.org>")
    assert message.sender == "root@mail.example.org"
    assert Leg.get(Leg.queue_id == "C5D6E7F8A9").sender == "root@mail.example.org"
    for query in ("sender=root@mail.example.org", "search=from:root@mail.example.org"):
        assert client.get(f"/api/messages?{query}").get_json()["total"] == 1, query


def test_the_client_behind_a_pre_queue_proxy_is_the_original_one(correlator, client):
    store([
        (0, "postfix/smtpd", "B4C5D6E7F8: client=localhost[127.0.0.1], orig_client=mail.example.net[203.0.113.9]"),
        (0, "postfix/cleanup", "B4C5D6E7F8: message-id=<proxied@example.net>"),
        (0, "postfix/qmgr", "B4C5D6E7F8: from=<alice@example.net>, size=500, nrcpt=1 (queue active)"),
    ])
    correlator.run()
    assert by_msgid("<proxied@example.net>").ip == "203.0.113.9"
    assert client.get("/api/messages?search=ip:203.0.113.9").get_json()["total"] == 1


def test_every_recipient_status_is_a_documented_one(correlator):
    store(_first_hop() + _second_hop(DEFERRED) + [
        (9, "postfix/smtp", "C5D6E7F809: to=<x@remote.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, "
                            "status=weird (connect timed out)")])
    correlator.run()
    assert {r.status for r in Recipient.select()} <= set(RECIPIENT_STATUSES)


# ------------------------------------------------------------------ 8. search sees what an admin searches for

def test_search_finds_orig_to_refusal_texts_remote_replies_and_program_names(correlator, client):
    store([
        (0, "postfix/postscreen", "NOQUEUE: reject: RCPT from [198.51.100.66]:40000: 550 5.7.1 Service unavailable; "
                                  "client [198.51.100.66] blocked using zen.spamhaus.org; from=<x@spam.example>, "
                                  "to=<bob@example.org>, proto=ESMTP, helo=<WINPC>"),
        (1, "postfix/smtpd", "D6E7F8091A: client=mail.example.net[203.0.113.9]"),
        (1, "postfix/cleanup", "D6E7F8091A: message-id=<alias@example.net>"),
        (1, "postfix/qmgr", "D6E7F8091A: from=<alice@example.net>, size=500, nrcpt=1 (queue active)"),
        (2, "postfix/lmtp", "D6E7F8091A: to=<bob@example.org>, orig_to=<sales@example.org>, "
                            "relay=dovecot[172.22.1.250]:24, delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, "
                            "status=sent (250 2.0.0 Saved)"),
        (3, "postfix/smtpd", "E7F8091A2B: client=mail.example.net[203.0.113.9]"),
        (3, "postfix/cleanup", "E7F8091A2B: message-id=<unknown@example.net>"),
        (3, "postfix/qmgr", "E7F8091A2B: from=<alice@example.org>, size=500, nrcpt=1 (queue active)"),
        (4, "postfix/smtp", "E7F8091A2B: to=<nobody@remote.example>, relay=mx.remote.example[192.0.2.9]:25, "
                            "delay=0.6, delays=0/0/0.3/0.3, dsn=5.1.1, status=bounced (host mx.remote.example"
                            "[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT TO command))"),
    ])
    correlator.run()
    for word, expected in (("spamhaus", "rejected"), ("sales", "delivered"), ('"User unknown"', "bounced")):
        found = client.get("/api/messages", query_string={"search": word}).get_json()["data"]
        assert [m["final_status"] for m in found] == [expected], word
    lines = client.get("/api/logs/postfix", query_string={"search": "postscreen"}).get_json()["data"]
    assert [line["program"] for line in lines] == ["postfix/postscreen"]
