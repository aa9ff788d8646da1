"""Shared fixtures: real SQLite files, the real simulated mailcow over loopback HTTP, and real
servers in subprocesses for end-to-end and browser tests."""
from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SIM_SEED = 7


def corpus_path(*parts: str) -> Path:
    """A file of ../shared/corpus, or skip the test when the corpus is not beside the project."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus file {path} not available")
    return path


def base_env(data_dir: Path, **overrides) -> dict[str, str]:
    env = {"MAILCOW_URL": "http://127.0.0.1:9", "MAILCOW_API_KEY": "TEST-KEY", "DATA_DIR": str(data_dir),
           "LOG_LEVEL": "WARNING"}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@pytest.fixture
def make_settings(tmp_path):
    def make(**overrides):
        return load_settings(base_env(tmp_path / "data", **overrides))
    return make


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def app(settings):
    application = create_app(settings)
    yield application
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def simulator():
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    sim = SimulatedMailcow(TrafficGenerator(seed=SIM_SEED, rate_per_hour=120))
    sim.start()
    yield sim
    sim.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0, auth=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=2, auth=auth).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up within {timeout} s")


class Process:
    """A child process of this repo's run.py, stopped (SIGTERM) at teardown."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = log_path.open("wb")
        full_env = {**os.environ, **env}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real product in a subprocess, fetching from the simulated mailcow in another one.

    Yields a dict with `url` (the app), `mailcow_url`, `data_dir`. Session-scoped: starting
    both takes a few seconds, and the browser and end-to-end tests only read.
    """
    base = tmp_path_factory.mktemp("live")
    sim_port, app_port = free_port(), free_port()
    simulator = Process(["simulate", "--port", str(sim_port), "--seed", str(SIM_SEED), "--preload-hours", "6"],
                        {}, base / "simulator.log")
    mailcow_url = f"http://127.0.0.1:{sim_port}"
    try:
        wait_for(f"{mailcow_url}/api/v1/get/status/version")
        env = base_env(base / "data", MAILCOW_URL=mailcow_url, MAILCOW_API_KEY="SIM-API-KEY",
                       APP_HOST="127.0.0.1", APP_PORT=app_port)
        app = Process([], env, base / "app.log")
        url = f"http://127.0.0.1:{app_port}"
        wait_for(f"{url}/api/health")
        _wait_for_messages(url)
        yield {"url": url, "mailcow_url": mailcow_url, "data_dir": base / "data", "app": app, "simulator": simulator}
        app.stop()
    finally:
        simulator.stop()


def _wait_for_messages(url: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if requests.get(f"{url}/api/messages?limit=1", timeout=5).json().get("total", 0) > 0:
            return
        time.sleep(0.5)
    raise TimeoutError("the app stored no message within a minute")


@pytest.fixture
def fetched_app(make_settings, simulator):
    """An app whose database holds a few simulated hours fetched over real HTTP and correlated."""
    from mailcow_logs_viewer.runtime import Runtime

    now = time.time()
    simulator.preload(hours=6, now=now)
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key,
                             FETCH_COUNT_POSTFIX=5000, FETCH_COUNT_RSPAMD=500, FETCH_COUNT_NETFILTER=2000)
    runtime = Runtime(settings)
    application = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    yield application
    runtime.client.close()
    database.close()


@contextmanager
def simulated_world(data_dir: Path, seed: int, hours: float = 6, rate_per_hour: float = 120, **env):
    """(test client, simulator, settings) over a database holding `hours` of simulated mail,
    fetched over HTTP and correlated. The defaults fit mailcow's buffers: nothing is trimmed."""
    from mailcow_logs_viewer.runtime import Runtime
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    sim = SimulatedMailcow(TrafficGenerator(seed=seed, rate_per_hour=rate_per_hour))
    sim.start()
    sim.preload(hours=hours, now=time.time())
    settings = load_settings(base_env(data_dir, MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key,
                                      FETCH_COUNT_POSTFIX=5000, **env))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    try:
        yield app.test_client(), sim, settings
    finally:
        runtime.client.close()
        sim.stop()
        database.close()


class TwoServers(NamedTuple):
    app: object
    client: object
    sims: dict
    runtime: object
    settings: object


@contextmanager
def two_server_world(data_dir: Path, hours: float = 3, backup_mx: bool = False, **env):
    """Two simulated mailcows (mx1: example.org and example.net; mx2: example.info) over
    loopback HTTP, `hours` of their mail fetched and correlated into one database. Live
    readings are asked afresh on every request (STATUS_CACHE_SECONDS=0). `backup_mx`: mx2 is
    also mx1's backup MX and relays mail for mx1's mailboxes to it."""
    from mailcow_logs_viewer.runtime import Runtime
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    sims = {"mx1": SimulatedMailcow(TrafficGenerator(seed=11, rate_per_hour=120)),
            "mx2": SimulatedMailcow(TrafficGenerator(seed=12, rate_per_hour=60, domains=("example.info",),
                                                     alias_domains=()), api_key="SIM-KEY-MX2")}
    if backup_mx:
        sims["mx2"].generator.relay_to(sims["mx1"].generator)
    now = time.time()
    variables = {"MAILCOW_INSTANCES": "mx1,mx2", "STATUS_CACHE_SECONDS": 0, "FETCH_COUNT_POSTFIX": 5000, **env}
    for name, sim in sims.items():
        sim.preload(hours=hours, now=now)
        sim.start("127.0.0.1", 0)
        variables[f"MAILCOW_{name.upper()}_URL"], variables[f"MAILCOW_{name.upper()}_API_KEY"] = sim.url, sim.api_key
    settings = load_settings(base_env(data_dir, **variables))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    try:
        yield TwoServers(app, app.test_client(), sims, runtime, settings)
    finally:
        runtime.stop()
        for sim in sims.values():
            sim.stop()
        database.close()


def run_scheduled(runner, name: str, timeout: float = 60.0) -> None:
    """Make the scheduler thread run job `name` now, and wait until it has."""
    status = runner.statuses[name]
    before = status.runs
    job = next(j for j in runner.scheduler.jobs if j.job_func.args and j.job_func.args[0] == name)
    job.next_run = datetime.datetime.now()
    deadline = time.time() + timeout
    while status.runs == before:
        assert runner.alive, "the scheduler thread died"
        assert time.time() < deadline, f"the scheduler did not run {name} within {timeout} s"
        time.sleep(0.02)


def assert_hourly_counts_match_messages() -> None:
    """The trigger-kept message_hour table equals a GROUP BY over the messages themselves."""
    direct = database.execute_sql(
        "SELECT first_seen / 3600, COUNT(*), SUM(is_spam), SUM(final_status = 'bounced'), "
        "SUM(final_status = 'rejected'), SUM(direction = 'inbound'), SUM(direction = 'outbound'), "
        "SUM(direction = 'internal') FROM message GROUP BY 1 ORDER BY 1").fetchall()
    kept = database.execute_sql("SELECT hour, SUM(total), SUM(spam), SUM(bounced), SUM(rejected), SUM(inbound), "
                                "SUM(outbound), SUM(internal) FROM message_hour GROUP BY hour HAVING SUM(total) > 0 "
                                "ORDER BY hour").fetchall()
    assert kept == direct


@contextmanager
def served(app, threads: int = 4):
    """`app` behind a real waitress server on a loopback port, in this process; yields its URL."""
    import threading

    from mailcow_logs_viewer.server import make_server

    server = make_server(app, "127.0.0.1", 0, threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(5)
