"""outcome.compute_message, one table row per rule: a message's facts in, its status, per-
recipient outcomes and fields out (pure: no database). The lines are the parsed fields of
real Postfix lines, as the correlator loads them."""
from __future__ import annotations

import pytest

from mailcow_logs_viewer.direction import classify
from mailcow_logs_viewer.outcome import RECIPIENT_STATUSES, REFUSAL_RETRY_SECONDS, MessageFacts, compute_message

T = 1_780_000_000
LOCAL = frozenset({"example.org"})
_LINE = dict(queue_id="AAAA", message_id=None, sender=None, recipient=None, orig_to=None, status=None, relay=None,
             delay=None, dsn=None, reply=None, client_ip=None, sasl_username=None, message_ref=None,
             linked_queue_id=None, program="postfix/smtp", server="mx1")
_ids = iter(range(1, 10**6))


def line(kind: str, at: int = 0, **fields) -> dict:
    return {**_LINE, "id": next(_ids), "time": T + at, "kind": kind, **fields}


def leg(queue_id: str = "AAAA", at: int = 0, until: int = 60, **fields) -> dict:
    return {"id": next(_ids), "queue_id": queue_id, "message_ref": 1, "role": "primary", "message_id": "<m@x>",
            "sender": "alice@example.net", "client_ip": "203.0.113.9", "client_host": "mx.example.net",
            "sasl_username": None, "size": 100, "nrcpt": 1, "removed": True, "first_time": T + at,
            "last_time": T + until, "server": "mx1", **fields}


def sent(rcpt: str, at: int = 1, queue: str = "AAAA", **kw) -> dict:
    return line("delivery", at, **{"queue_id": queue, "recipient": rcpt, "status": "sent", "dsn": "2.0.0",
                                   "relay": "mx[192.0.2.1]:25", "reply": "250 2.0.0 Ok", **kw})


def deferred(rcpt: str, at: int = 1, queue: str = "AAAA") -> dict:
    return line("delivery", at, queue_id=queue, recipient=rcpt, status="deferred", dsn="4.4.1",
                reply="connect to mx[192.0.2.1]:25: Connection timed out")


def bounced(rcpt: str, at: int = 1) -> dict:
    return line("delivery", at, recipient=rcpt, status="bounced", dsn="5.1.1", reply="550 5.1.1 User unknown")


def noqueue(rcpt: str, code: str, at: int = 0) -> dict:
    return line("noqueue_reject", at, queue_id=None, recipient=rcpt, sender="alice@example.net",
                client_ip="203.0.113.9", dsn=code, reply="Recipient address rejected", program="postfix/smtpd")


def greylisted(rcpt: str, at: int = 0) -> dict:
    return line("milter_reject", at, recipient=rcpt, sender="alice@example.net", client_ip="203.0.113.9",
                dsn="4.7.1", reply="Greylisted, please try again later", program="postfix/cleanup")


def qmgr(at: int = 0, sender: str = "alice@example.net", queue: str = "AAAA") -> dict:
    return line("qmgr_from", at, queue_id=queue, sender=sender, program="postfix/qmgr")


def rspamd(action: str = "no action", rcpts: str = '["bob@example.org"]') -> dict:
    return {"id": next(_ids), "time": T, "subject": "Hi", "is_spam": action in ("reject", "add header"),
            "score": 3.0, "user": None, "ip": "203.0.113.9", "size": 100, "sender_smtp": "alice@example.net",
            "message_id": "m@x", "action": action, "recipients_smtp": rcpts, "has_auth": False, "server": "mx1"}


CASES = [
    # (name, legs, lines, rspamd rows, now offset, status, outcomes)
    ("delivered", [leg()], [qmgr(), sent("bob@example.org")], [], None,
     "delivered", {"bob@example.org": "delivered"}),
    ("deferred then delivered", [leg()], [qmgr(), deferred("bob@x.test"), sent("bob@x.test", 900)], [], None,
     "delivered", {"bob@x.test": "delivered"}),
    ("still deferred", [leg()], [qmgr(), deferred("bob@x.test")], [], None, "deferred", {"bob@x.test": "deferred"}),
    ("bounced", [leg()], [qmgr(), bounced("bob@x.test")], [], None, "bounced", {"bob@x.test": "bounced"}),
    ("expired after deferral", [leg()],
     [qmgr(), deferred("bob@x.test"), line("expired", 5 * 86400, sender="alice@example.net")], [], None,
     "bounced", {"bob@x.test": "expired"}),
    ("mixed recipients: one bounce", [leg()], [qmgr(), sent("a@x.test"), bounced("b@x.test")], [], None,
     "bounced", {"a@x.test": "delivered", "b@x.test": "bounced"}),
    ("mixed recipients: one deferred", [leg()], [qmgr(), sent("a@x.test"), deferred("b@x.test")], [], None,
     "deferred", {"a@x.test": "delivered", "b@x.test": "deferred"}),
    ("late line: sent an hour after a deferral", [leg()],
     [qmgr(), deferred("b@x.test"), sent("b@x.test", 3000)], [], None, "delivered", {"b@x.test": "delivered"}),
    ("NOQUEUE 5xx", [], [noqueue("bob@example.org", "5.1.1")], [], None, "rejected", {"bob@example.org": "rejected"}),
    ("lone NOQUEUE 4xx (relay denied 454) is a refusal", [], [noqueue("bob@x.test", "4.7.1")], [], None,
     "rejected", {"bob@x.test": "rejected"}),
    ("temporary NOQUEUE retried: delivered, no reason", [leg(at=300)],
     [noqueue("bob@example.org", "4.1.8"), qmgr(300), sent("bob@example.org", 301)], [], None,
     "delivered", {"bob@example.org": "delivered"}),
    ("greylisted then retried in a second leg", [leg(), leg("BBBB", 600, 700)],
     [greylisted("bob@example.org"), qmgr(600, queue="BBBB"), sent("bob@example.org", 601, "BBBB")], [], None,
     "delivered", {"bob@example.org": "delivered"}),
    ("greylisted, retry window still open", [leg()], [greylisted("bob@example.org")], [], 600,
     "deferred", {"bob@example.org": "deferred"}),
    ("greylisted, never retried", [leg()], [greylisted("bob@example.org")], [], REFUSAL_RETRY_SECONDS + 1,
     "rejected", {"bob@example.org": "rejected"}),
    ("greylisted, never retried, Rspamd named two recipients", [leg()], [greylisted("bob@example.org")],
     [rspamd("soft reject", '["bob@example.org", "carol@example.org"]')], REFUSAL_RETRY_SECONDS + 1,
     "rejected", {"bob@example.org": "rejected", "carol@example.org": "rejected"}),
    ("queue deferral is not a refusal: stays deferred past the window", [leg()],
     [qmgr(), deferred("bob@x.test")], [], REFUSAL_RETRY_SECONDS * 3, "deferred", {"bob@x.test": "deferred"}),
    ("Rspamd reject", [leg()], [line("milter_reject", 1, recipient="bob@example.org", dsn="5.7.1",
                                     reply="Spam message rejected", sender="alice@example.net")],
     [rspamd("reject")], None, "rejected", {"bob@example.org": "rejected"}),
    ("content-filter hop: the last hop decides (deferred)", [leg(), leg("BBBB", 1, 60, client_ip="127.0.0.1")],
     [qmgr(), qmgr(1, queue="BBBB"), deferred("bob@example.org", 2, "BBBB"),
      sent("bob@example.org", 3, linked_queue_id="BBBB", relay="127.0.0.1[127.0.0.1]:10024")], [], None,
     "deferred", {"bob@example.org": "deferred"}),
    ("content-filter hop: the last hop decides (delivered)", [leg(), leg("BBBB", 1, 60, client_ip="127.0.0.1")],
     [qmgr(), sent("bob@example.org", 3, linked_queue_id="BBBB"), sent("bob@example.org", 4, "BBBB")], [], None,
     "delivered", {"bob@example.org": "delivered"}),
    ("content-filter hop without the next hop's lines waits", [leg(), leg("BBBB", 1, 60)],
     [qmgr(), sent("bob@example.org", 3, linked_queue_id="BBBB")], [], None, "pending", {"bob@example.org": "pending"}),
    ("probe result is no outcome", [leg()],
     [qmgr(sender="double-bounce@example.org"), line("delivery", 1, recipient="x@x.test", status="deliverable")],
     [], None, "pending", {}),
    ("unknown status word is no outcome", [leg()], [qmgr(), line("delivery", 1, recipient="x@x.test", status="odd")],
     [], None, "pending", {}),
    ("Rspamd only, no Postfix yet", [], [], [rspamd()], None, "pending", {"bob@example.org": "pending"}),
    ("non-delivery notice delivered", [leg(client_ip=None, sender="")],
     [qmgr(sender=""), line("delivery", 1, recipient="alice@example.org", status="sent", relay="local", dsn="2.0.0")],
     [], None, "delivered", {"alice@example.org": "delivered"}),
]


@pytest.mark.parametrize("name, legs, lines, rows, now, status, expected", CASES, ids=[c[0] for c in CASES])
def test_status_rules(name, legs, lines, rows, now, status, expected):
    facts = MessageFacts(1, legs=legs, lines=sorted(lines, key=lambda x: (x["time"], x["id"])), rspamd=rows)
    result = compute_message(facts, LOCAL, classify, None, None if now is None else T + now)
    assert result.final_status == status
    assert {o.recipient: o.status for o in result.outcomes} == expected
    assert {o.status for o in result.outcomes} <= set(RECIPIENT_STATUSES)


def test_reject_reason_is_kept_for_a_refusal_and_dropped_once_delivered():
    refused = compute_message(MessageFacts(1, lines=[noqueue("b@x.test", "5.1.1")]), LOCAL, classify)
    assert refused.reject_reason == "Recipient address rejected"
    retried = compute_message(MessageFacts(1, legs=[leg(), leg("BBBB", 600, 700)],
                                           lines=[greylisted("b@example.org"), qmgr(600, queue="BBBB"),
                                                  sent("b@example.org", 601, "BBBB")]), LOCAL, classify)
    assert (retried.final_status, retried.reject_reason) == ("delivered", None)


def test_local_submission_sender_is_the_qmgr_one_and_the_direction_outbound():
    facts = MessageFacts(1, legs=[leg(client_ip=None, sender="root")],
                         lines=[line("pickup", 0, sender="root", program="postfix/pickup"),
                                qmgr(0, sender="reports@example.org"), sent("admin@remote.test")])
    result = compute_message(facts, LOCAL, classify)
    assert (result.sender, result.direction, result.final_status) == ("reports@example.org", "outbound", "delivered")


def test_multi_leg_message_lists_every_queue_id_and_the_first():
    facts = MessageFacts(1, legs=[leg(), leg("BBBB", 600, 700, role="retry")],
                         lines=[greylisted("b@example.org"), qmgr(600, queue="BBBB"), sent("b@example.org", 601, "BBBB")])
    result = compute_message(facts, LOCAL, classify)
    assert (result.queue_id, result.queue_ids, result.first_seen, result.last_seen) == ("AAAA", "AAAA BBBB", T, T + 700)
    assert result.outcomes[0].attempts == 2
