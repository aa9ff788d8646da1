"""On the simulator, over real HTTP and a real SQLite file, with every channel pointed at real
loopback receivers: a bounce storm to one domain, a hijacked mailbox and a brute force each open
exactly one alert on every channel within two fetch cycles, update it without notifying while
they last, and resolve it (one notification each) after the simulator returns to normal.

The simulator runs on a simulated clock in the past; each cycle advances it one minute, fetches
and correlates, and evaluates the rules at that clock (`AlertEngine.evaluate(now=...)`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import Alert, AlertNotification
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

from conftest import base_env
from receivers import HttpReceiver, SmtpReceiver

CHANNEL_PATHS = ("/webhook", "/ntfy", "/slack", "/discord", "/tg")
SECRET = "whsec-test-1234"
TG_TOKEN = "123456:TG-SECRET-TOKEN"


@pytest.fixture
def world(tmp_path):
    http, smtp = HttpReceiver(), SmtpReceiver()
    sim = SimulatedMailcow(TrafficGenerator(seed=11, rate_per_hour=120))
    sim.start()
    start = time.time() - 4 * 3600
    sim.preload(hours=6, now=start)
    settings = load_settings(base_env(
        tmp_path / "data", MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key, FETCH_COUNT_POSTFIX=300, FETCH_COUNT_RSPAMD=50, FETCH_COUNT_NETFILTER=100,
        ALERT_WEBHOOK_URL=f"{http.url}/webhook", ALERT_WEBHOOK_SECRET=SECRET, ALERT_NTFY_URL=f"{http.url}/ntfy/mail",
        ALERT_SLACK_WEBHOOK_URL=f"{http.url}/slack", ALERT_DISCORD_WEBHOOK_URL=f"{http.url}/discord",
        ALERT_TELEGRAM_BOT_TOKEN=TG_TOKEN, ALERT_TELEGRAM_CHAT_ID="42", ALERT_TELEGRAM_API_URL=f"{http.url}/tg",
        SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_TLS="none", SMTP_FROM="alerts@example.org",
        ALERT_EMAIL_TO="admin@example.org,ops@example.org", PUBLIC_URL="https://logs.example.org",
        ALERT_GRACE_MINUTES=3, ALERT_DOMAIN_BOUNCE="window=10", ALERT_MAILBOX="window=10",
        ALERT_AUTH_USER="window=10", ALERT_CONTAINER="off", ALERT_QUEUE="off", ALERT_STORAGE="off"))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.alerts.start()
    clock = {"now": start}

    def cycle():
        clock["now"] += 60
        sim.advance(clock["now"])
        runtime.fetch_and_correlate()
        runtime.alerts.evaluate(now=clock["now"])
        assert runtime.alerts.sender.wait_idle(20), "notifications not delivered"
        runtime.alerts.persist_results()

    runtime.fetch_and_correlate()
    try:
        yield {"sim": sim, "http": http, "smtp": smtp, "cycle": cycle, "clock": clock, "app": app, "runtime": runtime}
    finally:
        runtime.stop()
        sim.stop()
        http.stop()
        smtp.stop()
        database.close()


def _received(world, needle: str) -> dict[str, list[str]]:
    """channel -> texts mentioning `needle` (e-mail: subjects and plain-text parts)."""
    found = {path: [t for t in world["http"].texts(path) if needle in t] for path in CHANNEL_PATHS}
    found["email"] = []
    for _, message in world["smtp"].messages:
        text = message.get_body(("plain",)).get_content()
        if needle in text or needle in message["Subject"]:
            found["email"].append(message["Subject"] + "\n" + text)
    return found


def _assert_each_channel(world, needle: str, opened: int, resolved: int) -> None:
    for channel, texts in _received(world, needle).items():
        assert sum(t.startswith("[ALERT]") for t in texts) == opened, (channel, texts)
        assert sum(t.startswith("[RESOLVED]") for t in texts) == resolved, (channel, texts)


SCENARIOS = [
    ("bounce_storm", {"domain": "partner-example.com"}, "domain_bounce:partner-example.com", "partner-example.com"),
    ("hijacked_mailbox", {}, "mailbox:{mb3}", "{mb3}"),
    ("brute_force", {}, "auth_user:{mb1}", "{mb1}"),
]


def test_each_incident_opens_updates_and_resolves_once_per_channel(world):
    cycle, clock, sim = world["cycle"], world["clock"], world["sim"]
    boxes = sim.generator.world.mailboxes
    names = {"mb1": boxes[1].address, "mb3": boxes[3].address}
    for _ in range(2):
        cycle()
    assert Alert.select().where(Alert.rule.in_(("domain_bounce", "mailbox", "auth_user"))).count() == 0
    for kind, params, key, needle in SCENARIOS:
        key, needle = key.format(**names), needle.format(**names)
        sim.generator.scenarios.start(kind, at=clock["now"], **params)
        cycle()
        cycle()
        alert = Alert.get_or_none(Alert.key == key)
        assert alert is not None and alert.state == "open", (kind, [a.key for a in Alert.select()])
        _assert_each_channel(world, needle, opened=1, resolved=0)
        assert len(alert.message_keys.split()) > 0 if kind != "brute_force" else True
        first_count = alert.count
        for _ in range(3):
            cycle()
        alert = Alert.get(Alert.key == key)
        assert alert.state == "open" and alert.updates >= 3 and alert.count > first_count
        _assert_each_channel(world, needle, opened=1, resolved=0)      # updates notify nobody
        sim.generator.scenarios.stop(kind, clock["now"])
        for _ in range(20):
            cycle()
            if Alert.get(Alert.key == key).state == "resolved":
                break
        alert = Alert.get(Alert.key == key)
        assert alert.state == "resolved", kind
        # The grace period held it open for ALERT_GRACE_MINUTES after the condition cleared.
        assert alert.resolved_at - alert.clear_since >= 180
        _assert_each_channel(world, needle, opened=1, resolved=1)
        assert Alert.select().where(Alert.key == key).count() == 1
    # Every outbox row was delivered; the webhook's signature checks out; the token stayed out of bodies.
    assert AlertNotification.select().where(AlertNotification.status != "delivered").count() == 0
    for request in world["http"].requests:
        if request["path"] == "/webhook":
            digest = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
            assert request["headers"]["X-MLV-Signature-256"] == f"sha256={digest}"
            assert json.loads(request["body"])["url"].startswith("https://logs.example.org/alerts?id=")
        if request["path"].startswith("/tg"):
            assert request["path"] == f"/tg/bot{TG_TOKEN}/sendMessage"
            assert json.loads(request["body"])["chat_id"] == "42"
        assert TG_TOKEN.encode() not in request["body"]
    rcpts, message = world["smtp"].messages[0]
    assert rcpts == ["admin@example.org", "ops@example.org"]
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    # The API lists them with the messages behind them.
    body = world["app"].test_client().get("/api/alerts").get_json()
    listed = {a["key"]: a for a in body["recent"]}
    bounce = listed["domain_bounce:partner-example.com"]
    assert bounce["messages"] and all(m["status"] == "bounced" for m in bounce["messages"])
    assert {c["channel"] for c in body["channels"]} == {"webhook", "ntfy", "slack", "discord", "telegram", "email"}
