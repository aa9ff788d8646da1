"""Ingest end to end against the simulated mailcow over real HTTP: every line stored exactly
once, bursts recovered by paging back, trimmed lines reported as gaps, faults survived."""
from __future__ import annotations

import time

import pytest

from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.mailcow import MailcowAuthError, MailcowClient
from mailcow_logs_viewer.log_rows import SOURCES
from mailcow_logs_viewer.models import Gap, ImportState, NetfilterLine, PostfixLine, RspamdRow
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

from conftest import SIM_SEED


def _stored_postfix() -> list[tuple]:
    return sorted((r.time, r.program, r.message) for r in PostfixLine.select())


def _buffer_postfix(sim) -> list[tuple]:
    return sorted((int(e["time"]), e["program"], e["message"]) for e in sim.buffer("postfix"))


@pytest.fixture
def ingest_env(make_settings, simulator):
    """(simulator, a function making an Ingestor with given fetch counts) on a fresh database."""
    from mailcow_logs_viewer.db import open_database

    made = []

    def make(postfix=500, rspamd=100, netfilter=200, **overrides):
        settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key,
                                 FETCH_COUNT_POSTFIX=postfix, FETCH_COUNT_RSPAMD=rspamd,
                                 FETCH_COUNT_NETFILTER=netfilter, **overrides)
        open_database(settings.database_path)
        client = MailcowClient(settings.mailcow_url, settings.mailcow_api_key, retries=1, backoff=0.01)
        made.append(client)
        return Ingestor(client, settings)

    yield simulator, make
    for client in made:
        client.close()
    database.close()


def test_first_run_imports_everything_mailcow_holds(ingest_env):
    sim, make = ingest_env
    sim.preload(hours=3, now=time.time())
    results = make().fetch_all()
    assert results["postfix"]["pages"] > 1          # more than one fetch count: it paged back
    assert _stored_postfix() == _buffer_postfix(sim)
    assert RspamdRow.select().count() == len(sim.buffer("rspamd"))
    assert NetfilterLine.select().count() == len(sim.buffer("netfilter"))
    assert Gap.select().count() == 0


def test_restarts_and_overlapping_fetches_store_each_line_once(ingest_env):
    sim, make = ingest_env
    now = time.time() - 3 * 3600
    sim.preload(hours=1, now=now)
    make().fetch_all()
    for step in range(1, 6):
        sim.advance(now + step * 600)
        make().fetch_all()            # a new Ingestor each time: nothing is remembered in memory
        make().fetch_all()            # the same window twice
    assert _stored_postfix() == _buffer_postfix(sim)
    assert RspamdRow.select().count() == len(sim.buffer("rspamd"))
    assert Gap.select().count() == 0


def test_identical_lines_in_the_same_second_are_two_events(ingest_env):
    sim, make = ingest_env
    line = {"time": str(int(time.time())), "priority": "info", "program": "postfix/anvil",
            "message": "statistics: max cache size 4 at Apr  8 10:12:33"}
    sim.push("postfix", [line, dict(line)])
    make().fetch_all()
    make().fetch_all()
    assert PostfixLine.select().where(PostfixLine.message == line["message"]).count() == 2


def test_a_burst_larger_than_the_fetch_count_is_recovered_by_paging_back(ingest_env):
    sim, make = ingest_env
    start = time.time() - 6 * 3600
    sim.preload(hours=0.5, now=start)
    make(postfix=200).fetch_all()
    sim.advance(start + 2 * 3600)        # ~10x the fetch count of new lines
    result = make(postfix=200).fetch_source("postfix")
    assert result.pages > 3
    assert result.gap_missed == 0
    assert _stored_postfix() == _buffer_postfix(sim)


def test_a_burst_larger_than_mailcows_buffer_is_a_gap_of_about_the_right_size():
    sim = SimulatedMailcow(TrafficGenerator(seed=SIM_SEED, rate_per_hour=600), buffer_postfix=2000)
    sim.start()
    try:
        from mailcow_logs_viewer.config import load_settings
        from mailcow_logs_viewer.db import open_database
        import tempfile
        with tempfile.TemporaryDirectory() as data_dir:
            settings = load_settings({"MAILCOW_URL": sim.url, "MAILCOW_API_KEY": sim.api_key, "DATA_DIR": data_dir,
                                      "FETCH_COUNT_POSTFIX": "500"})
            open_database(settings.database_path)
            client = MailcowClient(sim.url, sim.api_key)
            start = time.time() - 10 * 3600
            sim.preload(hours=0.25, now=start)
            Ingestor(client, settings).fetch_source("postfix")
            produced_before = sim.generator.line_counts["postfix"]
            sim.advance(start + 3 * 3600)
            produced = sim.generator.line_counts["postfix"] - produced_before
            trimmed = produced - len(sim.buffer("postfix"))
            assert trimmed > 2000
            result = Ingestor(client, settings).fetch_source("postfix")
            gap = Gap.get(Gap.source == "postfix")
            assert result.gap_missed == gap.estimated_missed
            assert abs(gap.estimated_missed - trimmed) <= 0.25 * trimmed
            assert gap.start_time < gap.end_time
            client.close()
            database.close()
    finally:
        sim.stop()


def test_a_401_is_not_retried_and_says_so(ingest_env):
    sim, make = ingest_env
    sim.preload(hours=0.5, now=time.time())
    ingestor = make()
    ingestor.client.session.headers["X-API-Key"] = "WRONG-KEY-123"
    before = sim.count_requests("/api/v1/get/logs/postfix")
    with pytest.raises(MailcowAuthError) as raised:
        ingestor.fetch_source("postfix")
    assert sim.count_requests("/api/v1/get/logs/postfix") - before == 1
    assert "401" in str(raised.value) and "WRONG-KEY" not in str(raised.value)


@pytest.mark.parametrize("fault", ["empty_object", "null_entries", "error500", "truncated", "empty_body"])
def test_faults_lose_nothing_once_mailcow_recovers(ingest_env, fault):
    sim, make = ingest_env
    now = time.time() - 2 * 3600
    sim.preload(hours=0.5, now=now)
    make().fetch_all()
    sim.set_fault(fault)
    for step in range(1, 3):
        sim.advance(now + step * 300)
        try:
            make().fetch_all()
        except Exception as error:          # the scheduler logs it and goes on
            assert fault in ("error500", "truncated", "empty_body"), error
    sim.set_fault(None)
    make().fetch_all()
    assert _stored_postfix() == _buffer_postfix(sim)
    if fault == "null_entries":
        assert ImportState.get(source="postfix").unparsed > 0


def test_a_malformed_entry_is_kept_raw_and_the_rest_of_the_batch_lands(ingest_env):
    sim, make = ingest_env
    now = int(time.time())
    good = [{"time": str(now), "priority": "info", "program": "postfix/qmgr", "message": f"ABCDEF{i:05X}: removed"}
            for i in range(10)]
    bad = [{"time": "not a time", "message": 42}, "just a string", {"priority": "info"}]
    sim.push("postfix", good[:5] + bad + good[5:])
    sim.push("rspamd", [{"unix_time": "soon", "score": "x"}, {"unix_time": now, "message-id": "a@b", "score": 1,
                                                               "action": "no action", "symbols": {}}])
    result = make().fetch_all()
    assert result["postfix"]["stored"] == 13 and result["postfix"]["unparsed"] == 3
    raw = PostfixLine.select().where(PostfixLine.parsed == False)  # noqa: E712
    assert raw.count() == 3
    assert PostfixLine.select().where(PostfixLine.parsed == True).count() == 10  # noqa: E712
    assert RspamdRow.select().count() == 2
    assert RspamdRow.select().where(RspamdRow.parsed == False).count() == 1  # noqa: E712


def test_a_named_servers_fetch_stamps_every_row_and_its_state_with_it(ingest_env):
    from mailcow_logs_viewer.models import DovecotLine, ImportState, State

    sim, make = ingest_env
    sim.preload(hours=1, now=time.time())
    ingestor = make()
    named = Ingestor(ingestor.client, ingestor.settings, server="mx9")
    named.fetch_all()
    for model in (PostfixLine, RspamdRow, NetfilterLine, DovecotLine):
        assert {s for (s,) in model.select(model.server).distinct().tuples()} == {"mx9"}, model
    assert {(s.server, s.source) for s in ImportState.select()} == {("mx9", n) for n in SOURCES}
    assert State.get_or_none(State.key == "fetch_traffic:mx9:postfix") is not None
    # Another server's fetch of the same lines stores them again, as its own.
    before = PostfixLine.select().count()
    ingestor.fetch_all()
    assert PostfixLine.select().where(PostfixLine.server == ingestor.server).count() == before
