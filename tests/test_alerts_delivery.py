"""Delivery: failing channels are retried with backoff and reported, a hanging channel does not
delay fetching (measured on the real scheduler thread), "send a test" from the API and from
`run.py alert-test`, all against real loopback receivers."""
from __future__ import annotations

import subprocess
import sys
import time

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import Alert, AlertNotification, Gap
from mailcow_logs_viewer.runtime import Runtime

from conftest import ROOT, base_env, free_port, run_scheduled
from receivers import HttpReceiver, SmtpReceiver


def _gap(now: int) -> None:
    """Data for the gap rule: lines mailcow trimmed before the fetch reached them."""
    Gap.create(server="mx", source="postfix", start_time=now - 120, end_time=now - 60, estimated_missed=40, detected_at=now - 30)


def test_failing_channels_are_retried_with_backoff_and_reported(tmp_path):
    failing = HttpReceiver(mode="error")
    refused = f"http://127.0.0.1:{free_port()}/topic"
    settings = load_settings(base_env(tmp_path / "data", ALERT_WEBHOOK_URL=f"{failing.url}/webhook",
                                      ALERT_NTFY_URL=refused, ALERT_RETRY_SECONDS=1, ALERT_MAX_ATTEMPTS=3,
                                      ALERT_CONTAINER="off", ALERT_QUEUE="off", ALERT_STORAGE="off"))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    engine = runtime.alerts
    engine.start()
    try:
        _gap(int(time.time()))
        assert engine.evaluate()["notifications"] == 2
        deadline = time.time() + 30
        while not engine.sender.idle():
            assert time.time() < deadline
            time.sleep(0.05)
        engine.persist_results()
        attempts = [r["at"] for r in failing.requests]
        assert len(attempts) == 3                             # ALERT_MAX_ATTEMPTS
        assert attempts[1] - attempts[0] >= 0.9 and attempts[2] - attempts[1] >= 1.9   # 1 s, then 2 s
        rows = {row.channel: row for row in AlertNotification.select()}
        assert rows["webhook"].status == "failed" and rows["webhook"].last_error == "HTTP 500"
        assert rows["ntfy"].status == "failed" and rows["ntfy"].last_error == "connection failed"
        channels = {c["channel"]: c for c in app.test_client().get("/api/settings/info").get_json()["alerts"]["channels"]}
        assert channels["webhook"]["failed"] == 1 and channels["webhook"]["failed_attempts"] == 3
        assert channels["ntfy"]["last_error"] == "connection failed"
        assert refused not in str(channels) and failing.url not in str(channels)
        # The alert itself is open, once, whatever the channels did.
        assert Alert.select().where(Alert.key == "gap:postfix", Alert.state == "open").count() == 1
    finally:
        runtime.stop()
        failing.stop()
        database.close()


def test_a_hanging_channel_does_not_delay_fetching(tmp_path, simulator):
    """The webhook never answers (30 s timeout); the fetch and the alerts job keep their pace."""
    hanging = HttpReceiver(mode="hang")
    simulator.preload(hours=1, now=time.time())
    settings = load_settings(base_env(tmp_path / "data", MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key,
                                      ALERT_WEBHOOK_URL=f"{hanging.url}/webhook", ALERT_CHANNEL_TIMEOUT=30,
                                      ALERT_CONTAINER="off"))
    runtime = Runtime(settings)
    create_app(settings, runtime)
    runner = runtime.start()
    try:
        run_scheduled(runner, "fetch_logs")
        baseline = []
        for _ in range(3):
            simulator.advance(time.time())
            run_scheduled(runner, "fetch_logs")
            baseline.append(runner.statuses["fetch_logs"].last_duration)
        _gap(int(time.time()))
        run_scheduled(runner, "evaluate_alerts")
        deadline = time.time() + 10
        while not hanging.requests:
            assert time.time() < deadline, "the webhook was never called"
            time.sleep(0.05)
        hung_fetch, hung_eval = [], []
        for _ in range(3):
            simulator.advance(time.time())
            run_scheduled(runner, "fetch_logs")
            hung_fetch.append(runner.statuses["fetch_logs"].last_duration)
            run_scheduled(runner, "evaluate_alerts")
            hung_eval.append(runner.statuses["evaluate_alerts"].last_duration)
        assert not runtime.alerts.sender.idle()            # the webhook is still stuck in its request
        print(f"fetch before {max(baseline):.3f} s, while the webhook hangs {max(hung_fetch):.3f} s; "
              f"alerts job {max(hung_eval):.3f} s")
        assert max(hung_fetch) < max(baseline) * 3 + 0.5
        assert max(hung_eval) < 0.5
    finally:
        hanging.stop()
        runtime.stop()
        database.close()


def test_send_a_test_from_the_api_and_the_command_line(tmp_path):
    http, smtp = HttpReceiver(), SmtpReceiver()
    env = base_env(tmp_path / "data", ALERT_SLACK_WEBHOOK_URL=f"{http.url}/slack", SMTP_HOST="127.0.0.1",
                   SMTP_PORT=smtp.port, SMTP_TLS="none", SMTP_FROM="mlv@example.org", ALERT_EMAIL_TO="admin@example.org")
    settings = load_settings(env)
    runtime = Runtime(settings)
    client = create_app(settings, runtime).test_client()
    runtime.alerts.start()
    try:
        assert client.post("/api/alerts/test", data="x").status_code == 400           # not JSON
        answer = client.post("/api/alerts/test", json={})
        assert answer.status_code == 202 and answer.get_json() == {"queued": ["slack", "email"]}
        assert runtime.alerts.sender.wait_idle(20)
        assert [t.splitlines()[0] for t in http.texts("/slack")] == ["[TEST] Test notification from Mailcow Logs Viewer"]
        assert smtp.subjects() == ["[TEST] Test notification from Mailcow Logs Viewer"]
        assert AlertNotification.select().count() == 0                              # nothing written by the request
        done = subprocess.run([sys.executable, str(ROOT / "run.py"), "alert-test"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["slack: sent", "email: sent"]
        assert len(http.texts("/slack")) == 2 and len(smtp.messages) == 2
        http.mode = "error"
        done = subprocess.run([sys.executable, str(ROOT / "run.py"), "alert-test"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "slack: failed (HTTP 500)" in done.stdout
        bare = create_app(load_settings(base_env(tmp_path / "bare")), Runtime(load_settings(base_env(tmp_path / "bare"))))
        answer = bare.test_client().post("/api/alerts/test", json={})
        assert answer.status_code == 400 and "ALERT_WEBHOOK_URL" in answer.get_json()["detail"]
    finally:
        runtime.stop()
        http.stop()
        smtp.stop()
        database.close()
