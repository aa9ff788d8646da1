"""Privacy controls (issue 15): `run.py forget ADDRESS` leaves no trace of the address in the
SQLite file itself, ANONYMIZE_IPS_AFTER_DAYS truncates client IPs in every table and in raw
text, REDACT_SUBJECTS stores no subject. Lines come over real HTTP from the simulated mailcow."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.correlate import Correlator
from mailcow_logs_viewer.daily_counts import stored_rows
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.models import Message, RspamdRow
from mailcow_logs_viewer.privacy import REDACTED, anonymize_ips, scrub_subjects, truncate_ips_in_text

from conftest import ROOT, base_env
from test_tiers import DAY, NOW, mail, verdict

PERSON = "Gdpr.Person@example.org"


def _feed(settings, sim) -> None:
    client = MailcowClient(sim.url, sim.api_key)
    ingestor = Ingestor(client, settings)
    for source in ("postfix", "rspamd", "netfilter", "dovecot"):
        ingestor.fetch_source(source)
    client.close()
    Correlator().run()


def _file_bytes(settings) -> bytes:
    path = settings.database_path
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _every_text(column_filter=lambda table, column: True) -> str:
    """Every text value of every table, as one string (the tables as a reader of the file sees them)."""
    parts = []
    tables = [t for (t,) in database.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE '%fts%' AND name NOT LIKE 'sqlite_%'")]
    for table in tables:
        columns = [c.name for c in database.get_columns(table)]
        for row in database.execute_sql(f"SELECT {', '.join(columns)} FROM {table}"):
            parts += [str(v) for c, v in zip(columns, row) if isinstance(v, str) and column_filter(table, c)]
    return "\n".join(parts)


def _forget(data_dir, address: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in base_env(data_dir).items() if not k.startswith("MAILCOW_")}
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "forget", address], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_forget_leaves_no_trace_of_the_address_in_the_file(make_settings, simulator, tmp_path):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    create_app(settings)
    simulator.preload(2, now=NOW - 1800)
    at = NOW - 900
    # Mail to the person (with another recipient), mail from them, their login and a failed one.
    simulator.push("postfix", mail("EEE0000005", "alice@remote.test", [PERSON.lower(), "bob@example.org"], at))
    simulator.push("rspamd", [verdict("EEE0000005", "alice@remote.test", [PERSON.lower(), "bob@example.org"], at,
                                      subject=f"A note for {PERSON}")])
    simulator.push("postfix", [{"time": str(at + 60), "priority": "info", "program": "postfix/submission/smtpd",
                                "message": f"FFF0000006: client=client.example[203.0.113.9], sasl_method=PLAIN, "
                                           f"sasl_username={PERSON}"}]
                   + mail("FFF0000006", PERSON, ["someone@remote.test"], at + 61)[1:])
    simulator.push("dovecot", [{"time": str(at + 120), "priority": "info",
                                "message": f"imap-login: Login: user=<{PERSON}>, method=PLAIN, rip=203.0.113.9, "
                                           "lip=172.22.1.250, mpid=1234, TLS"}])
    simulator.push("netfilter", [{"time": at + 130, "priority": "warn",
                                  "message": f"203.0.113.10 matched rule id 3 (warning: unknown[203.0.113.10]: SASL "
                                             f"LOGIN authentication failed: {PERSON}), 9 more attempts allowed"}])
    _feed(settings, simulator)
    others = Message.select().count() - 2
    assert others > 10
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert PERSON.lower().encode() in _file_bytes(settings).lower()
    database.close()

    first = _forget(settings.data_dir, PERSON)
    assert first.returncode == 0, first.stderr
    removed = dict(line.split(": ") for line in first.stdout.splitlines()[:-1])
    assert int(removed["message"]) == 2 and int(removed["postfix_line"]) >= 11
    assert int(removed["dovecot_line"]) == 1 and int(removed["netfilter_line"]) == 1 and int(removed["rspamd_row"]) == 1
    assert int(removed["daily_count (mailbox folded)"]) >= 1
    data = _file_bytes(settings).lower()
    assert PERSON.lower().encode() not in data and b"gdpr.person" not in data

    second = _forget(settings.data_dir, PERSON.upper())       # idempotent, whatever the case
    assert second.returncode == 0 and second.stdout.splitlines()[-1].startswith("removed 0 rows")

    open_database(settings.database_path)
    assert Message.select().count() == others                 # nobody else's mail went
    assert all(key.mailbox != PERSON.lower() for key in stored_rows())
    database.close()
    for bad_address in ("a b@example.org", "example.org", "@example.org"):
        bad = _forget(settings.data_dir, bad_address)
        assert bad.returncode == 2 and "ADDRESS" in bad.stderr


@pytest.mark.parametrize("text,expected", [
    ("client=unknown[198.51.100.77]", "client=unknown[198.51.100.0]"),
    ("rip=2001:db8:abcd:12::1, lip=::1", "rip=2001:db8:abcd::, lip=::"),
    ("[2001:db8:abcd:12::1]:25 at 10:42:07", "[2001:db8:abcd::]:25 at 10:42:07"),
    ("version 1.2.3 and 999.1.1.1", "version 1.2.3 and 999.1.1.1"),
    ("203.0.113.0/24", "203.0.113.0/24"),
])
def test_truncating_addresses_in_text(text, expected):
    assert truncate_ips_in_text(text) == expected


def test_old_client_ips_are_truncated_in_every_table_and_in_raw_text(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    http = create_app(settings).test_client()
    old, new = NOW - 5 * DAY, NOW - 3600
    for queue_id, at, v4, v6 in (("ACE0000007", old, "198.51.100.77", "2001:db8:abcd:12::7"),
                                 ("BAD0000008", new, "192.0.2.55", "2001:db8:ffff:12::8")):
        simulator.push("postfix", mail(queue_id, "alice@remote.test", ["bob@example.org"], at,
                                       client=f"mx.remote.test[{v4}]"))
        simulator.push("rspamd", [{**verdict(queue_id, "alice@remote.test", ["bob@example.org"], at), "ip": v4}])
        simulator.push("dovecot", [{"time": str(at + 30), "priority": "info",
                                    "message": f"imap-login: Login: user=<bob@example.org>, method=PLAIN, rip={v6}, "
                                               "lip=172.22.1.250, TLS"}])
        simulator.push("netfilter", [{"time": at + 40, "priority": "warn",
                                      "message": f"{v4} matched rule id 3 (warning: unknown[{v4}]: SASL LOGIN "
                                                 "authentication failed: x), 9 more attempts allowed"}])
    _feed(settings, simulator)
    assert "198.51.100.77" in _every_text() and "2001:db8:abcd:12::7" in _every_text()

    result = anonymize_ips(3)
    assert result["postfix_line"] >= 5 and result["message"] >= 1 and result["leg"] >= 1
    everything = _every_text()
    for full in ("198.51.100.77", "2001:db8:abcd:12::7"):
        assert full not in everything                         # in no column of any table, raw text included
    assert "198.51.100.0" in everything and "2001:db8:abcd::" in everything
    for recent in ("192.0.2.55", "2001:db8:ffff:12::8"):
        assert recent in everything                           # younger than the setting: kept
    assert Message.get(Message.queue_id == "ACE0000007").ip == "198.51.100.0"
    # The search index follows the rewrite: the old address is found no more, the truncated one is.
    assert http.get("/api/messages", query_string={"search": "ip:198.51.100.77"}).get_json()["total"] == 0
    assert http.get("/api/messages", query_string={"search": "ip:198.51.100.0"}).get_json()["total"] == 1
    assert anonymize_ips(3)["postfix_line"] == 0              # the next night starts where this one stopped
    database.close()


def test_redacted_subjects_are_stored_nowhere(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key, REDACT_SUBJECTS="true")
    app = create_app(settings)
    at = NOW - 600
    lines = mail("A1B0000009", "alice@remote.test", ["bob@example.org"], at)
    lines.insert(2, {"time": str(at + 1), "priority": "warning", "program": "postfix/cleanup",
                     "message": "A1B0000009: warning: header Subject: Merger with Initech from "
                                "mx.remote.test[198.51.100.7]; from=<alice@remote.test> to=<bob@example.org> "
                                "proto=ESMTP helo=<mx.remote.test>"})
    simulator.push("postfix", lines)
    simulator.push("rspamd", [verdict("A1B0000009", "alice@remote.test", ["bob@example.org"], at,
                                      subject="Merger with Initech"),
                              # a row that cannot be mapped is kept raw: without its subject
                              {"unix_time": "soon", "subject": "Merger with Initech", "score": "high"}])
    _feed(settings, simulator)
    assert RspamdRow.select().where(RspamdRow.parsed == False).count() == 1  # noqa: E712
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"initech" not in _file_bytes(settings).lower()
    message = Message.get(Message.queue_id == "A1B0000009")
    assert message.subject == REDACTED
    http = app.test_client()
    listed = http.get("/api/messages", query_string={"search": "redacted"}).get_json()
    assert [m["subject"] for m in listed["data"]] == [REDACTED]
    assert http.get("/api/messages", query_string={"search": "Initech"}).get_json()["total"] == 0
    database.close()


def test_subjects_stored_before_the_setting_are_scrubbed(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    http = create_app(settings).test_client()
    simulator.preload(1, now=NOW - 1800)
    _feed(settings, simulator)
    assert RspamdRow.select().where(RspamdRow.subject.is_null(False)).count() > 0
    subjects = [m.subject for m in Message.select() if m.subject]
    word = max(subjects[0].split(), key=len)
    result = scrub_subjects(True)
    assert result["rspamd_row"] > 0 and result["message"] > 0
    assert {r.subject for r in RspamdRow.select() if r.subject is not None} == {REDACTED}
    assert {m.subject for m in Message.select() if m.subject is not None} <= {REDACTED}
    assert all(REDACTED in json.loads(r.raw).get("subject", REDACTED) for r in RspamdRow.select() if r.raw)
    assert scrub_subjects(True) == {"rspamd_row": 0, "message": 0, "postfix_line": 0, "dovecot_line": 0}
    # The search index follows the rewrite.
    assert http.get("/api/messages", query_string={"search": f"subject:{word}"}).get_json()["total"] == 0
    assert http.get("/api/messages", query_string={"search": "subject:redacted"}).get_json()["total"] == len(subjects)
    database.close()
