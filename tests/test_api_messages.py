"""GET /api/messages, message details, search, recent activity and the messages CSV, on a
database fetched from the simulated mailcow over HTTP, checked against the generator's truth."""
from __future__ import annotations

import csv
import io
import sqlite3
from collections import Counter

import pytest

from mailcow_logs_viewer.db import open_database

from conftest import SIM_SEED, simulated_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(test client, simulator, settings) over a database holding 6 simulated hours."""
    with simulated_world(tmp_path_factory.mktemp("api"), SIM_SEED, CSV_EXPORT_LIMIT=100) as built:
        yield built


@pytest.fixture
def client(world):
    open_database(world[2].database_path)   # other modules may have bound another file meanwhile
    return world[0]


@pytest.fixture
def truth(world):
    return list(world[1].generator.truth.values())


def _all(client, query: str) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.get(f"/api/messages?{query}&limit=500&page={page}").get_json()
        items += body["data"]
        if page >= body["pages"]:
            return items
        page += 1


def test_list_envelope_and_order(client, truth):
    body = client.get("/api/messages?limit=7").get_json()
    assert set(body) == {"total", "page", "limit", "pages", "data"}
    assert body["total"] == len(truth) and body["limit"] == 7 and body["pages"] == -(-len(truth) // 7)
    times = [m["first_seen"] for m in body["data"]]
    assert times == sorted(times, reverse=True) and all(t.endswith("Z") for t in times)
    item = body["data"][0]
    for field in ("correlation_key", "message_id", "queue_id", "sender", "recipient", "subject", "direction",
                  "final_status", "is_complete", "first_seen", "last_seen", "spam_score", "is_spam", "user", "ip"):
        assert field in item


def test_status_and_direction_filters_match_the_truth(client, truth):
    for status in ("delivered", "bounced", "deferred", "rejected"):
        total = client.get(f"/api/messages?status={status}&limit=1").get_json()["total"]
        assert total == sum(t.status == status for t in truth), status
    spam = client.get("/api/messages?status=spam&limit=1").get_json()["total"]
    assert spam == sum(t.is_spam for t in truth) > 0
    for direction in ("inbound", "outbound", "internal"):
        total = client.get(f"/api/messages?direction={direction}&limit=1").get_json()["total"]
        assert total == sum(t.direction == direction for t in truth), direction


def test_recipient_filter_sees_every_recipient_not_only_the_first(client, truth):
    multi = next(t for t in truth if len(t.recipients) >= 3 and t.message_id)
    last = multi.recipients[-1]
    found = _all(client, f"recipient={last}")
    assert multi.message_id in {m["message_id"] for m in found}
    assert len(found) == sum(last in t.recipients or last in t.orig_to.values() for t in truth)
    partial = _all(client, f"recipient={last.split('@')[0]}")     # a part of an address: substring
    assert multi.message_id in {m["message_id"] for m in partial}
    searched = _all(client, f"search={last}")
    assert multi.message_id in {m["message_id"] for m in searched}


def test_sender_filter_and_search_syntax(client, truth):
    sender = Counter(t.sender for t in truth if t.sender).most_common(1)[0][0]
    found = _all(client, f"sender={sender}")
    assert {m["sender"] for m in found} == {sender}
    assert len(found) == sum(t.sender == sender for t in truth)
    # field query, negation and OR
    from_query = _all(client, f"search=from:{sender}")
    assert len(from_query) == len(found)
    not_delivered = _all(client, f"search=from:{sender} -status:delivered")
    assert len(not_delivered) == sum(t.sender == sender and t.status != "delivered" for t in truth)
    either = _all(client, "search=status:bounced OR status:deferred")
    assert len(either) == sum(t.status in ("bounced", "deferred") for t in truth)


def test_phrase_search_on_subject(client, truth):
    subject = next(t.subject for t in truth if t.subject and " " in t.subject and t.message_id)
    found = _all(client, f'search="{subject}"')
    assert found and all(subject.lower() in (m["subject"] or "").lower() for m in found)


def _scanned(path, word: str) -> list[str]:
    """The messages a plain word search must find, newest first, read by scanning every text
    column of the messages and their recipients (what the search's indexes stand in for)."""
    pattern = f"%{word}%"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as plain:
        return [key for (key,) in plain.execute(
            "SELECT correlation_key FROM message m WHERE sender LIKE :p OR recipients LIKE :p OR subject LIKE :p "
            "OR message_id LIKE :p OR queue_ids LIKE :p OR user LIKE :p OR ip LIKE :p OR reject_reason LIKE :p "
            "OR EXISTS (SELECT 1 FROM recipient r WHERE r.message_ref = m.id AND (r.reply LIKE :p OR r.orig_to LIKE :p)) "
            "ORDER BY first_seen DESC, id DESC", {"p": pattern})]


def _alias_fragment(path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as plain:
        row = plain.execute("SELECT orig_to FROM recipient WHERE orig_to IS NOT NULL LIMIT 1").fetchone()
    assert row, "the simulator rewrites addresses through aliases"
    return row[0].split("@")[0] + "@"


# Words only a refusal (Greylisted), a remote reply (timed out, the remote queue id's "queued as",
# User unknown from a remote server) or an address before alias rewriting holds.
@pytest.mark.parametrize("word", ["greylisted", "timed out", "queued as", "user unknown", "alias"])
def test_a_word_search_finds_every_message_whose_refusal_reply_or_original_address_says_it(client, world, word):
    path = world[2].database_path
    word = _alias_fragment(path) if word == "alias" else word
    expected = set(_scanned(path, word))
    assert expected, word
    assert {m["correlation_key"] for m in _all(client, f'search="{word}"')} == expected
    negated = client.get(f'/api/messages?search=-"{word}"&limit=1').get_json()["total"]
    assert negated == client.get("/api/messages?limit=1").get_json()["total"] - len(expected)


def _commonest_subject_word(path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as plain:
        words = Counter(w.lower() for (subject,) in plain.execute("SELECT subject FROM message WHERE subject IS NOT NULL")
                        for w in set(subject.split()) if len(w) >= 4 and w.isalpha())
    return words.most_common(1)[0][0]


def test_the_first_page_of_a_word_search_is_its_newest_matches_whether_they_are_many_or_only_old(client, world):
    """A search's first page is looked for among the newest messages first (page_of's walk):
    for a word in many messages it is found there; for one only the oldest message has, the
    walk finds too few and the page comes from all matches. Both in the list's order."""
    path = world[2].database_path
    common = _commonest_subject_word(path)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as plain:
        oldest_queue_id = plain.execute("SELECT queue_ids FROM message WHERE queue_ids != '' "
                                        "ORDER BY first_seen, id LIMIT 1").fetchone()[0].split(",")[0]
    for word in (common, oldest_queue_id):
        expected = _scanned(path, word)
        assert expected, word
        for limit in (1, 7, 50):
            body = client.get("/api/messages", query_string={"search": word, "limit": limit}).get_json()
            assert [m["correlation_key"] for m in body["data"]] == expected[:limit], (word, limit)
    assert len(_scanned(path, common)) > 50


@pytest.mark.parametrize("args, walks", [
    ({"search": "weekend"}, True), ({"search": "-weekend subject:offer OR queue:ABC12"}, True),
    ({"search": "weekend", "status": "rejected"}, False),      # a row read per walked message
    ({"search": "OR", "status": "rejected"}, False),           # no terms: no search at all
    ({"search": "ab"}, False), ({"search": "status:bounced"}, False), ({"search": "from:a@example.org"}, False),
])
def test_the_first_page_walks_only_for_a_search_the_indexes_answer_alone(client, args, walks):
    from mailcow_logs_viewer.queries.filters import searched_in_indexes_only
    from mailcow_logs_viewer.queries.scope import ADMIN

    assert searched_in_indexes_only(ADMIN, args) is walks
    assert searched_in_indexes_only(ADMIN.on_server("mx1"), args) is False


def test_rows_read_as_named_tuples_must_be_the_whole_model(client):
    """named_rows maps columns by position: a query selecting other columns is refused, not
    read under the wrong names."""
    from mailcow_logs_viewer.models import Message
    from mailcow_logs_viewer.queries.results import named_rows

    assert next(named_rows(Message.select().limit(1), Message)).correlation_key
    with pytest.raises(ValueError, match="every field of Message"):
        next(named_rows(Message.select(Message.id, Message.sender), Message))


def test_date_range_and_pagination(client, truth):
    first = client.get("/api/messages?limit=1").get_json()["data"][0]["first_seen"]
    page1 = client.get("/api/messages?limit=5&page=1").get_json()["data"]
    page2 = client.get("/api/messages?limit=5&page=2").get_json()["data"]
    assert not {m["correlation_key"] for m in page1} & {m["correlation_key"] for m in page2}
    same_second = client.get(f"/api/messages?start_date={first}&end_date={first}").get_json()
    assert same_second["total"] >= 1
    assert all(m["first_seen"] == first for m in same_second["data"])
    future = client.get("/api/messages?start_date=2999-01-01").get_json()
    assert future["total"] == 0 and future["data"] == []


@pytest.mark.parametrize("query, name", [("limit=501", "limit"), ("page=0", "page"), ("status=lost", "status"),
                                         ("direction=up", "direction"), ("start_date=tomorrow", "start_date"),
                                         ("start_date=2025-02-01&end_date=2025-01-01", "start_date")])
def test_bad_parameters_answer_400_naming_them(client, query, name):
    response = client.get(f"/api/messages?{query}")
    assert response.status_code == 400
    assert name in response.get_json()["detail"]


def test_details_of_a_bounced_message(client, truth):
    bounced = next(t for t in truth if t.status == "bounced" and t.message_id and t.ndr_queue_id)
    item = _all(client, f"search=msgid:{bounced.message_id.strip('<>')}")[0]
    details = client.get(f"/api/message/{item['correlation_key']}/details").get_json()
    assert details["recipients"] == sorted(bounced.recipients, key=str.lower)
    assert details["recipient_count"] == len(bounced.recipients)
    assert {o["recipient"]: o["status"] for o in details["outcomes"]} == bounced.outcomes
    for outcome in details["outcomes"]:
        if outcome["status"] == "bounced":
            assert outcome["dsn"].startswith("5.") and outcome["reply"] and outcome["relay"]
    assert [leg["queue_id"] for leg in details["legs"]] == bounced.queue_ids
    times = [line["time"] for line in details["postfix"]]
    assert times == sorted(times)
    assert "_system" in details["postfix_by_recipient"]
    for recipient in bounced.recipients:
        assert details["postfix_by_recipient"][recipient]
    notice = [r for r in details["related"] if r["relation"] == "notice"]
    assert len(notice) == 1 and notice[0]["sender"] == ""
    assert details["rspamd"] is None or "symbols" in details["rspamd"]


def test_details_unknown_key_is_404(client):
    response = client.get("/api/message/" + "0" * 64 + "/details")
    assert response.status_code == 404 and response.get_json()["detail"]


def test_recent_activity(client, truth):
    activity = client.get("/api/stats/recent-activity?limit=5").get_json()["activity"]
    assert len(activity) == 5
    newest = client.get("/api/messages?limit=5").get_json()["data"]
    assert [a["correlation_key"] for a in activity] == [m["correlation_key"] for m in newest]
    assert set(activity[0]) >= {"time", "sender", "recipient", "subject", "direction", "status", "correlation_key"}


def test_messages_csv_has_the_spec_columns_and_the_list_filters(client, truth):
    response = client.get("/api/export/messages/csv?status=bounced")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and "Z.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Time", "Sender", "Recipient", "Subject", "Direction", "Status", "Queue ID", "Message ID",
                       "Spam Score", "Is Spam", "User", "IP", "Is Complete", "Reason", "DSN", "Relay", "Server"]
    assert len(rows) - 1 == sum(t.status == "bounced" for t in truth)
    assert {r[5] for r in rows[1:]} == {"bounced"}
    # Every bounce says why (the remote reply), with its permanent DSN; a score is a number, never "'-0.1".
    assert all(r[13] and r[14].startswith("5.") for r in rows[1:])
    scores = [r[8] for r in rows[1:] if r[8]]
    assert scores and all(not s.startswith("'") and float(s) == round(float(s), 2) for s in scores)


def test_csv_export_is_capped_and_an_empty_result_is_header_only(client):
    capped = list(csv.reader(io.StringIO(client.get("/api/export/messages/csv").get_data(as_text=True))))
    assert len(capped) == 1 + 100                       # CSV_EXPORT_LIMIT=100 in this module
    empty = client.get("/api/export/messages/csv?start_date=2999-01-01").get_data(as_text=True)
    assert empty.strip().splitlines() == ["Time,Sender,Recipient,Subject,Direction,Status,Queue ID,Message ID,"
                                          "Spam Score,Is Spam,User,IP,Is Complete,Reason,DSN,Relay,Server"]


def test_csv_cells_that_look_like_formulas_are_inert():
    from mailcow_logs_viewer.api.export import inert

    assert inert("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert inert("+1") == "'+1" and inert("-2") == "'-2" and inert("@SUM(A1)") == "'@SUM(A1)"
    assert inert("alice@example.org") == "alice@example.org" and inert(None) == "" and inert(True) == "true"
    assert inert(-3.5) == -3.5 and inert(-2) == -2      # numbers are data, not formulas
