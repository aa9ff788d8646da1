"""The mailbox stage: Dovecot's LMTP lines (real Dovecot 2.3 + Pigeonhole formats) linked to
Postfix's delivery lines and turned into each recipient's folder, discard, redirect, quota."""
from __future__ import annotations

import time

import pytest

from mailcow_logs_viewer.correlate import Correlator, correlation_key
from mailcow_logs_viewer.log_rows import DOVECOT, POSTFIX, dovecot_row, insert_rows, postfix_row
from mailcow_logs_viewer.models import DovecotLine, Leg, LocalDomain, Message, Recipient

T0 = int(time.time()) - 3600
RELAY = "relay=127.0.0.1[127.0.0.1]:2445, delay=0.02, delays=0/0/0/0.01"


def _postfix(lines) -> None:
    insert_rows(POSTFIX, [postfix_row({"time": str(T0 + o), "priority": "info", "program": p, "message": m}, 0, T0)
                          for o, p, m in lines], "mx")


def _dovecot(lines) -> None:
    insert_rows(DOVECOT, [dovecot_row({"time": str(T0 + o), "priority": "info", "program": "dovecot", "message": m},
                                      0, T0) for o, m in lines], "mx")


def _inbound(qid: str, msgid: str, sender: str, offset: int = 0) -> list:
    return [(offset, "postfix/smtpd", f"{qid}: client=mx.remote.test[198.51.100.9]"),
            (offset, "postfix/cleanup", f"{qid}: message-id={msgid}"),
            (offset, "postfix/qmgr", f"{qid}: from=<{sender}>, size=517, nrcpt=3 (queue active)")]


def _sent(qid: str, to: str, session: str, offset: int = 1, orig_to: str | None = None) -> tuple:
    orig = f" orig_to=<{orig_to}>," if orig_to else ""
    return (offset, "postfix/lmtp", f"{qid}: to=<{to}>,{orig} {RELAY}, dsn=2.0.0, "
                                    f"status=sent (250 2.0.0 <{to}> {session} Saved)")


def _outcomes(message: Message) -> dict[str, Recipient]:
    return {r.recipient: r for r in Recipient.select().where(Recipient.message_ref == message.id)}


def _by_msgid(msgid: str) -> Message:
    return Message.get(Message.correlation_key == correlation_key("msgid", msgid))


@pytest.fixture
def correlator(app):
    LocalDomain.create(domain="example.org", kind="domain", updated_at=T0)
    return Correlator(max_age_minutes=10, clock=lambda: T0 + 3600)   # the lines' now, not the wall clock


def test_one_message_three_recipients_inbox_discarded_over_quota_with_session_suffixes(correlator):
    msgid = "<179615450625.1400.9518211649747095105@remote.test>"
    _postfix(_inbound("3EBC2254047", msgid, "reports@remote.test") + [
        _sent("3EBC2254047", "mia@example.org", "EIJ8D4okD2uoBQAAg+zDdQ"),
        _sent("3EBC2254047", "noah@example.org", "EIJ8D4okD2uoBQAAg+zDdQ:R2"),
        (1, "postfix/lmtp", f"3EBC2254047: to=<piet@example.org>, {RELAY}, dsn=5.2.2, status=bounced (host "
                            "127.0.0.1[127.0.0.1] said: 552 5.2.2 <piet@example.org> Quota exceeded (mailbox for "
                            "user is full) (in reply to end of DATA command))"),
        (1, "postfix/qmgr", "3EBC2254047: removed")])
    session = "lmtp(%s)<1448><EIJ8D4okD2uoBQAAg+zDdQ%s>: "
    _dovecot([(0, session % ("mia@example.org", "") + f"sieve: msgid={msgid}: stored mail into mailbox 'INBOX'"),
              (0, session % ("noah@example.org", ":R2") + f"sieve: msgid={msgid}: discard action: Marked message "
                                                          "to be discarded if not explicitly delivered (discard action)"),
              (0, session % ("piet@example.org", ":R3") + f"sieve: msgid={msgid}: failed to store into mailbox "
                                                          "'INBOX': Quota exceeded (mailbox for user is full)"),
              (0, session % ("piet@example.org", ":R3") + "sieve: Execution of script /var/lib/dovecot/"
                                                          "global_sieve_after.sieve failed with unsuccessful implicit keep")])
    correlator.run()
    message = _by_msgid(msgid)
    got = {r: (o.status, o.folder, o.reason) for r, o in _outcomes(message).items()}
    assert got == {"mia@example.org": ("delivered", "INBOX", None),
                   "noah@example.org": ("discarded", None, None),
                   "piet@example.org": ("bounced", None, "mailbox full (over quota)")}
    assert message.final_status == "bounced"
    # Exact link first: the :R2 line went to noah, not to mia of the same session.
    noah = DovecotLine.get(DovecotLine.session == "EIJ8D4okD2uoBQAAg+zDdQ:R2")
    assert (noah.message_ref, noah.recipient) == (message.id, "noah@example.org")
    # The script failure without a msgid follows the linked line of its session.
    assert DovecotLine.select().where(DovecotLine.message_ref == message.id).count() == 4


def test_detail_and_alias_recipients_find_their_mailbox(correlator):
    detail, alias = "<detail-1@lists.test>", "<alias-1@far.test>"
    _postfix(_inbound("B6B24254022", detail, "news@lists.test") + _inbound("865D7254389", alias, "kim@far.test") + [
        _sent("B6B24254022", "mia+news@example.org", "iMziLIQkD2uoBQAAg+zDdQ"),
        _sent("865D7254389", "mia@example.org", "MMv8IH8kD2uoBQAAg+zDdQ", orig_to="team@example.org"),
        _sent("865D7254389", "noah@example.org", "MMv8IH8kD2uoBQAAg+zDdQ:R2", orig_to="team@example.org")])
    _dovecot([(0, f"lmtp(mia@example.org)<1448><iMziLIQkD2uoBQAAg+zDdQ>: sieve: msgid={detail}: fileinto action: "
                  "stored mail into mailbox 'Newsletters'"),
              (0, f"lmtp(mia@example.org)<1448><MMv8IH8kD2uoBQAAg+zDdQ>: msgid={alias}: saved mail to INBOX"),
              (0, f"lmtp(noah@example.org)<1448><MMv8IH8kD2uoBQAAg+zDdQ:R2>: sieve: msgid={alias}: fileinto action: "
                  "stored mail into mailbox 'Junk'")])
    correlator.run()
    assert {r: o.folder for r, o in _outcomes(_by_msgid(detail)).items()} == {"mia+news@example.org": "Newsletters"}
    got = {r: (o.folder, o.orig_to) for r, o in _outcomes(_by_msgid(alias)).items()}
    assert got == {"mia@example.org": ("INBOX", "team@example.org"), "noah@example.org": ("Junk", "team@example.org")}


def test_quota_refusal_without_session_links_by_message_id_and_detail_mailbox(correlator):
    msgid = "<quota-detail@remote.test>"
    _postfix(_inbound("28AB22543A6", msgid, "tom@remote.test") + [
        (1, "postfix/lmtp", f"28AB22543A6: to=<piet+x@example.org>, {RELAY}, dsn=5.2.2, status=bounced (host "
                            "127.0.0.1[127.0.0.1] said: 552 5.2.2 <piet+x@example.org> Quota exceeded (mailbox for "
                            "user is full) (in reply to end of DATA command))")])
    _dovecot([(0, f"lmtp(piet@example.org)<1448><UMADCoEkD2uoBQAAg+zDdQ>: sieve: msgid={msgid}: failed to store "
                  "into mailbox 'INBOX': Quota exceeded (mailbox for user is full)")])
    correlator.run()
    line = DovecotLine.get()
    assert (line.message_ref, line.recipient) == (_by_msgid(msgid).id, "piet+x@example.org")


@pytest.mark.parametrize("dovecot_first", [True, False])
def test_a_dovecot_line_fetched_before_or_after_its_postfix_lines(correlator, dovecot_first):
    msgid = "<order-1@shop.test>"
    postfix = _inbound("35E1B254376", msgid, "shop@shop.test") + [_sent("35E1B254376", "mia@example.org",
                                                                       "ACraGX0kD2uoBQAAg+zDdQ")]
    dovecot = [(0, f"lmtp(mia@example.org)<1448><ACraGX0kD2uoBQAAg+zDdQ>: sieve: msgid={msgid}: fileinto action: "
                   "stored mail into mailbox 'Junk'")]
    first, second = (_dovecot, _postfix) if dovecot_first else (_postfix, _dovecot)
    first(dovecot if dovecot_first else postfix)
    correlator.run()
    if not dovecot_first:
        assert _outcomes(_by_msgid(msgid))["mia@example.org"].folder is None   # Postfix alone: no mailbox step
    second(postfix if dovecot_first else dovecot)
    correlator.run()
    outcome = _outcomes(_by_msgid(msgid))["mia@example.org"]
    assert (outcome.status, outcome.folder) == ("delivered", "Junk")


def test_redirect_copy_logged_before_the_originals_sent_is_its_own_related_message(correlator):
    msgid = "<179615448756.1400.17947096701293646384@far.test>"
    _postfix(_inbound("8AC0025433E", msgid, "kim@far.test") + [
        (0, "postfix/smtpd", "9176C254343: client=unknown[127.0.0.1]"),
        (0, "postfix/cleanup", f"9176C254343: message-id={msgid}"),
        (0, "postfix/qmgr", "9176C254343: from=<olga@example.org>, size=989, nrcpt=1 (queue active)"),
        (0, "postfix/smtpd", "939EF254345: client=unknown[127.0.0.1]"),
        (0, "postfix/cleanup", "939EF254345: message-id=<dovecot-sieve-1796154487-600503-0@vm>"),
        (0, "postfix/qmgr", "939EF254345: from=<olga@example.org>, size=766, nrcpt=1 (queue active)")])
    correlator.run()          # the copy's first lines come before the original's `sent`
    _postfix([_sent("8AC0025433E", "olga@example.org", "oKYAInckD2uoBQAAg+zDdQ"),
              (1, "postfix/qmgr", "8AC0025433E: removed"),
              (1, "postfix/smtp", "9176C254343: to=<olga@remote.test>, relay=127.0.0.1[127.0.0.1]:4626, delay=0.03, "
                                  "delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 295BFF59A5)"),
              (1, "postfix/smtp", "939EF254345: to=<kim@far.test>, relay=127.0.0.1[127.0.0.1]:4626, delay=0.02, "
                                  "delays=0/0.01/0.01/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as D46BB8CFBB)")])
    session = "lmtp(olga@example.org)<1448><oKYAInckD2uoBQAAg+zDdQ>: "
    _dovecot([(0, session + f"sieve: msgid={msgid}: redirect action: forwarded to <olga@remote.test>"),
              (0, session + f"sieve: msgid={msgid}: vacation action: sent vacation response to <kim@far.test>")])
    correlator.run()
    original = _by_msgid(msgid)
    outcome = _outcomes(original)["olga@example.org"]
    assert (outcome.status, outcome.folder, outcome.redirected_to, outcome.auto_reply) == (
        "delivered", None, "olga@remote.test", "sent to kim@far.test")
    assert original.recipients == "olga@example.org" and original.queue_ids == "8AC0025433E"
    copy = Message.get_by_id(Leg.get(Leg.queue_id == "9176C254343").message_ref)
    reply = Message.get_by_id(Leg.get(Leg.queue_id == "939EF254345").message_ref)
    assert (copy.related_ref, copy.related_kind, copy.recipients) == (original.id, "redirect", "olga@remote.test")
    assert (reply.related_ref, reply.related_kind, reply.recipients) == (original.id, "auto_reply", "kim@far.test")
    assert copy.correlation_key == correlation_key("msgid", f"{msgid}\n9176C254343:{T0}")   # custody.derived_key
    # Recomputing keeps the split: the copy does not fall back into the original.
    correlator.rebuild()
    assert Message.get_by_id(copy.id).related_ref == original.id
    assert _by_msgid(msgid).queue_ids == "8AC0025433E"
