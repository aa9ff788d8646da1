"""The mailcow API key and the auth password never leave the process.

The real server runs as a subprocess with AUTH_ENABLED, a distinctive AUTH_PASSWORD, a
distinctive MAILCOW_API_KEY (which the simulated mailcow accepts) and LOG_LEVEL=DEBUG. Every
route of the URL map is requested without credentials, with wrong ones and with the right
ones, in three states: mailcow answering, mailcow refusing the key (401, restarted with
another key) and mailcow down (502s). Then every response (status line, headers, body), the
whole process output and every non-SQLite file under DATA_DIR are searched for the secrets
(as given, base64 in the Basic credentials, URL-encoded): zero hits.
"""
from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import ENV_VARIABLES, load_settings
from mailcow_logs_viewer.db import database

from conftest import ROOT, Process, base_env, free_port, wait_for

API_KEY = "MLV-SECRET-APIKEY-4b7d0e9c1a"          # the simulator keeps only [A-Za-z0-9-] of a key
PASSWORD = "Pw-SECRET-hunter2-88f1c3"
USER = "admin"
OTHER_KEY = "SIM-OTHER-KEY"
# Alert channel secrets: the channels point at closed ports, so every delivery fails and is logged.
CHANNEL_SECRETS = {"ALERT_WEBHOOK_SECRET": "whsec-SECRET-5d1e", "ALERT_TELEGRAM_BOT_TOKEN": "999:TG-SECRET-c0ffee",
                   "SMTP_PASSWORD": "smtp-SECRET-pw-77", "ALERT_NTFY_TOKEN": "tk_SECRET_ntfy_31",
                   "ALERT_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T0/B0/SLACK-SECRET-aa11"}


def _needles() -> list[str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    forms = {API_KEY, PASSWORD, token, token.rstrip("="), quote(PASSWORD), quote(API_KEY),
             *CHANNEL_SECRETS.values(), "SLACK-SECRET-aa11",
             base64.b64encode(PASSWORD.encode()).decode().rstrip("="), base64.b64encode(API_KEY.encode()).decode().rstrip("=")}
    return sorted(forms)


def _routes() -> list[str]:
    """Every GET rule of the app's URL map, with sample values for its arguments."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(load_settings(base_env(Path(data_dir))))
        try:
            rules = [(rule.rule, rule.arguments) for rule in app.url_map.iter_rules() if "GET" in rule.methods]
        finally:
            database.close()
    return rules


def _expand(rules, correlation_key: str, queue_id: str) -> list[str]:
    samples = {"correlation_key": [correlation_key, "0" * 64], "queue_id": [queue_id, "NOSUCHQUEUE"],
               "source": ["postfix", "rspamd", "netfilter", "nosuch"],
               "filename": [str(p.relative_to(ROOT / "static")) for p in (ROOT / "static").rglob("*") if p.is_file()]}
    paths = []
    for rule, arguments in rules:
        if not arguments:
            paths.append(rule)
            continue
        (name,) = arguments
        head, _, tail = rule.partition("<")
        tail = tail.partition(">")[2]
        paths.extend(f"{head}{value}{tail}" for value in samples[name])
    # Errors on purpose: unknown paths, bad parameters, wrong methods.
    paths += ["/api/nosuch", "/api/messages?limit=-1", "/api/messages?status=nosuch", "/api/logs/postfix?start=x",
              "/api/stats/timeline?hours=x", "/nosuch-page", "/api/"]
    return paths


def _sim(port: int, key: str, log: Path) -> Process:
    process = Process(["simulate", "--port", str(port), "--seed", "3", "--preload-hours", "1", "--api-key", key],
                      {}, log)
    wait_for(f"http://127.0.0.1:{port}/api/v1/get/status/version")
    return process


def _wait_mailcow_error(url: str, auth, text: str, timeout: float = 40) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        block = requests.get(f"{url}/api/health", timeout=10).json()["mailcow"]
        if block["reachable"] is False and text in (block["last_error"] or ""):
            return
        time.sleep(0.3)
    raise AssertionError(f"the app did not report {text!r} from mailcow within {timeout} s: {block}")


def test_secrets_appear_in_no_response_log_or_file(tmp_path):
    sim_port, app_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    sim = _sim(sim_port, API_KEY, tmp_path / "sim1.log")
    env = {k: "" for k in ENV_VARIABLES if k in os.environ}
    env.update(base_env(data_dir, MAILCOW_URL=f"http://127.0.0.1:{sim_port}", MAILCOW_API_KEY=API_KEY,
                        AUTH_ENABLED="true", AUTH_USERNAME=USER, AUTH_PASSWORD=PASSWORD, LOG_LEVEL="DEBUG",
                        FETCH_INTERVAL=10, APP_HOST="127.0.0.1", APP_PORT=app_port, STATUS_CACHE_SECONDS=0,
                        APP_VERSION_URL="http://127.0.0.1:9/releases/latest",
                        MAILCOW_VERSION_URL="http://127.0.0.1:9/releases/latest", **CHANNEL_SECRETS,
                        ALERT_WEBHOOK_URL="http://127.0.0.1:9/hook", ALERT_TELEGRAM_CHAT_ID="1",
                        ALERT_TELEGRAM_API_URL="http://127.0.0.1:9", ALERT_NTFY_URL="http://127.0.0.1:9/topic",
                        SMTP_HOST="127.0.0.1", SMTP_PORT=9, SMTP_USER="mlv", SMTP_FROM="mlv@example.org",
                        ALERT_EMAIL_TO="admin@example.org", ALERT_RETRY_SECONDS=1, ALERT_MAX_ATTEMPTS=2))
    app = Process([], env, tmp_path / "app.log")
    url = f"http://127.0.0.1:{app_port}"
    auth = (USER, PASSWORD)
    collected: list[tuple[str, str, bytes]] = []      # (what, status line + headers, body)
    try:
        wait_for(f"{url}/api/health")
        deadline = time.time() + 60
        while requests.get(f"{url}/api/messages?limit=1", auth=auth, timeout=10).json().get("total", 0) == 0:
            assert time.time() < deadline, "no message fetched"
            time.sleep(0.3)
        first = requests.get(f"{url}/api/messages?limit=1", auth=auth, timeout=10).json()["data"][0]
        lines = requests.get(f"{url}/api/logs/postfix?limit=50", auth=auth, timeout=10).json()["data"]
        queue_id = next(line["queue_id"] for line in lines if line.get("queue_id"))
        paths = _expand(_routes(), first["correlation_key"], queue_id)

        def sweep(phase: str) -> None:
            session = requests.Session()
            for path in paths:
                for who, credentials in (("anonymous", None), ("user", auth)):
                    response = session.get(f"{url}{path}", auth=credentials, timeout=60, allow_redirects=False)
                    head = f"{response.status_code} {response.reason}\n" + "\n".join(
                        f"{k}: {v}" for k, v in response.headers.items())
                    collected.append((f"{phase} {who} GET {path}", head, response.content))
                    assert response.status_code != 500, f"{phase} {who} {path}: 500"
            # A few wrong logins (fewer than the lockout), a wrong scheme, and a method not allowed.
            for credentials in ((USER, PASSWORD + "x"), ("root", PASSWORD), (USER, "")):
                response = session.get(f"{url}/api/messages", auth=credentials, timeout=30)
                assert response.status_code == 401
                collected.append((f"{phase} wrong login", str(dict(response.headers)), response.content))
            response = session.post(f"{url}/api/messages", auth=auth, data={"password": "x"}, timeout=30)
            collected.append((f"{phase} POST", str(dict(response.headers)), response.content))
            response = session.post(f"{url}/api/alerts/test", auth=auth, json={}, timeout=30)
            assert response.status_code == 202
            collected.append((f"{phase} POST alerts/test", str(dict(response.headers)), response.content))

        sweep("mailcow up")
        statuses = {what: head.split(" ", 1)[0] for what, head, _ in collected}
        assert statuses["mailcow up user GET /api/messages"] == "200"
        assert statuses["mailcow up anonymous GET /api/messages"] == "401"
        assert statuses["mailcow up user GET /api/status/containers"] == "200"

        # mailcow refuses our key: 401s from mailcow, logged by the fetch job and answered as 502.
        sim.stop()
        sim = _sim(sim_port, OTHER_KEY, tmp_path / "sim2.log")
        _wait_mailcow_error(url, auth, "401")
        sweep("mailcow 401")
        assert requests.get(f"{url}/api/status/containers", auth=auth, timeout=30).status_code == 502

        # mailcow down.
        sim.stop()
        _wait_mailcow_error(url, auth, "cannot connect")
        sweep("mailcow down")
        assert requests.get(f"{url}/api/queue", auth=auth, timeout=30).status_code == 502
    finally:
        app.stop()
        sim.stop()

    output = (tmp_path / "app.log").read_text(errors="replace")
    assert "401" in output and "job fetch_logs failed" in output     # the errors were logged...
    assert "alert channel telegram: delivery failed" in output and "alert channel email: delivery failed" in output
    assert "DEBUG" in output or "INFO" in output                     # ...at the verbose level asked for
    hits = []
    needles = _needles()
    for what, head, body in collected:
        for needle in needles:
            if needle in head or needle.encode() in body:
                hits.append(f"response {what}: {needle!r}")
    for needle in needles:
        if needle in output:
            hits.append(f"process output: {needle!r}")
    files = 0
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        content = path.read_bytes()
        if content.startswith(b"SQLite format 3\x00") or path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        files += 1
        hits += [f"file {path}: {needle!r}" for needle in needles if needle.encode() in content]
    print(f"{len(collected)} responses, {len(output)} characters of process output, {files} text files searched")
    assert not hits, "\n".join(hits[:20])
    assert len(collected) > 3 * 2 * 40
