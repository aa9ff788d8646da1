"""Correlation across fetches: lines of one message arrive in different fetch cycles, statuses
change over time, Rspamd rows come before or long after their Postfix lines."""
from __future__ import annotations

import time

import pytest

from mailcow_logs_viewer.correlate import Correlator, correlation_key
from mailcow_logs_viewer.log_rows import POSTFIX, RSPAMD, insert_rows, postfix_row, rspamd_row
from mailcow_logs_viewer.models import Leg, LocalDomain, Message, Recipient, RspamdRow

T0 = int(time.time()) - 3600
NOW = T0 + 3600     # the lines' clock: the suite may reach this module many minutes after importing it
MID = "<late-1@example.net>"


def _postfix(lines: list[tuple[int, str, str]]) -> None:
    """Store (offset, program, message) lines the way a fetch does."""
    rows = [postfix_row({"time": str(T0 + offset), "priority": "info", "program": program, "message": message}, 0, T0)
            for offset, program, message in lines]
    insert_rows(POSTFIX, rows, "mx")


def _rspamd(offset: int, message_id: str, action: str = "no action", rcpt=("bob@example.org",)) -> None:
    row = {"unix_time": T0 + offset, "message-id": message_id, "subject": "Hello", "score": 1.5,
           "required_score": 15, "action": action, "symbols": {}, "ip": "203.0.113.9", "user": "unknown",
           "sender_smtp": "alice@example.net", "sender_mime": "alice@example.net", "rcpt_smtp": list(rcpt),
           "rcpt_mime": list(rcpt), "size": 1200}
    insert_rows(RSPAMD, [rspamd_row(row, 0, T0, frozenset({"example.org"}))], "mx")


def _message() -> Message:
    return Message.get(Message.correlation_key == correlation_key("msgid", MID))


@pytest.fixture
def db(app):
    LocalDomain.create(domain="example.org", kind="domain", updated_at=T0)
    return Correlator(max_age_minutes=10, clock=lambda: NOW)


def test_a_message_split_over_fetches_is_one_message_and_its_status_follows_the_lines(db):
    _postfix([(0, "postfix/smtpd", "AAAA111111: client=mx.example.net[203.0.113.9]")])
    db.run()
    assert Message.select().count() == 0           # a queue id with nothing but client= is not yet a message
    _postfix([(1, "postfix/cleanup", f"AAAA111111: message-id={MID}"),
              (1, "postfix/qmgr", "AAAA111111: from=<alice@example.net>, size=1200, nrcpt=1 (queue active)"),
              (2, "postfix/smtp", "AAAA111111: to=<carol@remote.test>, relay=none, delay=30, delays=0/0/30/0, "
                                  "dsn=4.4.1, status=deferred (connect to mx.remote.test[198.51.100.7]:25: "
                                  "Connection timed out)")])
    db.run()
    message = _message()
    assert (message.final_status, message.is_complete, message.sender) == ("deferred", False, "alice@example.net")
    _postfix([(900, "postfix/smtp", "AAAA111111: to=<carol@remote.test>, relay=mx.remote.test[198.51.100.7]:25, "
                                    "delay=900, delays=870/0/0.3/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)"),
              (900, "postfix/qmgr", "AAAA111111: removed")])
    db.run()
    message = _message()
    assert (message.final_status, message.is_complete) == ("delivered", True)
    outcome = Recipient.get(Recipient.message_ref == message.id)
    assert (outcome.status, outcome.attempts, outcome.dsn) == ("delivered", 2, "2.0.0")
    assert Leg.select().count() == 1 and Leg.get().removed


def test_a_later_expiry_ends_a_deferral(db):
    _postfix([(0, "postfix/cleanup", f"BBBB222222: message-id={MID}"),
              (0, "postfix/qmgr", "BBBB222222: from=<alice@example.net>, size=10, nrcpt=1 (queue active)"),
              (5, "postfix/smtp", "BBBB222222: to=<carol@remote.test>, relay=none, delay=5, delays=0/0/5/0, "
                                  "dsn=4.4.1, status=deferred (connect to mx.remote.test[198.51.100.7]:25: refused)")])
    db.run()
    assert _message().final_status == "deferred"
    _postfix([(5 * 86400, "postfix/qmgr", "BBBB222222: from=<alice@example.net>, status=expired, returned to sender")])
    db.run()
    message = _message()
    assert (message.final_status, message.is_complete) == ("bounced", True)
    assert Recipient.get(Recipient.message_ref == message.id).status == "expired"


def test_rspamd_row_first_then_postfix_lines_link_to_the_same_message(db):
    _rspamd(0, MID.strip("<>"), "add header")
    db.run()
    message = _message()
    assert message.has_rspamd and not message.has_postfix and message.is_spam
    assert message.final_status == "pending"
    _postfix([(1, "postfix/cleanup", f"CCCC333333: message-id={MID}"),
              (1, "postfix/qmgr", "CCCC333333: from=<alice@example.net>, size=1200, nrcpt=1 (queue active)"),
              (2, "postfix/lmtp", "CCCC333333: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.2, "
                                  "delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> x Saved)")])
    db.run()
    assert Message.select().count() == 1
    message = _message()
    assert (message.final_status, message.is_spam, message.direction) == ("delivered", True, "inbound")
    assert message.subject == "Hello"


def test_rspamd_row_without_postfix_expires_and_still_links_later(db):
    _rspamd(3500, MID.strip("<>"))                      # scanned 100 s ago
    db.run()
    assert not _message().expired_unlinked
    later = Correlator(max_age_minutes=10, clock=lambda: NOW + 20 * 60)
    assert later.expire()["expired"] == 1
    assert _message().expired_unlinked
    _postfix([(3501, "postfix/cleanup", f"DDDD444444: message-id={MID}"),
              (3501, "postfix/qmgr", "DDDD444444: from=<alice@example.net>, size=1200, nrcpt=1 (queue active)")])
    later.run()
    message = _message()
    assert message.has_postfix and not message.expired_unlinked


def test_an_rspamd_row_without_message_id_joins_on_sender_recipient_and_time(db):
    _postfix([(0, "postfix/smtpd", "EEEE555555: client=mx.example.net[203.0.113.9]"),
              (0, "postfix/cleanup", "EEEE555555: message-id=<generated.EEEE555555@mail.example.org>"),
              (1, "postfix/qmgr", "EEEE555555: from=<alice@example.net>, size=1200, nrcpt=1 (queue active)"),
              (2, "postfix/lmtp", "EEEE555555: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.2, "
                                  "delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> x Saved)")])
    _rspamd(1, "undef", "add header")
    db.run()
    message = Message.get()
    assert message.has_rspamd and message.is_spam
    assert RspamdRow.get().message_ref == message.id


def test_keys_never_change_when_correlating_again(db):
    _postfix([(0, "postfix/pickup", "FFFF666666: uid=0 from=<root>"),
              (0, "postfix/qmgr", "FFFF666666: from=<root@mail.example.org>, size=300, nrcpt=1 (queue active)"),
              (1, "postfix/lmtp", "FFFF666666: to=<admin@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.1, "
                                  "delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Saved)")])
    db.run()
    keys = sorted(m.correlation_key for m in Message.select())
    assert keys == [correlation_key("queue", f"FFFF666666:{T0}")]
    db.rebuild()
    db.run()
    assert sorted(m.correlation_key for m in Message.select()) == keys
    assert Message.get().direction == "internal"          # generated by Postfix itself for a local mailbox
