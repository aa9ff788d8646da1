"""run.py end to end: `simulate`, `fetch` against it and against nothing, the server answering
and stopping cleanly on SIGTERM, and one scheduler per database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mailcow_logs_viewer.config import ENV_VARIABLES
from mailcow_logs_viewer.jobs import JobRunner

from conftest import SIM_SEED, Process, base_env, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "SIM-API-KEY"


def _clean_env(**env) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    base.update({k: str(v) for k, v in env.items()})
    return base


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory):
    try:
        from mailcow_logs_viewer.simulator import main  # noqa: F401
    except (ImportError, AttributeError) as error:
        pytest.skip(f"the simulator's main is not ready: {error}")
    base = tmp_path_factory.mktemp("sim")
    port = free_port()
    process = Process(["simulate", "--port", str(port), "--seed", str(SIM_SEED), "--preload-hours", "3"], {},
                      base / "simulator.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/v1/get/status/version", timeout=60)
    except TimeoutError:
        process.stop()
        pytest.fail(f"simulator did not come up:\n{process.output()}")
    yield url
    process.stop()


def test_simulate_serves_mailcows_api(sim_process):
    response = requests.get(f"{sim_process}/api/v1/get/status/version", headers={"X-API-Key": SIM_KEY}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict) and body.get("version")
    logs = requests.get(f"{sim_process}/api/v1/get/logs/postfix/50", headers={"X-API-Key": SIM_KEY}, timeout=10)
    assert logs.status_code == 200 and isinstance(logs.json(), list) and logs.json()
    wrong = requests.get(f"{sim_process}/api/v1/get/status/version", headers={"X-API-Key": "WRONG-KEY"}, timeout=10)
    assert wrong.status_code != 200 or "version" not in wrong.text


def test_fetch_against_the_simulator(sim_process, tmp_path):
    env = _clean_env(**base_env(tmp_path / "data", MAILCOW_URL=sim_process, MAILCOW_API_KEY=SIM_KEY))
    result = _run(["fetch"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stored "), result.stdout
    assert "'postfix':" in lines[0] and "correlated" in lines[0]
    assert (tmp_path / "data" / "mailcow-logs.db").exists()
    import sqlite3
    with sqlite3.connect(tmp_path / "data" / "mailcow-logs.db") as plain:
        assert plain.execute("SELECT count(*) FROM postfix_line").fetchone()[0] > 0
        assert plain.execute("SELECT count(*) FROM message").fetchone()[0] > 0
    # a second run stores nothing new but still succeeds
    again = _run(["fetch"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "'postfix': 0" in again.stdout


def test_fetch_against_a_closed_port(tmp_path):
    env = _clean_env(**base_env(tmp_path / "data", MAILCOW_URL=f"http://127.0.0.1:{free_port()}",
                                MAILCOW_API_TIMEOUT=5))
    result = _run(["fetch"], env, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "fetch failed" in lines[0] and "connect" in lines[0]
    assert "Traceback" not in result.stderr
    assert "TEST-KEY" not in result.stderr + result.stdout


def test_server_answers_then_stops_on_sigterm(sim_process, tmp_path):
    port = free_port()
    env = base_env(tmp_path / "data", MAILCOW_URL=sim_process, MAILCOW_API_KEY=SIM_KEY, APP_HOST="127.0.0.1")
    app = Process(["--port", str(port)], _clean_env(**env), tmp_path / "app.log")
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/api/health", timeout=60)
        except TimeoutError:
            pytest.fail(f"server did not come up:\n{app.output()}")
        body = requests.get(f"{url}/api/health", timeout=10).json()
        assert body["status"] == "healthy"
        assert body["scheduler"] == "running"
        assert f"http://127.0.0.1:{port}/" in app.output()
        started = time.time()
        app.proc.send_signal(signal.SIGTERM)
        code = app.proc.wait(30)
        assert code == 0, app.output()
        assert time.time() - started < 30
        assert "Traceback" not in app.output()
        with pytest.raises(requests.RequestException):
            requests.get(f"{url}/api/health", timeout=2)
    finally:
        app.stop()


def test_two_schedulers_on_one_database_are_refused(tmp_path):
    key = str((tmp_path / "x.db").resolve())
    first, second = JobRunner(key, tick=0.05), JobRunner(key, tick=0.05)
    first.start(run_immediately=False)
    try:
        assert first.alive
        with pytest.raises(RuntimeError):
            second.start(run_immediately=False)
        with pytest.raises(RuntimeError):
            first.start(run_immediately=False)
        # another database is fine
        other = JobRunner(str((tmp_path / "y.db").resolve()), tick=0.05)
        other.start(run_immediately=False)
        other.stop()
    finally:
        first.stop()
    assert not first.alive
    # once stopped, the database is free again
    second.start(run_immediately=False)
    second.stop()


def test_two_runtimes_on_one_database_are_refused(make_settings):
    from mailcow_logs_viewer.db import database, open_database
    from mailcow_logs_viewer.runtime import Runtime

    settings = make_settings(MAILCOW_API_TIMEOUT=2)
    open_database(settings.database_path)
    first, second = Runtime(settings), Runtime(settings.replace(data_dir=str(settings.database_path.parent) + "/."))
    first.start()
    try:
        with pytest.raises(RuntimeError):
            second.start()
    finally:
        first.stop()
        second.client.close()
        database.close()


# ---------------------------------------------------------------- serve flags (issue 13)

@pytest.mark.parametrize("port", ["0", "65536", "-1", "99999"])
def test_port_out_of_range_is_one_line_and_exit_2(tmp_path, port):
    env = _clean_env(**base_env(tmp_path / "data"))
    result = _run([f"--port={port}"], env, tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("--port:") and port in lines[0], result.stderr


def test_port_in_use_is_one_line_and_exit_2_and_leaves_the_demo_alone(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo_db = tmp_path / "data" / "demo.db"
        demo_db.parent.mkdir(parents=True)
        demo_db.write_bytes(b"another demo's database")
        env = _clean_env(DATA_DIR=str(tmp_path / "data"))
        result = _run(["--demo", "--port", str(port)], env, tmp_path, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot listen on 127.0.0.1:{port}:"), result.stderr
    assert demo_db.read_bytes() == b"another demo's database"      # nothing was started or removed


def test_demo_listens_on_loopback_and_skips_release_checks(tmp_path):
    port = free_port()
    app = Process(["--demo", "--port", str(port)], {"DATA_DIR": str(tmp_path / "data"), "APP_HOST": "0.0.0.0"},
                  tmp_path / "demo.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", timeout=90)
        assert f"on http://127.0.0.1:{port}/" in app.output()
        assert "no release checks" in app.output()
        jobs = requests.get(f"http://127.0.0.1:{port}/api/settings/info", timeout=10).json()["background_jobs"]
        assert "version_check" not in str(jobs)
    finally:
        app.stop()
