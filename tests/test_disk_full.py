"""The disk fills up under the database, then space is freed.

DATA_DIR is a small tmpfs mounted for the test (skipped where mount is not permitted), so
SQLite gets a real ENOSPC (SQLITE_FULL) from the file system while it writes. With the real
scheduler thread running the jobs: the fetch fails with a logged and recorded error, the
process and its scheduler live on, reads keep working; after the file system is grown
(remount with a larger size) the next fetch stores everything mailcow still holds, each line
exactly once, and the file passes an integrity check.
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import time
from collections import Counter

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import NetfilterLine, PostfixLine, RspamdRow
from mailcow_logs_viewer.runtime import Runtime

from conftest import run_scheduled


def _mount(target, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], check=True,
                   capture_output=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path):
    target = tmp_path / "disk"
    target.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    try:
        _mount(target, "1536k")
    except (subprocess.CalledProcessError, OSError) as error:
        pytest.skip(f"cannot mount a tmpfs here: {getattr(error, 'stderr', b'') or error}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _stored_postfix() -> list[tuple]:
    return sorted(PostfixLine.select(PostfixLine.time, PostfixLine.program, PostfixLine.message).tuples())


def _buffer_postfix(sim) -> list[tuple]:
    return sorted((int(e["time"]), e["program"], e["message"]) for e in sim.buffer("postfix"))


def test_disk_full_fails_writes_keeps_reads_and_loses_nothing_once_space_is_freed(small_disk, make_settings,
                                                                                  simulator, caplog):
    start = time.time() - 8 * 3600
    simulator.preload(hours=0.25, now=start)
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key, DATA_DIR=str(small_disk),
                             FETCH_INTERVAL=3600, CORRELATION_CHECK_INTERVAL=3600, FETCH_COUNT_POSTFIX=5000)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    client = app.test_client()
    runner = runtime.build_runner()
    runner.tick = 0.02
    runner.start(run_immediately=False)
    try:
        run_scheduled(runner, "refresh_domains")
        run_scheduled(runner, "fetch_logs")
        assert runner.statuses["fetch_logs"].last_error is None
        stored_before = _stored_postfix()
        assert stored_before == _buffer_postfix(simulator)
        total_before = client.get("/api/messages?limit=1").get_json()["total"]
        assert total_before > 0

        # Hours of mail arrive at once: several times what the disk has left.
        simulator.advance(start + 6 * 3600)
        assert len(simulator.buffer("postfix")) > 3 * len(stored_before)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="mailcow_logs_viewer.jobs"):
            for _ in range(2):
                run_scheduled(runner, "fetch_logs")
                error = runner.statuses["fetch_logs"].last_error
                assert error and "full" in error, error
        assert any("database or disk is full" in r.getMessage() for r in caplog.records)
        assert shutil.disk_usage(small_disk).free < 64 * 1024       # it really was the disk

        # Reads go on from what was committed.
        messages = client.get("/api/messages?limit=5")
        assert messages.status_code == 200 and messages.get_json()["total"] == total_before
        health = client.get("/api/health")
        assert health.status_code == 200 and health.get_json()["database"] == "connected"
        assert health.get_json()["scheduler"] == "running"
        assert health.get_json()["status"] == "degraded"                     # Docker's check sees it
        assert "disk" in health.get_json()["problems"][0]
        # the disk is ours: mailcow answered, so it is not reported unreachable
        assert health.get_json()["mailcow"]["reachable"] is True
        assert client.get("/api/logs/postfix?limit=5").status_code == 200
        info = client.get("/api/settings/info")
        assert info.status_code == 200
        job = info.get_json()["background_jobs"]["fetch_logs"]
        assert job["status"] == "error" and job["failures"] == 2
        # Batches committed before the disk filled stay; the failed one left nothing behind.
        partial = Counter(_stored_postfix())
        assert not partial - Counter(_buffer_postfix(simulator)), "a line stored twice or not from mailcow"
        assert not Counter(stored_before) - partial

        # Space is freed; the next cycles store everything mailcow still holds, once.
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True, capture_output=True)
        run_scheduled(runner, "fetch_logs")
        assert runner.statuses["fetch_logs"].last_error is None
        assert client.get("/api/health").get_json()["status"] == "healthy"
        run_scheduled(runner, "fetch_logs")
        stored, expected = _stored_postfix(), _buffer_postfix(simulator)
        assert len(stored) == len(expected) and stored == expected
        assert RspamdRow.select().count() == len(simulator.buffer("rspamd"))
        assert NetfilterLine.select().count() == len(simulator.buffer("netfilter"))
        assert client.get("/api/messages?limit=1").get_json()["total"] > total_before
        assert runner.alive
    finally:
        runtime.stop()
        database.close()
    with sqlite3.connect(settings.database_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
