"""The number of SQL statements of the busiest answers is pinned: a change that adds one query
per row (or per anything that grows) fails here, not in production at 50k messages."""
from __future__ import annotations

import pytest
from playhouse.test_utils import count_queries

from mailcow_logs_viewer.db import open_database

from conftest import SIM_SEED, simulated_world

# Each request also sets and clears PRAGMA query_only (db.begin_reading/end_reading): 2 statements.
READING = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with simulated_world(tmp_path_factory.mktemp("counts"), SIM_SEED) as built:
        yield built


@pytest.fixture
def client(world):
    open_database(world[2].database_path)
    return world[0]


def statements(client, url: str) -> int:
    client.get(url)     # warm: the cached table counts (row_count) are read once per change
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return counter.count


@pytest.mark.parametrize("url, expected", [
    # the total from the hourly counters, the page's ids (on the order index), its rows, their outcomes
    ("/api/messages?limit=5", 4),
    ("/api/messages?limit=500", 4),
    ("/api/messages?page=3&limit=20&status=delivered", 4),
    # three windows of hourly counters (whole hours, then the partial hours at the start and,
    # since the windows end at `end`, at the end), the permanent/temporary rejected split of
    # both windows in one pass, the data range, the two discarded counts and the two
    # auth-failure counts
    ("/api/stats/dashboard", 15),
    # local domains, import states, gaps; per source (four) its id bounds (cached count) and
    # oldest line and its API traffic (kept in State); the message total, incomplete and expired
    # counts, the correlator's position, the newest incomplete messages; the open alerts and
    # the stored notifications per channel (alerts block)
    ("/api/settings/info", 26),
])
def test_statement_counts_are_pinned(client, url, expected):
    assert statements(client, url) - READING == expected, url


# the message, its facts as the correlator reads them (facts.load_facts: legs, the lines in its
# legs, its NOQUEUE lines, Rspamd rows, the notices its legs announced), its outcomes, the
# Dovecot lines, the netfilter lines of its client, its notices, the messages sharing its Message-ID (and, for a
# notice, the message it reports on: one more). A message without legs or Message-ID skips
# the queries about those, so both compared messages have them.
DETAILS = 11


def test_message_details_count_does_not_depend_on_its_lines(client):
    messages = client.get("/api/messages?limit=500").get_json()["data"]
    with_ip = [m for m in messages if m["ip"] and m["queue_ids"] and m["message_id"]]
    small = min(with_ip, key=lambda m: len(m["queue_ids"]) + m["recipient_count"])
    large = max(with_ip, key=lambda m: len(m["queue_ids"]) + m["recipient_count"])
    assert large["recipient_count"] + len(large["queue_ids"]) > small["recipient_count"] + len(small["queue_ids"])
    counts = {statements(client, f"/api/message/{m['correlation_key']}/details") - READING for m in (small, large)}
    assert counts == {DETAILS}
