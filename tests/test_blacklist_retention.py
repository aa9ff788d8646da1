"""BLACKLIST_EMAILS hides mail before it is stored; the daily clean-up deletes old data in
batches; local domains survive a restart without mailcow; syslog files import plain or gzipped."""
from __future__ import annotations

import gzip
import time

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.correlate import Correlator
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.importer import import_files
from mailcow_logs_viewer.domains import local_domains, refresh_local_domains
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.models import DovecotLine
from mailcow_logs_viewer.mailcow import MailcowClient, MailcowUnreachable
from mailcow_logs_viewer.models import Leg, Message, NetfilterLine, PostfixLine, Recipient, RspamdRow
from mailcow_logs_viewer.retention import cleanup

from conftest import assert_hourly_counts_match_messages

NOW = int(time.time())


def _entries(queue_id: str, sender: str, recipients: list[str], at: int) -> list[dict]:
    lines = [("postfix/smtpd", f"{queue_id}: client=mx.remote.test[198.51.100.7]"),
             ("postfix/cleanup", f"{queue_id}: message-id=<{queue_id}@remote.test>"),
             ("postfix/qmgr", f"{queue_id}: from=<{sender}>, size=900, nrcpt={len(recipients)} (queue active)")]
    lines += [("postfix/lmtp", f"{queue_id}: to=<{r}>, relay=dovecot[172.22.1.250]:24, delay=0.1, "
                               f"delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <{r}> x Saved)") for r in recipients]
    lines.append(("postfix/qmgr", f"{queue_id}: removed"))
    return [{"time": str(at), "priority": "info", "program": p, "message": m} for p, m in lines]


@pytest.fixture
def blacklisted(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key,
                             BLACKLIST_EMAILS="Spammy@Remote.test, archive@example.org")
    app = create_app(settings)
    client = MailcowClient(simulator.url, simulator.api_key)
    yield simulator, Ingestor(client, settings), app
    client.close()
    database.close()


def test_blacklisted_sender_hides_the_whole_message_even_across_fetches(blacklisted):
    sim, ingestor, _ = blacklisted
    entries = _entries("AAA0000001", "spammy@remote.test", ["bob@example.org"], NOW - 60)
    sim.push("postfix", entries[:2])              # client= and message-id= come before from= reveals the sender
    ingestor.fetch_source("postfix")
    assert PostfixLine.select().count() == 2
    Correlator().run()
    sim.push("postfix", entries[2:])
    ingestor.fetch_source("postfix")
    assert PostfixLine.select().where(PostfixLine.queue_id == "AAA0000001").count() == 0
    assert Leg.select().count() == 0
    sim.push("rspamd", [{"unix_time": NOW - 60, "message-id": "AAA0000001@remote.test", "sender_smtp": "spammy@remote.test",
                         "rcpt_smtp": ["bob@example.org"], "score": 1, "action": "no action", "symbols": {}}])
    ingestor.fetch_source("rspamd")
    assert RspamdRow.select().count() == 0
    Correlator().run()
    assert Message.select().count() == 0
    assert_hourly_counts_match_messages()


def test_blacklisted_bcc_recipient_hides_only_its_own_lines(blacklisted):
    sim, ingestor, _ = blacklisted
    sim.push("postfix", _entries("BBB0000002", "alice@remote.test", ["bob@example.org", "archive@example.org"], NOW - 50))
    ingestor.fetch_source("postfix")
    Correlator().run()
    message = Message.get()
    assert [r.recipient for r in Recipient.select().where(Recipient.message_ref == message.id)] == ["bob@example.org"]
    assert message.final_status == "delivered"
    assert PostfixLine.select().where(PostfixLine.recipient == "archive@example.org").count() == 0


def test_a_message_only_for_a_blacklisted_recipient_is_hidden(blacklisted):
    sim, ingestor, _ = blacklisted
    sim.push("postfix", _entries("CCC0000003", "alice@remote.test", ["archive@example.org"], NOW - 40))
    ingestor.fetch_source("postfix")
    Correlator().run()
    assert PostfixLine.select().where(PostfixLine.queue_id == "CCC0000003").count() == 0
    assert Message.select().count() == 0


def test_retention_deletes_old_data_in_batches_and_keeps_the_rest(app):
    from mailcow_logs_viewer.log_rows import POSTFIX, insert_rows, postfix_row

    old, new = NOW - 10 * 86400, NOW - 3600
    rows = []
    for index in range(12000):                        # more than one clean-up batch
        at = old if index < 11000 else new
        entry = {"time": str(at + index % 50), "priority": "info", "program": "postfix/qmgr",
                 "message": f"{index:010X}: removed"}
        rows.append(postfix_row(entry, 0, at))
    insert_rows(POSTFIX, rows, "mx")
    NetfilterLine.create(line_key=1, server="mx", time=old, priority="warn", message="old")
    NetfilterLine.create(line_key=2, server="mx", time=new, priority="warn", message="new")
    DovecotLine.create(line_key=1, server="mx", time=old, priority="info", message="old")
    DovecotLine.create(line_key=2, server="mx", time=new, priority="info", message="new")
    Correlator().run()
    deleted = cleanup(retention_days=7)
    assert deleted["postfix_line"] == 11000 and deleted["netfilter_line"] == 1 == deleted["dovecot_line"]
    assert [n.message for n in DovecotLine.select()] == ["new"]
    assert PostfixLine.select().count() == 1000
    assert PostfixLine.select().where(PostfixLine.time < NOW - 7 * 86400).count() == 0
    assert [n.message for n in NetfilterLine.select()] == ["new"]
    assert Leg.select().where(Leg.last_time < NOW - 7 * 86400).count() == 0
    assert database.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert_hourly_counts_match_messages()


def test_local_domains_survive_a_restart_without_mailcow(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key, LOCAL_DOMAINS="extra.test")
    open_database(settings.database_path)
    client = MailcowClient(simulator.url, simulator.api_key)
    found, failed = refresh_local_domains({"mx": client}, settings.local_domains)
    client.close()
    assert {"example.org", "example.net", "example.com", "extra.test"} <= set(found)
    database.close()
    simulator.set_fault("down")
    open_database(settings.database_path)          # a restart: mailcow is gone now
    dead = MailcowClient(simulator.url, simulator.api_key, retries=0)
    _, failed = refresh_local_domains({"mx": dead}, settings.local_domains)
    assert isinstance(failed["mx"], MailcowUnreachable)
    dead.close()
    assert local_domains() >= {"example.org", "example.net", "example.com", "extra.test"}
    simulator.set_fault(None)
    database.close()


def test_import_reads_gzipped_and_rfc3339_syslog_files(app, tmp_path):
    bsd = ("Jan 27 06:36:01 mx postfix/qmgr[12]: 1A2B3C4D5E: from=<a@x.test>, size=10, nrcpt=1 (queue active)\n"
           "Jan 27 06:36:02 mx postfix/smtp[13]: 1A2B3C4D5E: to=<b@y.test>, relay=y.test[192.0.2.1]:25, delay=1, "
           "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n"
           "Jan 27 06:36:02 mx dovecot: imap-login: Login: user=<b@y.test>\n"
           "not a syslog line\n")
    rfc = "2021-01-27T06:36:03.123456+01:00 mx postfix/qmgr[12]: 1A2B3C4D5E: removed\n"
    gz = tmp_path / "mail.log.1.gz"
    gz.write_bytes(gzip.compress(bsd.encode()))
    plain = tmp_path / "mail.log"
    plain.write_text(rfc)
    report = import_files([str(gz), str(plain)], year=2021, server="mx")
    counts = {k: report[k] for k in ("lines", "postfix", "dovecot", "stored", "skipped")}
    assert counts == {"lines": 5, "postfix": 3, "dovecot": 1, "stored": 4, "skipped": 1}
    assert report["years"] == {str(gz): [2021], str(plain): [2021]}
    login = DovecotLine.get()                          # Dovecot's lines of the same file go to its own log
    assert (login.kind, login.user, login.time) == ("login", "b@y.test", 1611729362)
    times = [line.time for line in PostfixLine.select().order_by(PostfixLine.id)]
    assert times[0] == 1611729361                      # 2021-01-27T06:36:01Z
    assert times[2] == 1611725763                      # 06:36:03 at +01:00 is 05:36:03Z
    again = import_files([str(gz), str(plain)], year=2021, server="mx")
    assert again["stored"] == 0                        # importing twice stores nothing new
