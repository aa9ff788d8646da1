"""The Dovecot parser on lines in exactly the formats real Dovecot 2.3 + Pigeonhole write (the
realmail-dovecot-sample corpus and mailcow-api.md 2.3); it never raises."""
from __future__ import annotations

import json

import pytest

from mailcow_logs_viewer.parsing.dovecot import parse_dovecot

from conftest import corpus_path

LMTP = "lmtp(alice@example.org)<15590><tw49M/0XD2vmPAAAg+zDdQ>: "
MSGID = "msgid=<1796.1400.5974@sender.test>"


@pytest.mark.parametrize("text, action, folder, target, detail", [
    (f"sieve: {MSGID}: stored mail into mailbox 'INBOX'", "stored", "INBOX", None, None),
    (f"{MSGID}: saved mail to INBOX", "stored", "INBOX", None, None),
    (f"sieve: {MSGID}: fileinto action: stored mail into mailbox 'Junk'", "fileinto", "Junk", None, None),
    (f"sieve: {MSGID}: fileinto action: stored mail into mailbox 'Bob''s mail'", "fileinto", "Bob's mail", None, None),
    (f"sieve: {MSGID}: discard action: Marked message to be discarded if not explicitly delivered (discard action)",
     "discard", None, None, None),
    (f"sieve: {MSGID}: redirect action: forwarded to <carol.external@remote.test>", "redirect", None,
     "carol.external@remote.test", None),
    (f"sieve: {MSGID}: vacation action: sent vacation response to <x@remote.test>", "vacation", None, "x@remote.test", None),
    (f"sieve: {MSGID}: vacation action: discarded duplicate vacation response to <x@remote.test>", "vacation_skipped",
     None, "x@remote.test", "already replied"),
    (f"sieve: {MSGID}: vacation action: discarding vacation response to auto-submitted message from <x@remote.test>",
     "vacation_skipped", None, "x@remote.test", "the message was automatic (Auto-Submitted)"),
    (f"sieve: {MSGID}: vacation action: discarding vacation response to mailinglist recipient <b@lists.test>",
     "vacation_skipped", None, "b@lists.test", "mailing list"),
    (f"sieve: {MSGID}: vacation action: discarding vacation response to precedence=bulk message from <b@far.test>",
     "vacation_skipped", None, "b@far.test", "bulk mail (Precedence: bulk)"),
    (f"sieve: {MSGID}: vacation action: discarding vacation response for implicitly delivered message; no known "
     "(matching) personal recipient address found in message headers (recipients checked: alice@example.org)",
     "vacation_skipped", None, None, "not addressed to the mailbox explicitly"),
    (f"sieve: {MSGID}: failed to store into mailbox 'INBOX': Quota exceeded (mailbox for user is full)",
     "store_failed", "INBOX", None, "Quota exceeded (mailbox for user is full)"),
])
def test_delivery_lines(text, action, folder, target, detail):
    event = parse_dovecot(LMTP + text)
    assert (event.parsed, event.kind, event.user, event.session) == (True, "lmtp", "alice@example.org",
                                                                     "tw49M/0XD2vmPAAAg+zDdQ")
    assert event.message_id == "<1796.1400.5974@sender.test>"
    assert (event.action, event.folder, event.target, event.detail) == (action, folder, target, detail)


def test_session_suffix_unspecified_msgid_and_script_failure():
    event = parse_dovecot("lmtp(noah@example.org)<1448><cG9DI4gkD2uoBQAAg+zDdQ:R2>: sieve: msgid=unspecified: "
                          "stored mail into mailbox 'INBOX'")
    assert (event.session, event.message_id, event.folder) == ("cG9DI4gkD2uoBQAAg+zDdQ:R2", None, "INBOX")
    failed = parse_dovecot(LMTP + "sieve: Execution of script /var/lib/dovecot/global_sieve_after.sieve failed "
                                  "with unsuccessful implicit keep")
    assert (failed.action, failed.message_id) == ("script_failed", None)
    # A level written into the text (a file log rather than syslog) is the priority, not the message.
    leveled = parse_dovecot(LMTP.replace(": ", ": Info: ", 1) + f"sieve: {MSGID}: stored mail into mailbox 'INBOX'")
    assert (leveled.priority, leveled.folder) == ("info", "INBOX")


def test_logins_and_password_checks():
    ok = parse_dovecot("imap-login: Login: user=<john@example.org>, method=PLAIN, rip=198.51.100.77, "
                       "lip=172.22.1.250, mpid=4312, TLS, TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")
    assert (ok.kind, ok.user, ok.ip) == ("login", "john@example.org", "198.51.100.77")
    failed = parse_dovecot("imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 12 secs): "
                           "user=<admin@example.org>, method=PLAIN, rip=185.222.58.14, lip=172.22.1.250, TLS")
    assert (failed.kind, failed.user, failed.ip, failed.attempts) == ("auth_failure", "admin@example.org",
                                                                      "185.222.58.14", 3)
    check = parse_dovecot("auth-worker(231): lua(admin@example.org,185.222.58.14,<Xb3kQ9w1aK7AAAAA>): Password "
                          "mismatch (SHA1 of given password: 7c4a8d)")
    assert (check.kind, check.user, check.ip) == ("auth_check", "admin@example.org", "185.222.58.14")
    idle = parse_dovecot("managesieve-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=172.22.1.3, "
                         "lip=172.22.1.250")
    assert (idle.kind, idle.user) == ("other", None)
    assert parse_dovecot("lmtp(1448): Connect from 127.0.0.1").kind == "session"


@pytest.mark.parametrize("junk", [None, 42, "", "garbage without a process", "lmtp(", "\x00\x01", "a" * 100000,
                                  "lmtp(a)<1><s>: sieve: msgid=<x: stored mail into mailbox 'INBOX"])
def test_never_raises_and_unknown_is_unparsed(junk):
    event = parse_dovecot(junk)
    assert event.parsed in (True, False)


def test_every_line_of_the_real_sample_is_parsed():
    lines = json.loads(corpus_path("realmail-dovecot-sample", "dovecot.json").read_text())
    events = [parse_dovecot(e["message"]) for e in lines]
    assert all(e.parsed for e in events)
    assert sum(e.kind == "lmtp" and e.action is not None for e in events) == 39
