"""The longer memory in tiers (issue 15): raw lines go after RETENTION_DAYS, messages with their
outcomes and verdict summary after MESSAGE_RETENTION_DAYS, daily counters are kept; the
counters always equal a recount from the messages. Lines reach the store over real HTTP from
the simulated mailcow, into a real SQLite file."""
from __future__ import annotations

import csv
import io
import sqlite3
import time

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.api.responses import DailyCountsSchema, MessageDetailsSchema
from mailcow_logs_viewer.correlate import Correlator
from mailcow_logs_viewer.daily_counts import recount_rows, stored_rows
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.models import DailyCount, Leg, Message, PostfixLine, Recipient, RspamdRow
from mailcow_logs_viewer.retention import cleanup

from conftest import assert_hourly_counts_match_messages

DAY = 86400
NOW = int(time.time())


def mail(queue_id: str, sender: str, recipients: list[str], at: int, status: str = "sent",
         client: str = "mx.remote.test[198.51.100.7]") -> list[dict]:
    """The Postfix lines of one inbound message, delivered (or deferred) to each recipient."""
    dsn = {"sent": "2.0.0", "deferred": "4.4.1"}[status]
    lines = [("postfix/smtpd", f"{queue_id}: client={client}"),
             ("postfix/cleanup", f"{queue_id}: message-id=<{queue_id}@remote.test>"),
             ("postfix/qmgr", f"{queue_id}: from=<{sender}>, size=900, nrcpt={len(recipients)} (queue active)")]
    lines += [("postfix/lmtp", f"{queue_id}: to=<{r}>, relay=dovecot[172.22.1.250]:24, delay=0.1, "
                               f"delays=0/0/0/0.1, dsn={dsn}, status={status} (250 2.0.0 <{r}> x Saved)")
              for r in recipients]
    if status == "sent":
        lines.append(("postfix/qmgr", f"{queue_id}: removed"))
    return [{"time": str(at + i), "priority": "info", "program": p, "message": m} for i, (p, m) in enumerate(lines)]


def verdict(queue_id: str, sender: str, recipients: list[str], at: int, subject: str = "Quarterly figures") -> dict:
    return {"unix_time": at, "message-id": f"{queue_id}@remote.test", "sender_smtp": sender, "rcpt_smtp": recipients,
            "subject": subject, "score": 6.5, "required_score": 15, "action": "add header", "ip": "198.51.100.7",
            "symbols": {"BAYES_SPAM": {"score": 5.1}, "R_SPF_FAIL": {"score": 1.0}, "ARC_NA": {"score": 0}}}


@pytest.fixture
def fed(make_settings, simulator):
    """The app over a real file, the simulator's HTTP API, and a function that fetches and correlates."""
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    app = create_app(settings)
    client = MailcowClient(simulator.url, simulator.api_key)
    ingestor = Ingestor(client, settings)

    def fetch():
        for source in ("postfix", "rspamd", "netfilter", "dovecot"):
            ingestor.fetch_source(source)
        Correlator().run()

    yield simulator, fetch, app.test_client(), settings
    client.close()
    database.close()


def message(queue_id: str) -> Message | None:
    return Message.get_or_none(Message.queue_id == queue_id)


def test_tiers_keep_messages_after_their_lines_and_counters_after_the_messages(fed):
    sim, fetch, http, _ = fed
    recent, week_old, season_old = NOW - 3600, NOW - 10 * DAY, NOW - 100 * DAY
    for queue_id, at in (("AAA0000001", recent), ("BBB0000002", week_old), ("CCC0000003", season_old)):
        sim.push("postfix", mail(queue_id, "alice@remote.test", ["bob@example.org", "carol@example.org"], at))
        sim.push("rspamd", [verdict(queue_id, "alice@remote.test", ["bob@example.org", "carol@example.org"], at)])
    fetch()
    assert stored_rows() == recount_rows()
    assert {m.queue_id for m in Message.select()} == {"AAA0000001", "BBB0000002", "CCC0000003"}
    counters_before = stored_rows()

    deleted = cleanup(7, 90)

    # raw tier: the lines and rows of the two old messages are gone, the recent ones stay
    assert {line.queue_id for line in PostfixLine.select()} == {"AAA0000001"}
    assert [r.message_id for r in RspamdRow.select()] == ["<AAA0000001@remote.test>"]
    assert deleted["raw_lines_removed"] == 1 and deleted["message"] == 1
    # message tier: the 10-day-old message is kept with its legs, outcomes and verdict summary
    kept = message("BBB0000002")
    assert kept.raw_lines_removed and kept.final_status == "delivered" and kept.spam_score == 6.5
    assert Leg.select().where(Leg.message_ref == kept.id).count() == 1
    assert {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == kept.id)} == {
        "bob@example.org": "delivered", "carol@example.org": "delivered"}
    body = http.get(f"/api/message/{kept.correlation_key}/details").get_json()
    assert MessageDetailsSchema().validate(body) == {}
    assert body["raw_lines_removed"] is True and body["postfix"] == [] and body["rspamd"] is None
    assert body["final_status"] == "delivered" and len(body["outcomes"]) == 2
    assert body["verdict_summary"] == {"score": 6.5, "action": "add header",
                                       "symbols": [{"name": "BAYES_SPAM", "score": 5.1},
                                                   {"name": "R_SPF_FAIL", "score": 1.0},
                                                   {"name": "ARC_NA", "score": 0}]}
    fresh = http.get(f"/api/message/{message('AAA0000001').correlation_key}/details").get_json()
    assert fresh["raw_lines_removed"] is False and fresh["verdict_summary"] is None and fresh["postfix"]
    # the 100-day-old message is gone with its legs and recipients; its day's counters are not
    assert message("CCC0000003") is None
    assert Leg.select().where(Leg.queue_id == "CCC0000003").count() == 0
    assert database.execute_sql("SELECT COUNT(*) FROM recipient WHERE message_ref NOT IN (SELECT id FROM message)"
                                ).fetchone()[0] == 0
    assert stored_rows() == counters_before
    assert_hourly_counts_match_messages()

    # A message whose lines are gone is kept as computed: a correlation pass or a rebuild does
    # not turn it into "no message" (its facts are gone, not changed).
    Correlator().rebuild()
    assert message("BBB0000002").final_status == "delivered"
    assert stored_rows() == counters_before
    # The next night finds nothing more to do.
    again = cleanup(7, 90)
    assert not any(again.values())

    # Counters have their own retention: older than 30 days go, the rest stay.
    cleanup(7, 90, counter_retention_days=30)
    assert {row.day for row in DailyCount.select()} == {recent // DAY, week_old // DAY}


def test_counters_follow_a_status_that_changes_and_equal_a_recount(fed):
    sim, fetch, http, _ = fed
    sim.preload(2, now=NOW - 1800)                     # the simulator's own generated traffic
    fetch()
    assert Message.select().count() > 20
    assert stored_rows() == recount_rows()
    # a deferral, then the retry that delivers it: the count moves from deferred to delivered
    sim.push("postfix", mail("DDD0000004", "dave@remote.test", ["erin@example.org"], NOW - 600, status="deferred"))
    fetch()
    erin = [(k.status, n) for k, n in stored_rows().items() if k.mailbox == "erin@example.org"]
    assert erin == [("deferred", 1)]
    retry = mail("DDD0000004", "dave@remote.test", ["erin@example.org"], NOW - 300)
    sim.push("postfix", retry[3:])
    fetch()
    erin = [(k.status, n) for k, n in stored_rows().items() if k.mailbox == "erin@example.org"]
    assert erin == [("delivered", 1)]
    assert stored_rows() == recount_rows()

    body = http.get("/api/stats/daily").get_json()
    assert DailyCountsSchema().validate(body) == {}
    assert body["total"] == sum(recount_rows().values()) and not body["rows_truncated"]
    mine = http.get("/api/stats/daily", query_string={"mailbox": "Erin@Example.org", "status": "delivered"}).get_json()
    assert [(r["mailbox"], r["direction"], r["messages"]) for r in mine["rows"]] == [
        ("erin@example.org", message("DDD0000004").direction, 1)]
    today = time.strftime("%Y-%m-%d", time.gmtime(NOW - 300))
    ranged = http.get("/api/stats/daily", query_string={"start_date": today, "end_date": today,
                                                         "domain": "example.org"}).get_json()
    assert {d["date"] for d in ranged["by_day"]} == {today}
    csv_rows = list(csv.reader(io.StringIO(http.get("/api/export/daily/csv",
                                                    query_string={"mailbox": "erin@example.org"}).get_data(as_text=True))))
    assert csv_rows[0] == ["Date", "Domain", "Mailbox", "Direction", "Status", "Messages", "Server"]
    assert csv_rows[1][1:] == ["example.org", "erin@example.org", message("DDD0000004").direction, "delivered", "1", csv_rows[1][-1]]
    for bad in ({"status": "spam"}, {"direction": "sideways"}, {"limit": "0"}, {"start_date": "yesterday"},
                {"start_date": "2026-02-02", "end_date": "2026-01-01"}):
        answer = http.get("/api/stats/daily", query_string=bad)
        assert answer.status_code == 400 and next(iter(bad)) in answer.get_json()["detail"]


def test_an_older_database_gets_its_counters_from_what_it_holds(fed):
    sim, fetch, _, settings = fed
    sim.preload(2, now=NOW - 1800)
    fetch()
    expected = recount_rows()
    assert expected
    database.close()
    # Back to schema 6: without the tier columns and the counters.
    conn = sqlite3.connect(settings.database_path)
    conn.execute("DROP INDEX message_with_raw_lines")
    for column in ("raw_lines_removed", "spam_action", "spam_symbols", "counted"):
        conn.execute(f"ALTER TABLE message DROP COLUMN {column}")
    conn.execute("DROP TABLE daily_count")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    open_database(settings.database_path, server_name=settings.server_name)
    assert database.execute_sql("PRAGMA user_version").fetchone()[0] >= 9
    assert stored_rows() == expected
    assert Message.select().where(Message.counted == False).count() == 0  # noqa: E712
