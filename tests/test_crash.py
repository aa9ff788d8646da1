"""SIGKILL in the middle of writing, then a restart: nothing corrupt, nothing twice, nothing lost.

A simulated mailcow in its own process holds a big, fixed backlog (tens of thousands of
Postfix lines, so one `python run.py fetch` writes for seconds). One fetch into a fresh
DATA_DIR runs uninterrupted: the reference. Into a second DATA_DIR, a fetch is killed with
SIGKILL while it stages the fetched pages (the WAL growing past a random size), the restarted
fetch is killed while it moves lines into the log table (some batches committed, one in
flight), the next one while it correlates (after the first correlation batch committed), and
a last one runs to the end. Then the file passes `PRAGMA integrity_check`, holds every line
of mailcow's buffer exactly once (as a multiset), and its messages are the reference's.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import ENV_VARIABLES, load_settings
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.queries import STATUSES

from conftest import ROOT, base_env, free_port

SIM_KEY = "SIM-API-KEY"
HOURS, RATE = 2.0, 1200          # about 24,000 Postfix lines, 2,000 messages
FETCH_COUNTS = {"FETCH_COUNT_POSTFIX": 20000, "FETCH_COUNT_RSPAMD": 5000, "FETCH_COUNT_NETFILTER": 5000}

# A mailcow whose buffers are as long as what it generated, ending an hour ago so that no
# line is young enough for the correlation to depend on the wall clock, and no live traffic:
# the buffer is the same for every run.
_SIMULATOR = """
import sys, time
sys.path.insert(0, {root!r})
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator
sim = SimulatedMailcow(TrafficGenerator(seed=11, rate_per_hour={rate}), api_key={key!r},
                       buffer_postfix=10**7, buffer_rspamd=10**7, buffer_netfilter=10**7)
sim.preload({hours}, now=time.time() - 3600)
sim.start("127.0.0.1", {port})
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def big_mailcow(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("crash-sim") / "simulator.log").open("wb")
    script = _SIMULATOR.format(root=str(ROOT), rate=RATE, key=SIM_KEY, hours=HOURS, port=port)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"{url}/api/v1/get/status/version", headers={"X-API-Key": SIM_KEY}, timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.time() < deadline, "the simulator did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.kill()
        proc.wait()
        log.close()


def _buffer(url: str, source: str) -> list:
    endpoint = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter"}[source]
    data = requests.get(f"{url}/api/v1/get/logs/{endpoint}/10000000", headers={"X-API-Key": SIM_KEY}, timeout=60).json()
    return data if isinstance(data, list) else []


def _env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    env.update(base_env(data_dir, MAILCOW_URL=url, MAILCOW_API_KEY=SIM_KEY, **FETCH_COUNTS))
    return env


def _start_fetch(data_dir: Path, url: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "fetch"], cwd=ROOT, env=_env(data_dir, url),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


class _Reader:
    """Reads through one connection of its own, as another process would; None while unreadable."""

    def __init__(self, db: Path):
        self.db, self.connection = db, None

    def __call__(self, sql: str):
        try:
            if self.connection is None:
                if not self.db.exists():
                    return None
                self.connection = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1, isolation_level=None)
            return self.connection.execute(sql).fetchone()
        except sqlite3.Error:
            self.close()
            return None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _kill_when(proc: subprocess.Popen, db: Path, condition, what: str, delay: float = 0.0,
               timeout: float = 120) -> dict:
    """SIGKILL `proc` as soon as `condition()` holds, after a random delay of up to `delay` s."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the fetch ended (rc {proc.returncode}) before {what}"
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.001)
    time.sleep(random.uniform(0, delay))
    wal = Path(f"{db}-wal")
    seen = {"wal_bytes": wal.stat().st_size if wal.exists() else 0}
    assert proc.poll() is None, f"the fetch ended before it could be killed {what}"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    return seen


def _lines(db: Path) -> dict:
    with sqlite3.connect(db) as connection:
        return {
            "integrity": connection.execute("PRAGMA integrity_check").fetchall(),
            "postfix": Counter(connection.execute("SELECT time, program, priority, message FROM postfix_line")),
            "rspamd": connection.execute("SELECT COUNT(*) FROM rspamd_row").fetchone()[0],
            "netfilter": connection.execute("SELECT COUNT(*) FROM netfilter_line").fetchone()[0],
            "messages": sorted(connection.execute(
                "SELECT correlation_key, final_status, direction, sender, recipients, recipient_count, is_complete, "
                "is_spam, has_postfix, has_rspamd, message_id, subject FROM message")),
        }


def _api_totals(data_dir: Path, url: str) -> dict:
    settings = load_settings(base_env(data_dir, MAILCOW_URL=url, MAILCOW_API_KEY=SIM_KEY))
    client = create_app(settings).test_client()
    try:
        totals = {"all": client.get("/api/messages?limit=1").get_json()["total"]}
        for status in STATUSES:
            response = client.get(f"/api/messages?status={status}&limit=1")
            assert response.status_code == 200
            totals[status] = response.get_json()["total"]
        return totals
    finally:
        database.close()


def test_sigkill_while_storing_and_while_correlating_then_restart(big_mailcow, tmp_path):
    seed = random.randrange(1 << 30)
    random.seed(seed)
    print(f"random seed {seed}")
    buffer_postfix = Counter((int(e["time"]), e["program"], e.get("priority", "info"), e["message"])
                             for e in _buffer(big_mailcow, "postfix") if e is not None)
    total = sum(buffer_postfix.values())
    assert total > 15000

    clean_dir = tmp_path / "clean"
    clean = subprocess.run([sys.executable, str(ROOT / "run.py"), "fetch"], cwd=ROOT, env=_env(clean_dir, big_mailcow),
                           capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr

    log = tmp_path / "fetch.log"
    data_dir = tmp_path / "crashed"
    db = data_dir / "mailcow-logs.db"
    wal = Path(f"{db}-wal")
    read = _Reader(db)
    stored_rows = lambda: (read("SELECT COUNT(*) FROM postfix_line") or (0,))[0]  # noqa: E731
    kills = []

    # 1. Killed while staging the fetched pages (the WAL grows, nothing is in the log table yet).
    proc = _start_fetch(data_dir, big_mailcow, log)
    threshold = random.randint(400_000, 1_500_000)       # the schema alone is ~250 kB of WAL
    kills.append(_kill_when(proc, db, lambda: wal.exists() and wal.stat().st_size >= threshold, "staging"))
    kills[-1]["committed"] = stored_rows()
    assert read("PRAGMA integrity_check") == ("ok",)

    # 2. Restarted, killed while moving lines into the log table: some batches committed, one
    # in flight. Should the move have ended before the kill landed, the next restart tries again.
    for attempt in range(3):
        target = random.randint(1, int(total * 0.6))
        proc = _start_fetch(data_dir, big_mailcow, log)
        kills.append(_kill_when(proc, db, lambda: stored_rows() >= target, "storing lines"))
        kills[-1]["committed"] = committed = stored_rows()
        if committed < total:
            break
    assert 0 < committed < total, committed
    assert read("PRAGMA integrity_check") == ("ok",)

    # 3. Restarted, killed while correlating: the first correlation batch is committed,
    # its messages not all recomputed yet.
    proc = _start_fetch(data_dir, big_mailcow, log)
    kills.append(_kill_when(proc, db, lambda: read("SELECT value FROM state WHERE key = 'correlate_postfix'") is not None,
                            "correlating", delay=0.05))
    kills[-1]["committed"] = stored_rows()
    read.close()
    print(f"{total} lines; kills: {kills}")
    assert kills[-1]["committed"] == total

    # 3. Restarted, runs to the end.
    final = subprocess.run([sys.executable, str(ROOT / "run.py"), "fetch"], cwd=ROOT, env=_env(data_dir, big_mailcow),
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr

    crashed, reference = _lines(db), _lines(clean_dir / "mailcow-logs.db")
    assert crashed["integrity"] == [("ok",)]
    duplicated = +(crashed["postfix"] - buffer_postfix)
    missing = +(buffer_postfix - crashed["postfix"])
    assert not duplicated, f"{sum(duplicated.values())} lines stored twice, e.g. {list(duplicated)[:3]}"
    assert not missing, f"{sum(missing.values())} lines missing, e.g. {list(missing)[:3]}"
    assert reference["postfix"] == buffer_postfix
    assert crashed["rspamd"] == reference["rspamd"] == len(_buffer(big_mailcow, "rspamd"))
    assert crashed["netfilter"] == reference["netfilter"] == len(_buffer(big_mailcow, "netfilter"))
    wrong = set(crashed["messages"]) ^ set(reference["messages"])
    assert not wrong, (f"{len(wrong)} message rows differ from the uninterrupted run, e.g. "
                       f"{json.dumps(sorted(wrong, key=str)[:4], default=str)}")
    assert len(crashed["messages"]) == len(reference["messages"]) > 1000

    crashed_totals = _api_totals(data_dir, big_mailcow)
    assert crashed_totals == _api_totals(clean_dir, big_mailcow)
    assert crashed_totals["pending"] < crashed_totals["all"]
