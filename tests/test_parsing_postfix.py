"""Postfix message parser: spec line shapes (mailcow-api.md 7.3), real corpora, fuzz."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcow_logs_viewer.parsing.postfix import KINDS, PostfixEvent, is_queue_id, parse_postfix
from mailcow_logs_viewer.parsing.syslog import is_postfix_program, parse_syslog_line

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REALMAIL = CORPUS / "realmail-sample"
LIGHTMETER = CORPUS / "lightmeter-controlcenter"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    return path


# --------------------------------------------------------------------------- spec 7.3
SPEC_CASES = [
    ("postfix/master", "daemon started -- version 3.10.12, configuration /opt/postfix/conf",
     dict(kind="other", queue_id=None)),
    ("postfix/postscreen", "CONNECT from [209.85.221.47]:45872 to [172.22.1.253]:25",
     dict(kind="other", client_ip="209.85.221.47", client_host=None)),
    ("postfix/postscreen", "PASS OLD [209.85.221.47]:45872",
     dict(kind="other", client_ip="209.85.221.47")),
    ("postfix/smtpd", "connect from mail-wr1-f47.google.com[209.85.221.47]",
     dict(kind="other", client_host="mail-wr1-f47.google.com", client_ip="209.85.221.47")),
    ("postfix/smtpd", "Anonymous TLS connection established from mail-wr1-f47.google.com[209.85.221.47] to mail.example.org: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
     dict(kind="other", client_ip="209.85.221.47")),
    ("postfix/smtpd", "3A9F21C0B7E: client=mail-wr1-f47.google.com[209.85.221.47]",
     dict(kind="client", queue_id="3A9F21C0B7E", client_host="mail-wr1-f47.google.com",
          client_ip="209.85.221.47", sasl_method=None, sasl_username=None)),
    ("postfix/cleanup", "3A9F21C0B7E: message-id=<CAJx8fK2p0q@mail.gmail.com>",
     dict(kind="message_id", queue_id="3A9F21C0B7E", message_id="<CAJx8fK2p0q@mail.gmail.com>")),
    ("postfix/qmgr", "3A9F21C0B7E: from=<alice@gmail.com>, size=6021, nrcpt=1 (queue active)",
     dict(kind="qmgr_from", queue_id="3A9F21C0B7E", sender="alice@gmail.com", size=6021, nrcpt=1)),
    ("postfix/smtpd", "disconnect from mail-wr1-f47.google.com[209.85.221.47] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
     dict(kind="other", client_ip="209.85.221.47")),
    ("postfix/lmtp", "3A9F21C0B7E: to=<john@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.64, delays=0.52/0.01/0.01/0.1, dsn=2.0.0, status=sent (250 2.0.0 <john@example.org> kFQRBHXaE2bXKgAAuWqj6A Saved)",
     dict(kind="delivery", queue_id="3A9F21C0B7E", recipient="john@example.org", orig_to=None,
          relay="dovecot[172.22.1.250]:24", delay=0.64, delays="0.52/0.01/0.01/0.1", dsn="2.0.0",
          status="sent", reply="250 2.0.0 <john@example.org> kFQRBHXaE2bXKgAAuWqj6A Saved",
          message_id=None, linked_queue_id=None)),
    ("postfix/qmgr", "3A9F21C0B7E: removed", dict(kind="removed", queue_id="3A9F21C0B7E")),
    ("postfix/lmtp", "4B0A31C1C8F: to=<jane@example.org>, orig_to=<info@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.31, delays=0.22/0/0.01/0.08, dsn=2.0.0, status=sent (250 2.0.0 <jane@example.org> mNq2BXPaE2bYKgAAuWqj6A Saved)",
     dict(kind="delivery", recipient="jane@example.org", orig_to="info@example.org", status="sent")),
    ("postfix/submission/smtpd", "connect from unknown[198.51.100.77]",
     dict(kind="other", client_host="unknown", client_ip="198.51.100.77")),
    ("postfix/submission/smtpd", "8B4C21A0F3D: client=unknown[198.51.100.77], sasl_method=LOGIN, sasl_username=john@example.org",
     dict(kind="client", queue_id="8B4C21A0F3D", client_host="unknown", client_ip="198.51.100.77",
          sasl_method="LOGIN", sasl_username="john@example.org")),
    ("postfix/cleanup", "8B4C21A0F3D: message-id=<5f1c2e7a-0b3d-4f7e-9a1c-2d8e6b7a9c01@example.org>",
     dict(kind="message_id", message_id="<5f1c2e7a-0b3d-4f7e-9a1c-2d8e6b7a9c01@example.org>")),
    ("postfix/qmgr", "8B4C21A0F3D: from=<john@example.org>, size=18342, nrcpt=2 (queue active)",
     dict(kind="qmgr_from", sender="john@example.org", size=18342, nrcpt=2)),
    ("postfix/smtp", "Trusted TLS connection established to gmail-smtp-in.l.google.com[142.250.102.27]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256",
     dict(kind="other", client_ip=None, queue_id=None)),
    ("postfix/smtp", "8B4C21A0F3D: to=<a.user@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.3, delays=0.21/0.01/0.42/0.66, dsn=2.0.0, status=sent (250 2.0.0 OK  1775637301 a640c23a62f3a-a5215ab1c2esi771298266b.402 - gsmtp)",
     dict(kind="delivery", status="sent", relay="gmail-smtp-in.l.google.com[142.250.102.27]:25",
          delay=1.3, linked_queue_id=None)),
    ("postfix/smtp", "8B4C21A0F3D: to=<b.user@corp-example.com>, relay=smtp.relay-example.net[198.51.100.20]:587, delay=1.9, delays=0.21/0.02/0.87/0.8, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4fKq1r0Zb5z9tQx)",
     dict(kind="delivery", status="sent", linked_queue_id="4fKq1r0Zb5z9tQx",
          reply="250 2.0.0 Ok: queued as 4fKq1r0Zb5z9tQx")),
    ("postfix/submission/smtpd", "disconnect from unknown[198.51.100.77] ehlo=2 starttls=1 auth=1 mail=1 rcpt=2 data=1 quit=1 commands=9",
     dict(kind="other", client_ip="198.51.100.77")),
    ("postfix/smtp", "3C9E51A0B4D: to=<bob@unreachable-example.net>, relay=none, delay=30, delays=0.04/0.01/30/0, dsn=4.4.1, status=deferred (connect to mx.unreachable-example.net[203.0.113.80]:25: Connection timed out)",
     dict(kind="delivery", relay="none", delay=30.0, dsn="4.4.1", status="deferred",
          reply="connect to mx.unreachable-example.net[203.0.113.80]:25: Connection timed out")),
    ("postfix/smtp", "5E8F01A2B3C: to=<nobody@partner-example.com>, relay=mx.partner-example.com[203.0.113.25]:25, delay=0.93, delays=0.1/0.01/0.38/0.44, dsn=5.1.1, status=bounced (host mx.partner-example.com[203.0.113.25] said: 550 5.1.1 <nobody@partner-example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
     dict(kind="delivery", status="bounced", dsn="5.1.1", message_id=None, recipient="nobody@partner-example.com",
          reply="host mx.partner-example.com[203.0.113.25] said: 550 5.1.1 <nobody@partner-example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)")),
    ("postfix/cleanup", "6F9A02B3C4D: message-id=<20260408103312.6F9A02B3C4D@mail.example.org>",
     dict(kind="message_id", queue_id="6F9A02B3C4D", message_id="<20260408103312.6F9A02B3C4D@mail.example.org>")),
    ("postfix/bounce", "5E8F01A2B3C: sender non-delivery notification: 6F9A02B3C4D",
     dict(kind="bounce_notice", queue_id="5E8F01A2B3C", linked_queue_id="6F9A02B3C4D", notice_kind="non-delivery")),
    ("postfix/qmgr", "6F9A02B3C4D: from=<>, size=4811, nrcpt=1 (queue active)",
     dict(kind="qmgr_from", sender="", size=4811, nrcpt=1)),
    ("postfix/smtpd", "NOQUEUE: reject: RCPT from mail.sender-example.net[203.0.113.9]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<news@sender-example.net> to=<nobody@example.org> proto=ESMTP helo=<mail.sender-example.net>",
     dict(kind="noqueue_reject", queue_id=None, stage="RCPT", client_host="mail.sender-example.net",
          client_ip="203.0.113.9", reject_code="550", dsn="5.1.1",
          reply="<nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
          sender="news@sender-example.net", recipient="nobody@example.org", proto="ESMTP",
          helo="mail.sender-example.net", message_id=None)),
    ("postfix/smtpd", "NOQUEUE: reject: RCPT from unknown[185.220.101.33]: 454 4.7.1 <victim@gmail.com>: Relay access denied; from=<spoof@example.org> to=<victim@gmail.com> proto=ESMTP helo=<WIN-8K2L0Q1V3N2>",
     dict(kind="noqueue_reject", reject_code="454", dsn="4.7.1", reply="<victim@gmail.com>: Relay access denied",
          sender="spoof@example.org", recipient="victim@gmail.com", helo="WIN-8K2L0Q1V3N2", client_host="unknown")),
    ("postfix/smtpd", "NOQUEUE: reject: RCPT from unknown[80.94.95.181]: 554 5.7.1 Service unavailable; Client host [80.94.95.181] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/80.94.95.181; from=<x@bulk-example.biz> to=<john@example.org> proto=ESMTP helo=<bulk-example.biz>",
     dict(kind="noqueue_reject", reject_code="554", dsn="5.7.1",
          reply="Service unavailable; Client host [80.94.95.181] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/80.94.95.181",
          sender="x@bulk-example.biz", recipient="john@example.org", helo="bulk-example.biz")),
    ("postfix/submission/smtpd", "NOQUEUE: reject: RCPT from unknown[198.51.100.77]: 553 5.7.1 <ceo@example.org>: Sender address rejected: not owned by user john@example.org; from=<ceo@example.org> to=<a.user@gmail.com> proto=ESMTP helo=<[192.168.1.20]>",
     dict(kind="noqueue_reject", reject_code="553", sender="ceo@example.org", recipient="a.user@gmail.com",
          helo="[192.168.1.20]", reply="<ceo@example.org>: Sender address rejected: not owned by user john@example.org")),
    ("postfix/smtps/smtpd", "warning: unknown[185.222.58.14]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin@example.org",
     dict(kind="sasl_failure", client_host="unknown", client_ip="185.222.58.14", sasl_method="LOGIN",
          sasl_username="admin@example.org", reply="(reason unavailable)")),
    ("postfix/smtps/smtpd", "lost connection after AUTH from unknown[185.222.58.14]",
     dict(kind="other", client_ip="185.222.58.14")),
    ("postfix/smtps/smtpd", "disconnect from unknown[185.222.58.14] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/4",
     dict(kind="other", client_ip="185.222.58.14")),
    ("postfix/smtpd", "warning: non-SMTP command from unknown[45.148.10.92]: GET / HTTP/1.1",
     dict(kind="other", client_ip="45.148.10.92")),
    ("postfix/smtpd", "warning: hostname static-203-0-113-150.isp-example.net does not resolve to address 203.0.113.150: Name or service not known",
     dict(kind="other")),
    ("postfix/dnsblog", "addr 80.94.95.181 listed by domain zen.spamhaus.org as 127.0.0.4", dict(kind="other")),
    ("postfix/postscreen", "DNSBL rank 6 for [80.94.95.181]:51234", dict(kind="other", client_ip="80.94.95.181")),
    ("postfix/postscreen", "PREGREET 11 after 0.09 from [80.94.95.181]:51234: EHLO User\\r\\n",
     dict(kind="other", client_ip="80.94.95.181")),
    ("postfix/postscreen", "NOQUEUE: reject: RCPT from [80.94.95.181]:51234: 550 5.7.1 Service unavailable; client [80.94.95.181] blocked using zen.spamhaus.org; from=<x@bulk-example.biz>, to=<john@example.org>, proto=ESMTP, helo=<User>",
     dict(kind="noqueue_reject", queue_id=None, stage="RCPT", client_host=None, client_ip="80.94.95.181",
          reject_code="550", dsn="5.7.1",
          reply="Service unavailable; client [80.94.95.181] blocked using zen.spamhaus.org",
          sender="x@bulk-example.biz", recipient="john@example.org", proto="ESMTP", helo="User")),
    ("postfix/postscreen", "DISCONNECT [80.94.95.181]:51234", dict(kind="other", client_ip="80.94.95.181")),
    ("postfix/postscreen", "NOQUEUE: reject: RCPT from [193.32.162.7]:40022: 550 5.5.1 Protocol error; from=<a@b.example>, to=<john@example.org>, proto=SMTP, helo=<b.example>",
     dict(kind="noqueue_reject", client_ip="193.32.162.7", reject_code="550", dsn="5.5.1", reply="Protocol error",
          sender="a@b.example", recipient="john@example.org", proto="SMTP", helo="b.example")),
    ("postfix/postscreen", "HANGUP after 0.52 from [141.98.11.20]:60712 in tests after SMTP handshake",
     dict(kind="other", client_ip="141.98.11.20")),
    ("postfix/postscreen", "PASS NEW [40.107.22.91]:19340", dict(kind="other", client_ip="40.107.22.91")),
    ("postfix/postscreen", "ALLOWLISTED [172.22.1.248]:43110", dict(kind="other", client_ip="172.22.1.248")),
    ("postfix/cleanup", "7C1D21A0B5E: milter-reject: END-OF-MESSAGE from unknown[185.234.216.12]: 5.7.1 This message does not meet our delivery requirements; from=<promo@shady-deals.example> to=<john@example.org> proto=ESMTP helo=<mail.shady-deals.example>",
     dict(kind="milter_reject", queue_id="7C1D21A0B5E", stage="END-OF-MESSAGE", client_ip="185.234.216.12",
          reject_code=None, dsn="5.7.1", reply="This message does not meet our delivery requirements",
          sender="promo@shady-deals.example", recipient="john@example.org", helo="mail.shady-deals.example")),
    ("postfix/cleanup", "9E3A41B2C6D: milter-reject: END-OF-MESSAGE from mx.newsletter-example.com[198.51.100.61]: 4.7.1 Greylisted, please try again later; from=<bounce@newsletter-example.com> to=<jane@example.org> proto=ESMTP helo=<mx.newsletter-example.com>",
     dict(kind="milter_reject", dsn="4.7.1", reply="Greylisted, please try again later",
          client_host="mx.newsletter-example.com", sender="bounce@newsletter-example.com")),
    ("postfix/pickup", "2D6E11A0A1B: uid=0 from=<root>",
     dict(kind="pickup", queue_id="2D6E11A0A1B", uid=0, sender="root")),
    ("postfix/anvil", "statistics: max connection rate 3/60s for (smtps:185.222.58.14) at Apr  8 10:12:33",
     dict(kind="other", queue_id=None)),
    ("postfix/anvil", "statistics: max connection count 2 for (smtp:209.85.221.47) at Apr  8 10:05:19",
     dict(kind="other", queue_id=None)),
    ("postfix/anvil", "statistics: max cache size 4 at Apr  8 10:12:33", dict(kind="other", queue_id=None)),
    ("postfix/qmgr", "3C9E51A0B4D: from=<john@example.org>, status=expired, returned to sender",
     dict(kind="expired", queue_id="3C9E51A0B4D", status="expired", sender="john@example.org")),
]

EXTRA_CASES = [
    # long queue ids
    ("postfix/cleanup", "4PcV4C4sMlz3tBr: message-id=<x@y>",
     dict(kind="message_id", queue_id="4PcV4C4sMlz3tBr", message_id="<x@y>")),
    # message-id without brackets is kept as logged; '<>' is no message id
    ("postfix/cleanup", "ABCDEF123: message-id=abc@host", dict(kind="message_id", message_id="abc@host")),
    ("postfix/cleanup", "ABCDEF123: message-id=<>", dict(kind="message_id", message_id=None)),
    # old SASL form, PLAIN
    ("postfix/submission/smtpd", "warning: unknown[185.222.58.14]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
     dict(kind="sasl_failure", sasl_method="LOGIN", sasl_username=None, client_ip="185.222.58.14")),
    ("postfix/submission/smtpd", "warning: unknown[127.0.0.1]: SASL PLAIN authentication failed: authentication failure, sasl_username=fiona@example.org",
     dict(kind="sasl_failure", sasl_method="PLAIN", sasl_username="fiona@example.org")),
    ("postfix/submission/smtpd", "warning: unknown[2001:db8::5]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=(unavailable)",
     dict(kind="sasl_failure", client_ip="2001:db8::5", sasl_username=None)),
    # client with orig_queue_id (content filter re-injection)
    ("postfix/smtpd", "ED01244770: client=localhost[127.0.0.1], orig_queue_id=4F5C64474F, orig_client=unknown[28.55.140.112]",
     # a pre-queue proxy / re-injection: the mail's client is the original one (PITFALLS 29)
     dict(kind="client", client_host="unknown", client_ip="28.55.140.112", sasl_username=None)),
    ("postfix/smtpd", "ED01244770: client=unknown[2001:db8::1]:4711, sasl_method=PLAIN, sasl_username=u@x, orig_queue_id=4F5C64474F",
     dict(kind="client", client_ip="2001:db8::1", sasl_method="PLAIN", sasl_username="u@x")),
    # delivery with conn_use and amavis re-injection
    ("postfix-170.55.103.23/smtp", "BABABABABA: to=<a@b.c>, relay=mx.b.c[1.2.3.4]:25, conn_use=2, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4C3AE1F4)",
     dict(kind="delivery", queue_id="BABABABABA", relay="mx.b.c[1.2.3.4]:25", delay=0.5, linked_queue_id="4C3AE1F4")),
    # local delivery without brackets
    ("postfix/local", "2A22C263F6: to=user@hostname.example.com, orig_to=root@localhost, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to command: procmail -a \"$EXTENSION\")",
     dict(kind="delivery", recipient="user@hostname.example.com", orig_to="root@localhost", relay="local")),
    # delivery status = expired on a delivery line
    ("postfix/smtp", "5EDB7220320: to=<a@dead.test>, relay=none, delay=240, delays=240/0/0/0, dsn=4.4.1, status=expired (connect to dead.test[192.0.2.1]:25: Connection refused)",
     dict(kind="delivery", status="expired", delay=240.0)),
    # queued reject (per recipient, with queue id)
    ("postfix/smtpd", "8DEA8220164: reject: RCPT from mail.sender.test[203.0.113.5]: 550 5.1.1 <nobody.here@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<kai.brandt@sender.test> to=<nobody.here@example.org> proto=ESMTP helo=<mail.sender.test>",
     dict(kind="reject", queue_id="8DEA8220164", stage="RCPT", reject_code="550", dsn="5.1.1",
          recipient="nobody.here@example.org", sender="kai.brandt@sender.test")),
    ("postfix/bounce", "2FFBA220387: sender delay notification: E347222001B",
     dict(kind="bounce_notice", notice_kind="delay", linked_queue_id="E347222001B")),
    ("postfix/bounce", "65AFB8B5: sender delivery status notification: 1DF35917",
     dict(kind="bounce_notice", notice_kind="success", linked_queue_id="1DF35917")),
    ("postfix/smtpd", "NOQUEUE: filter: RCPT from unknown[11.22.33.44]: <s@x>: Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10026; from=<s@x> to=<r@y> proto=ESMTP helo=<h>",
     dict(kind="other", queue_id=None)),
    ("postfix/smtpd", "NOQUEUE: reject: VRFY from unknown[2001:968:9999:20:88b:9b7d:2a54:2bd2]: 454 4.7.1 <aap@henk.com>: Relay access denied; to=<aap@henk.com> proto=SMTP helo=<me>",
     dict(kind="noqueue_reject", stage="VRFY", client_ip="2001:968:9999:20:88b:9b7d:2a54:2bd2",
          sender=None, recipient="aap@henk.com", reject_code="454")),
    ("postfix/postscreen", "NOQUEUE: reject: CONNECT from [1.2.3.4]:1337: too many connections",
     dict(kind="noqueue_reject", stage="CONNECT", client_ip="1.2.3.4", reply="too many connections",
          reject_code=None)),
    ("postfix/smtp", "ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected (in reply to RCPT TO command)",
     dict(kind="other", queue_id="ED59C3D", message_id=None)),
    ("postfix/cleanup", "warning: 9BECF3F19D: sender_canonical_maps map lookup problem for sender@example.com",
     dict(kind="other", queue_id="9BECF3F19D")),
]


def _check(ev: PostfixEvent, expected: dict) -> None:
    assert isinstance(ev, PostfixEvent)
    assert ev.kind in KINDS
    for key, val in expected.items():
        assert getattr(ev, key) == val, f"{key}: {getattr(ev, key)!r} != {val!r}"


@pytest.mark.parametrize("program,message,expected", SPEC_CASES + EXTRA_CASES,
                         ids=[f"{i}-{c[1][:40]}" for i, c in enumerate(SPEC_CASES + EXTRA_CASES)])
def test_line_shapes(program, message, expected):
    _check(parse_postfix(program, message), expected)


def test_queue_id_helper():
    assert is_queue_id("3A9F21C0B7E")
    assert is_queue_id("4PcV4C4sMlz3tBr")
    assert not is_queue_id("NOQUEUE")
    assert not is_queue_id("statistics")


# --------------------------------------------------------------------------- corpora
def _postfix_lines(path: Path, year: int = 2021):
    with path.open(encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            s = parse_syslog_line(raw, year)
            if s is not None and is_postfix_program(s.program):
                yield s


def _lightmeter_files() -> list[Path]:
    need(LIGHTMETER)
    files = sorted((LIGHTMETER / "individual_files").glob("*.log"))
    files += sorted((LIGHTMETER / "complete_tar_extracted" / "logs_sample").glob("mail.*"))
    return files


def test_lightmeter_corpus_parses():
    counts = collections.Counter()
    n = 0
    for f in _lightmeter_files():
        for s in _postfix_lines(f):
            ev = parse_postfix(s.program, s.message)
            assert ev.kind in KINDS
            n += 1
            counts[ev.kind] += 1
            if ev.kind == "delivery":
                counts["status:" + str(ev.status)] += 1
                assert ev.recipient and ev.queue_id and ev.status
            if ev.message_id is not None:
                assert ev.kind == "message_id"
    assert n > 5000
    # provenance 1b + 1a: 4+1 queued 'reject:' lines + 3 milter-reject, 1,271+1 SASL failures
    assert counts["reject"] == 4
    assert counts["milter_reject"] == 3
    assert counts["sasl_failure"] == 1272
    assert counts["status:deferred"] == 6
    assert counts["expired"] == 1
    assert counts["bounce_notice"] >= 6


def test_lightmeter_expired_file():
    f = need(LIGHTMETER / "individual_files" / "18_expired.log")
    evs = [parse_postfix(s.program, s.message) for s in _postfix_lines(f)]
    deferred = [e for e in evs if e.kind == "delivery" and e.status == "deferred"]
    assert len(deferred) == 5 and all(e.dsn == "4.1.1" for e in deferred)
    exp = [e for e in evs if e.kind == "expired"]
    assert len(exp) == 1 and exp[0].status == "expired" and exp[0].queue_id == "23EBE3D5C0"
    ndr = [e for e in evs if e.kind == "bounce_notice"]
    assert [(e.queue_id, e.linked_queue_id, e.notice_kind) for e in ndr] == [
        ("23EBE3D5C0", "A7E673C067", "non-delivery")]


def _realmail_events():
    f = need(REALMAIL / "postfix.log")
    return [(s, parse_postfix(s.program, s.message)) for s in _postfix_lines(f, 2025)]


def test_realmail_counts_match_summary():
    summary = json.loads(need(REALMAIL / "summary.json").read_text())
    evs = _realmail_events()
    assert len(evs) == summary["postfix_lines"]
    status = collections.Counter()
    kinds = collections.Counter(e.kind for _, e in evs)
    for _, e in evs:
        if e.kind in ("delivery", "expired"):
            status[e.status] += 1
    # summary's 'expired' comes from qmgr 'status=expired, returned to sender' lines
    assert dict(status) == summary["delivery_status"]
    assert status == {"sent": 83, "deferred": 50, "bounced": 2, "expired": 2}
    assert kinds["expired"] == summary["expired"] == 2
    assert kinds["milter_reject"] == sum(summary["milter_reject"].values()) == 13
    assert kinds["noqueue_reject"] == sum(summary["noqueue_reject"].values()) == 5
    assert kinds["reject"] == summary["queued_reject"] == 1
    assert kinds["sasl_failure"] == summary["sasl_failures"] == 6
    notices = collections.Counter(e.notice_kind for _, e in evs if e.kind == "bounce_notice")
    assert dict(notices) == summary["bounce_notifications"]
    milter = collections.Counter(f"{e.dsn} {e.reply}" for _, e in evs if e.kind == "milter_reject")
    assert dict(milter) == summary["milter_reject"]
    noq = collections.Counter(f"{e.reject_code} {e.dsn}" for _, e in evs if e.kind == "noqueue_reject")
    assert dict(noq) == summary["noqueue_reject"]


def test_realmail_trace_matches_parsed_deliveries():
    """trace.jsonl joins each transaction to its queue id and delivery lines: our parse of
    postfix.log must give the same recipients/statuses and the same message-id per queue id."""
    trace_path = need(REALMAIL / "trace.jsonl")
    evs = _realmail_events()
    deliveries = collections.defaultdict(collections.Counter)
    mid_of = {}
    for _, e in evs:
        if e.kind == "delivery":
            deliveries[e.queue_id][(e.recipient, e.status, e.dsn)] += 1
        elif e.kind == "message_id":
            mid_of[e.queue_id] = e.message_id
    checked = 0
    for line in trace_path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        qid = rec.get("queue_id")
        if not qid:
            continue
        expected = collections.Counter()
        for d in rec.get("deliveries") or []:
            e = parse_postfix("postfix/smtp", f"{qid}: {d}")
            assert e.kind == "delivery", d
            expected[(e.recipient, e.status, e.dsn)] += 1
        assert deliveries[qid] == expected, qid
        if rec.get("message_id"):
            assert mid_of.get(qid) == rec["message_id"], qid
        checked += 1
    assert checked > 30


def test_bounce_reply_address_is_never_a_message_id():
    for _, e in _realmail_events():
        if e.kind != "message_id":
            assert e.message_id is None
    e = parse_postfix("postfix/smtp", "5E8F01A2B3C: to=<x@y.z>, relay=mx[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx[1.2.3.4] said: 550 5.1.1 <x@y.z>: message-id=<evil@x> unknown (in reply to RCPT TO command))")
    assert e.kind == "delivery" and e.message_id is None and e.status == "bounced"


def test_other_exports_roundtrip_fields():
    """Other corpora (fail2ban, sshguard-free exporters) parse without surprises."""
    paths = [CORPUS / "digineo-postfix_exporter" / "testdata" / "mail.log",
             CORPUS / "sergeymakinen-postfix_exporter" / "exporter" / "testdata" / "mail.log",
             CORPUS / "youyo-postfix-log-parser" / "test" / "test.log",
             CORPUS / "youyo-postfix-log-parser" / "test" / "test-iso8601.log"]
    seen = 0
    for p in paths:
        if not p.exists():
            continue
        for s in _postfix_lines(p):
            ev = parse_postfix(s.program, s.message)
            assert ev.kind in KINDS
            seen += 1
    if not seen:
        pytest.skip("no extra corpora")


def test_fail2ban_postfix_hosts():
    """fail2ban's failJSON gives the offending host of each line: our client_ip agrees
    for every reject / SASL failure / connection-level line where we extract one."""
    p = need(CORPUS / "fail2ban" / "tests" / "files" / "logs" / "postfix")
    meta = None
    checked = 0
    kinds = collections.Counter()
    for line in p.read_text(errors="replace").splitlines():
        if line.startswith("# failJSON:"):
            meta = json.loads(line.split(":", 1)[1])
            continue
        if not line.strip() or line.startswith("#"):
            continue
        s = parse_syslog_line(line, 2005)
        if s is None or meta is None:
            continue
        ev = parse_postfix(s.program, s.message)
        kinds[ev.kind] += 1
        if meta.get("match") and meta.get("host") and ev.client_ip is not None:
            assert ev.client_ip == meta["host"], line
            checked += 1
        if "authentication failed" in s.message and "SASL" in s.message:
            assert ev.kind == "sasl_failure" and ev.sasl_method == ev.sasl_method.upper(), line
        meta = None
    assert checked > 50
    assert kinds["sasl_failure"] >= 14 and kinds["noqueue_reject"] >= 20


# --------------------------------------------------------------------------- fuzz
@settings(max_examples=2000, deadline=None)
@given(st.text(), st.text(max_size=30))
def test_fuzz_never_raises(message, program):
    ev = parse_postfix(program, message)
    assert ev.kind in KINDS


_PREFIXES = ["", "3A9F21C0B7E: ", "NOQUEUE: ", "4PcV4C4sMlz3tBr: ", "warning: "]
_KEYWORDS = ["to=", "from=", "message-id=", "client=", "removed", "reject: ", "milter-reject: ",
             "sender non-delivery notification: ", "uid=", "status=", "relay=", "queued as ",
             "SASL LOGIN authentication failed: ", "unknown[", "[1.2.3.4]:25", "; from=", "<", ">",
             "(", ")", ", ", " ", "sasl_username=", "RCPT from ", "x[::1]: "]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PREFIXES + _KEYWORDS) | st.text(max_size=5), max_size=12))
def test_fuzz_keyword_soup(parts):
    ev = parse_postfix("postfix/smtpd", "".join(parts))
    assert ev.kind in KINDS


def _real_messages() -> list[str]:
    p = REALMAIL / "postfix.log"
    if not p.exists():
        return ["3A9F21C0B7E: to=<john@example.org>, relay=none, delay=1, status=sent (x)"]
    return [s.message for s in _postfix_lines(p, 2025)]


_REAL = _real_messages()


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_REAL), st.integers(min_value=0, max_value=400),
       st.integers(min_value=0, max_value=400), st.text(max_size=8))
def test_fuzz_mutated_real_lines(msg, a, b, junk):
    lo, hi = sorted((a % (len(msg) + 1), b % (len(msg) + 1)))
    for m in (msg[:lo] + junk + msg[hi:], msg[:lo], msg[lo:], msg[:lo] + msg[hi:]):
        ev = parse_postfix("postfix/smtpd", m)
        assert ev.kind in KINDS
