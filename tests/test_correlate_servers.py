"""Several mailcow servers in one database (issue 15): queue ids are unique per server only, so
the correlator keys them by (server, queue id); lines of one server never join a leg of another,
Rspamd rows and Dovecot lines link to their own server's Postfix lines, and a Message-ID seen on
two servers makes two messages unless a hand-off links them. Lines in exact Postfix format,
stored the way a fetch of each server does, through the real correlator and SQLite file."""
from __future__ import annotations

import time

import pytest

from mailcow_logs_viewer.correlate import Correlator, correlation_key
from mailcow_logs_viewer.daily_counts import recount_rows, stored_rows
from mailcow_logs_viewer.log_rows import DOVECOT, POSTFIX, RSPAMD, dovecot_row, insert_rows, postfix_row, rspamd_row
from mailcow_logs_viewer.models import Leg, LocalDomain, Message, Recipient, RspamdRow

NOW = int(time.time())
T0 = NOW - 3600


def store(server: str, lines: list[tuple[int, str, str]]) -> None:
    insert_rows(POSTFIX, [postfix_row({"time": str(T0 + offset), "priority": "info", "program": program,
                                       "message": message}, 0, T0) for offset, program, message in lines], server)


def scan(server: str, offset: int, message_id: str | None, ip: str, sender: str, rcpts: list[str]) -> None:
    row = {"unix_time": T0 + offset, "message-id": message_id.strip("<>") if message_id else "undef",
           "subject": "s", "score": 1.5, "required_score": 15, "action": "no action", "symbols": {}, "ip": ip,
           "user": "unknown", "sender_smtp": sender, "sender_mime": sender, "rcpt_smtp": rcpts, "rcpt_mime": rcpts,
           "size": 1200}
    insert_rows(RSPAMD, [rspamd_row(row, 0, T0, frozenset({"example.org", "example.com"}))], server)


def inbound(qid: str, mid: str, rcpt: str, client: str = "mail.example.net[203.0.113.9]", status: str = "sent",
            offset: int = 0, sender: str = "alice@example.net") -> list:
    reply = "250 2.0.0 <x> Saved" if status == "sent" else "450 4.2.0 try later"
    return [
        (offset, "postfix/smtpd", f"{qid}: client={client}"),
        (offset, "postfix/cleanup", f"{qid}: message-id={mid}"),
        (offset, "postfix/qmgr", f"{qid}: from=<{sender}>, size=2040, nrcpt=1 (queue active)"),
        (offset + 1, "postfix/lmtp", f"{qid}: to=<{rcpt}>, relay=dovecot[172.22.1.250]:24, delay=1, "
                                     f"delays=0.1/0/0/0.9, dsn={'2.0.0' if status == 'sent' else '4.2.0'}, "
                                     f"status={status} ({reply})"),
        (offset + 1, "postfix/qmgr", f"{qid}: removed"),
    ]


def message_of(server: str, queue_id: str) -> Message:
    leg = Leg.get(Leg.server == server, Leg.queue_id == queue_id)
    return Message.get_by_id(leg.message_ref)


def outcomes(message: Message) -> dict[str, str]:
    return {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}


@pytest.fixture
def correlator(app):
    for domain in ("example.org", "example.com"):
        LocalDomain.create(domain=domain, kind="domain", updated_at=T0)
    return Correlator(max_age_minutes=10, clock=lambda: NOW)


def test_one_queue_id_on_two_servers_is_two_messages(correlator):
    store("mx1", inbound("4A1B2C3D4E", "<one@example.net>", "bob@example.org"))
    store("mx2", inbound("4A1B2C3D4E", "<two@example.net>", "carol@example.com", status="deferred"))
    correlator.run()
    one, two = message_of("mx1", "4A1B2C3D4E"), message_of("mx2", "4A1B2C3D4E")
    assert one.id != two.id
    assert (one.server, one.message_id, outcomes(one)) == ("mx1", "<one@example.net>", {"bob@example.org": "delivered"})
    assert (two.server, two.message_id, outcomes(two)) == ("mx2", "<two@example.net>", {"carol@example.com": "deferred"})
    assert {(leg.server, leg.message_ref) for leg in Leg.select()} == {("mx1", one.id), ("mx2", two.id)}
    # Counted once each, under its own server.
    assert stored_rows() == recount_rows()
    assert {(key.server, key.mailbox) for key in stored_rows()} == {("mx1", "bob@example.org"),
                                                                     ("mx2", "carol@example.com")}


def test_lines_arriving_later_stay_with_their_own_server(correlator):
    first, rest = inbound("5B6C7D8E9F", "<a@example.net>", "bob@example.org")[:2], \
        inbound("5B6C7D8E9F", "<a@example.net>", "bob@example.org")[2:]
    store("mx1", first)
    store("mx2", inbound("5B6C7D8E9F", "<b@example.net>", "carol@example.com", offset=1))
    correlator.run()
    store("mx1", rest)          # mx1's next fetch: its leg goes on, mx2's is not touched
    correlator.run()
    assert outcomes(message_of("mx1", "5B6C7D8E9F")) == {"bob@example.org": "delivered"}
    assert outcomes(message_of("mx2", "5B6C7D8E9F")) == {"carol@example.com": "delivered"}
    assert Leg.select().count() == 2


def test_a_message_id_on_two_servers_without_a_hand_off_is_two_messages(correlator):
    # A local client on mx2 would be a re-injection on mx1: across servers it is no such thing.
    store("mx1", inbound("6C7D8E9F0A", "<same@example.net>", "bob@example.org"))
    correlator.run()
    store("mx2", inbound("7D8E9F0A1B", "<same@example.net>", "carol@example.com", client="localhost[127.0.0.1]",
                         offset=30))
    correlator.run()
    one, two = message_of("mx1", "6C7D8E9F0A"), message_of("mx2", "7D8E9F0A1B")
    assert one.id != two.id and (one.server, two.server) == ("mx1", "mx2")
    assert one.correlation_key == correlation_key("msgid", "<same@example.net>")     # the first keeps the plain key
    assert two.correlation_key != one.correlation_key


def test_rspamd_rows_link_to_their_own_servers_lines(correlator):
    # The same sender and recipient through both servers at the same time, no Message-ID in Rspamd.
    for server, qid in (("mx1", "8E9F0A1B2C"), ("mx2", "9F0A1B2C3D")):
        store(server, inbound(qid, f"<{server}@example.net>", "bob@example.org"))
    correlator.run()
    scan("mx2", 0, None, "203.0.113.9", "alice@example.net", ["bob@example.org"])
    correlator.run()
    row = RspamdRow.get()
    assert row.server == "mx2" and row.message_ref == message_of("mx2", "9F0A1B2C3D").id


def test_a_scan_fetched_before_its_servers_postfix_lines_waits_for_them(correlator):
    """One mail to a recipient on each server: the same Message-ID, two messages. mx2's Rspamd
    row is fetched before mx2's Postfix lines; it must not take mx1's message meanwhile."""
    mid, young = "<both@example.net>", 3540          # a minute before the correlator's clock
    store("mx1", inbound("1A2B3C4D5E", mid, "bob@example.org", offset=young))
    correlator.run()
    scan("mx2", young + 1, mid, "203.0.113.9", "alice@example.net", ["carol@example.com"])
    correlator.run()
    assert RspamdRow.get().message_ref is None
    assert not message_of("mx1", "1A2B3C4D5E").has_rspamd
    store("mx2", inbound("2B3C4D5E6F", mid, "carol@example.com", offset=young))
    correlator.run()
    one, two = message_of("mx1", "1A2B3C4D5E"), message_of("mx2", "2B3C4D5E6F")
    assert one.id != two.id
    assert RspamdRow.get().message_ref == two.id
    assert (one.has_rspamd, two.has_rspamd, two.spam_score) == (False, True, 1.5)


def test_a_scan_whose_servers_postfix_lines_never_come_links_to_what_there_is(correlator):
    mid, young = "<alone@example.net>", 3540
    store("mx1", inbound("3C4D5E6F7A", mid, "bob@example.org", offset=young))
    scan("mx2", young + 1, mid, "203.0.113.9", "alice@example.net", ["bob@example.org"])
    correlator.run()
    assert RspamdRow.get().message_ref is None
    correlator.clock = lambda: NOW + 11 * 60        # past MAX_CORRELATION_AGE_MINUTES (10)
    correlator.run()
    assert RspamdRow.get().message_ref == message_of("mx1", "3C4D5E6F7A").id


@pytest.mark.parametrize("one_batch", [False, True])
def test_both_servers_scans_before_any_postfix_line_end_on_their_own_messages(correlator, one_batch):
    """Neither scan may take the message the other's Message-ID made: each waits for its own
    server's lines, whether the scans come in one correlator batch or mx1's first."""
    mid, young = "<early@example.net>", 3540
    scan("mx1", young, mid, "203.0.113.9", "alice@example.net", ["bob@example.org"])
    if not one_batch:
        correlator.run()
    scan("mx2", young + 1, mid, "203.0.113.9", "alice@example.net", ["carol@example.com"])
    correlator.run()
    store("mx1", inbound("4D5E6F7A8B", mid, "bob@example.org", offset=young - 1))
    store("mx2", inbound("5E6F7A8B9C", mid, "carol@example.com", offset=young))
    correlator.run()
    one, two = message_of("mx1", "4D5E6F7A8B"), message_of("mx2", "5E6F7A8B9C")
    assert one.id != two.id
    assert {row.server: row.message_ref for row in RspamdRow.select()} == {"mx1": one.id, "mx2": two.id}
    assert (one.has_rspamd, two.has_rspamd) == (True, True)


def test_dovecot_lines_link_to_their_own_servers_delivery(correlator):
    # Both servers' LMTP replies name the same Dovecot session id: mx1's Dovecot line is mx1's
    # (mx2's delivery, stored last, would win a look-up by session id alone).
    for server, qid in (("mx1", "0A1B2C3D4E"), ("mx2", "1B2C3D4E5F")):
        lines = inbound(qid, f"<{server}@example.net>", "bob@example.org")
        lines[3] = (1, "postfix/lmtp", f"{qid}: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, delay=1, "
                                       "delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> "
                                       "kLmNoPqRsTuV Saved)")
        store(server, lines)
    insert_rows(DOVECOT, [dovecot_row({"time": str(T0 + 1), "priority": "info", "program": "dovecot",
                                       "message": "lmtp(bob@example.org)<12><kLmNoPqRsTuV>: msgid=<mx1@example.net>: "
                                                  "saved mail to INBOX"}, 0, T0)], "mx1")
    correlator.run()
    assert Recipient.get(Recipient.message_ref == message_of("mx1", "0A1B2C3D4E").id).folder == "INBOX"
    assert Recipient.get(Recipient.message_ref == message_of("mx2", "1B2C3D4E5F").id).folder is None


def backup_mx(qid: str, mid: str, rcpt: str, handed: str, offset: int = 0) -> list:
    """mx2 accepts mail for the primary's domain and hands it to mx1, which says `queued as`."""
    return [
        (offset, "postfix/smtpd", f"{qid}: client=mail.example.net[203.0.113.9]"),
        (offset, "postfix/cleanup", f"{qid}: message-id={mid}"),
        (offset, "postfix/qmgr", f"{qid}: from=<alice@example.net>, size=2040, nrcpt=1 (queue active)"),
        (offset + 2, "postfix/smtp", f"{qid}: to=<{rcpt}>, relay=mx1.example.org[192.0.2.10]:25, delay=2.1, "
                                     f"delays=0.1/0/0.5/1.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {handed})"),
        (offset + 2, "postfix/qmgr", f"{qid}: removed"),
    ]


def primary_side(qid: str, mid: str, rcpt: str, offset: int = 1, status: str = "sent") -> list:
    """mx1's side of the hand-off: its client is the backup MX."""
    return inbound(qid, mid, rcpt, client="mx2.example.com[192.0.2.20]", offset=offset, status=status)


@pytest.mark.parametrize("first", ["sender", "receiver"])
def test_a_hand_off_between_our_servers_is_one_message_with_a_leg_on_each(correlator, first):
    """Either server's lines may be fetched first; separate passes, as separate fetches."""
    sides = {"sender": ("mx2", backup_mx("7C1D2E3F4A", "<relay@example.net>", "bob@example.org", "8D2E3F4A5B")),
             "receiver": ("mx1", primary_side("8D2E3F4A5B", "<relay@example.net>", "bob@example.org"))}
    for name in (first, "receiver" if first == "sender" else "sender"):
        store(*sides[name])
        correlator.run()
    sent, received = message_of("mx2", "7C1D2E3F4A"), message_of("mx1", "8D2E3F4A5B")
    assert sent.id == received.id
    assert Message.select().count() == 1
    assert sent.server == "mx2"             # counted where it entered: the backup MX
    assert outcomes(sent) == {"bob@example.org": "delivered"}
    roles = {leg.server: leg.role for leg in Leg.select().where(Leg.message_ref == sent.id)}
    assert roles == {"mx2": "primary", "mx1": "relayed"}
    assert stored_rows() == recount_rows()
    assert {key.server for key in stored_rows()} == {"mx2"}


def test_a_hand_off_fetched_in_one_pass_receiver_first_keeps_both_scans_on_the_message(correlator):
    """The primary's leg is placed first (it takes the Message-ID's key), then the backup's leg
    that handed it over: after the join the message holds that key, so both servers' Rspamd
    rows find it and no scan is left as a message of its own."""
    mid = "<relay3@example.net>"
    store("mx1", primary_side("8D2E3F4A5E", mid, "bob@example.org"))
    store("mx2", backup_mx("7C1D2E3F4E", mid, "bob@example.org", "8D2E3F4A5E"))
    scan("mx1", 1, mid, "192.0.2.20", "alice@example.net", ["bob@example.org"])
    scan("mx2", 0, mid, "203.0.113.9", "alice@example.net", ["bob@example.org"])
    correlator.run()
    message = message_of("mx2", "7C1D2E3F4E")
    assert message.id == message_of("mx1", "8D2E3F4A5E").id
    assert Message.select().count() == 1
    assert message.correlation_key == correlation_key("msgid", mid)
    assert {row.server for row in RspamdRow.select().where(RspamdRow.message_ref == message.id)} == {"mx1", "mx2"}


def test_a_hand_off_that_the_primary_refuses_ends_as_the_primary_says(correlator):
    store("mx2", backup_mx("7C1D2E3F4B", "<relay2@example.net>", "nobody@example.org", "8D2E3F4A5C"))
    store("mx1", primary_side("8D2E3F4A5C", "<relay2@example.net>", "nobody@example.org", status="deferred"))
    correlator.run()
    message = message_of("mx2", "7C1D2E3F4B")
    assert message.id == message_of("mx1", "8D2E3F4A5C").id
    assert outcomes(message) == {"nobody@example.org": "deferred"}


def test_the_same_message_id_without_a_hand_off_stays_two_messages(correlator):
    """A stranger's mail reusing the Message-ID, and a `queued as` naming another Message-ID's
    queue id: neither joins."""
    store("mx2", backup_mx("7C1D2E3F4C", "<shared@example.net>", "bob@example.org", "9E3F4A5B6C"))
    store("mx1", inbound("8D2E3F4A5D", "<shared@example.net>", "bob@example.org", offset=1))
    store("mx1", primary_side("9E3F4A5B6C", "<other@example.net>", "carol@example.org"))
    correlator.run()
    assert len({message_of("mx2", "7C1D2E3F4C").id, message_of("mx1", "8D2E3F4A5D").id,
                message_of("mx1", "9E3F4A5B6C").id}) == 3
    assert not Leg.select().where(Leg.role == "relayed").exists()
