"""The Alerts page in real chromium: a bounce storm from the simulator shows as one open alert
with the bounced messages linked; hostile text in an alert stays text; "Send a test" reports
that no channel is configured."""
from __future__ import annotations

import os
import threading
import time

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import Alert
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

from conftest import base_env

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")


@pytest.fixture
def served(tmp_path):
    from waitress import create_server

    sim = SimulatedMailcow(TrafficGenerator(seed=11, rate_per_hour=120))
    sim.start()
    clock = time.time() - 3600
    sim.preload(hours=2, now=clock)
    settings = load_settings(base_env(tmp_path / "data", MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key,
                                      FETCH_COUNT_POSTFIX=300, ALERT_CONTAINER="off"))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    sim.generator.scenarios.start("bounce_storm", at=clock, domain="partner-example.com")
    for _ in range(3):
        clock += 60
        sim.advance(clock)
        runtime.fetch_and_correlate()
        runtime.alerts.evaluate(now=clock)
    # Log text is attacker-controlled and alerts quote it.
    Alert.create(key="blocklist:test", rule="blocklist", severity="critical", title="<img src=x onerror=alert(1)>",
                 detail="<script>alert(2)</script>", count=1, peak=1, opened_at=int(clock), last_seen=int(clock))
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    runtime.client.close()
    sim.stop()
    database.close()


def test_alerts_page_lists_the_storm_with_its_messages(served):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors, dialogs = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(served + "/alerts")
        row = page.locator('#open tr[data-alert-key="domain_bounce:partner-example.com"]')
        row.wait_for()
        assert "of deliveries to partner-example.com bounced" in row.inner_text()
        links = row.locator(".alert-messages a")
        assert links.count() > 0
        hostile = page.locator('#open tr[data-alert-key="blocklist:test"]')
        assert "<img src=x onerror=alert(1)>" in hostile.inner_text()
        assert hostile.locator("img, script").count() == 0
        assert page.locator("nav a[data-nav=alerts]").get_attribute("aria-current") or \
            "active" in (page.locator("nav a[data-nav=alerts]").get_attribute("class") or "")
        assert page.locator("#send-test").is_disabled()            # no channel configured
        assert "No channel configured" in page.locator("#channels").inner_text()
        href = links.first.get_attribute("href")
        links.first.click()
        page.wait_for_url("**" + href)
        page.wait_for_selector("text=bounced")
        assert errors == [] and dialogs == []
        browser.close()
