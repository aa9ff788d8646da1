"""Real (anonymised) Postfix logs from Lightmeter's test files, imported with `run.py import`,
against what the files show when read by hand."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from mailcow_logs_viewer.correlate import Correlator
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.importer import import_files
from mailcow_logs_viewer.models import Leg, Message, PostfixLine, Recipient

from conftest import ROOT, base_env, corpus_path

INDIVIDUAL = ("lightmeter-controlcenter", "individual_files")


def _import(tmp_path, name: str) -> None:
    open_database(tmp_path / f"{name}.db")
    import_files([str(corpus_path(*INDIVIDUAL, name))], year=2020, server="mx")
    Correlator().run()


def _status_lines(path) -> Counter:
    counts = Counter()
    for line in path.read_text(errors="replace").splitlines():
        for status in ("sent", "bounced", "deferred", "expired"):
            if f" status={status}" in line and " to=<" in line:
                counts[status] += 1
    return counts


def test_cli_import_stores_every_postfix_line_of_a_real_mail_log(tmp_path):
    log = corpus_path("lightmeter-controlcenter", "complete_tar_extracted", "logs_sample", "mail.log")
    env = base_env(tmp_path / "data")
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(log), "--year", "2021"],
                            cwd=ROOT, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = log.read_text(errors="replace").splitlines()
    postfix_lines = [line for line in text if " postfix/" in line or " postfix-" in line.split(": ", 1)[0]]
    open_database(tmp_path / "data" / "mailcow-logs.db")
    try:
        assert PostfixLine.select().count() == len(postfix_lines)
        assert PostfixLine.select().where(PostfixLine.status == "sent").count() == sum(" status=sent" in l for l in text)
        assert PostfixLine.select().where(PostfixLine.status == "bounced").count() == sum(" status=bounced" in l for l in text)
        # every queue id that delivered something belongs to a message
        delivered = PostfixLine.select(PostfixLine.queue_id).where(PostfixLine.kind == "delivery")
        assert Leg.select().where(Leg.queue_id.in_(delivered), Leg.message_ref.is_null()).count() == 0
        assert Leg.select().where(Leg.queue_id.in_(delivered)).count() > 100
    finally:
        database.close()


def test_individual_files_hold_the_documented_delivery_lines(tmp_path):
    folder = corpus_path(*INDIVIDUAL)
    expected, stored = Counter(), Counter()
    for path in sorted(folder.glob("*.log")):
        expected += _status_lines(path)
        open_database(tmp_path / f"{path.stem}.db")
        import_files([str(path)], year=2020, server="mx")
        for status, count in (PostfixLine.select(PostfixLine.status, PostfixLine.id)
                              .where(PostfixLine.kind == "delivery").tuples()):
            stored[status] += 1
        database.close()
    assert {k: expected[k] for k in ("sent", "bounced", "deferred")} == {"sent": 154, "bounced": 11, "deferred": 6}
    assert {k: stored[k] for k in ("sent", "bounced", "deferred")} == {"sent": 154, "bounced": 11, "deferred": 6}


def test_greylisted_then_retried_message_ends_delivered(tmp_path):
    _import(tmp_path, "6_deferred_message_retry.log")
    deferred = Recipient.select().where(Recipient.attempts > 1)
    assert deferred.count() >= 1
    for outcome in deferred:
        assert outcome.status == "delivered"
        assert Message.get_by_id(outcome.message_ref).final_status == "delivered"


def test_expired_message_ends_expired_after_its_deferrals(tmp_path):
    _import(tmp_path, "18_expired.log")
    outcome = Recipient.get(Recipient.status == "expired")
    assert outcome.attempts == 5
    message = Message.get_by_id(outcome.message_ref)
    assert message.final_status == "bounced"
    assert message.is_complete
    notice = Message.get_or_none(Message.related_ref == message.id)
    assert notice is not None and notice.sender == ""


@pytest.mark.parametrize("name", ["2_multiple_recipients_some_bounces.log",
                                  "2_multiple_recipients_some_bounces_no_last_remove.log"])
def test_five_recipients_three_bounced_two_delivered(tmp_path, name):
    _import(tmp_path, name)
    message = next(m for m in Message.select() if m.recipient_count == 5)
    statuses = Counter(r.status for r in Recipient.select().where(Recipient.message_ref == message.id))
    assert statuses == Counter({"bounced": 3, "delivered": 2})
    assert message.final_status == "bounced"
    dsns = {r.dsn for r in Recipient.select().where(Recipient.message_ref == message.id, Recipient.status == "bounced")}
    assert dsns == {"5.1.0", "5.7.1", "5.1.1"}
    notice = Message.get(Message.related_ref == message.id)
    assert notice.sender == ""


def test_bounce_simple_links_the_amavis_hop_and_the_notice(tmp_path):
    _import(tmp_path, "1_bounce_simple.log")
    bounced = Recipient.get(Recipient.status == "bounced")
    message = Message.get_by_id(bounced.message_ref)
    assert bounced.dsn == "5.1.1"
    # submission -> amavis -> smtp: both queue ids are legs of the one message
    assert Leg.select().where(Leg.message_ref == message.id).count() >= 2
    assert Message.get(Message.related_ref == message.id).final_status == "delivered"


def test_queue_id_reuse_makes_separate_messages(tmp_path):
    _import(tmp_path, "14_reuse_of_queueid.log")
    legs = Leg.select().where(Leg.queue_id == "BABABABABA")
    assert legs.count() >= 2
    assert len({leg.message_ref for leg in legs}) >= 2
