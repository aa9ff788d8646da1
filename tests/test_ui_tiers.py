"""The tiers in a real browser (Debian's chromium through Playwright): a message whose raw
lines were cleaned up says so and shows the kept verdict; the dashboard shows the daily counters."""
from __future__ import annotations

import os

import pytest
import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import Message
from mailcow_logs_viewer.retention import cleanup

from conftest import served
from test_privacy import _feed
from test_tiers import DAY, NOW, mail, verdict

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")


def test_cleaned_up_message_and_daily_counters_in_the_browser(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    app = create_app(settings)
    for queue_id, at in (("ABC0000011", NOW - 10 * DAY), ("ABC0000012", NOW - 600)):
        simulator.push("postfix", mail(queue_id, "alice@remote.test", ["bob@example.org"], at))
        simulator.push("rspamd", [verdict(queue_id, "alice@remote.test", ["bob@example.org"], at)])
    _feed(settings, simulator)
    cleanup(7, 90)
    key = Message.get(Message.queue_id == "ABC0000011").correlation_key
    with served(app) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{url}/messages/{key}")
        sync_api.expect(page.locator("[data-raw-removed]")).to_contain_text("cleaned up")
        page.locator('[data-tab="spam"]').click()
        sync_api.expect(page.locator("[data-verdict-summary]")).to_contain_text("add header")
        assert page.locator('[data-symbol="BAYES_SPAM"]').count() == 1
        page.locator('[data-tab="raw"]').click()
        sync_api.expect(page.locator(".tab-panel")).to_contain_text("Raw lines cleaned up")

        days = requests.get(f"{url}/api/stats/daily", params={"limit": 1}, timeout=10).json()["by_day"]
        assert len(days) == 2       # today's and the 10-day-old message's day: both within the card's 14 days
        page.goto(url + "/")
        rows = page.locator("#daily-counts li")
        sync_api.expect(rows).to_have_count(2)
        assert [row.split("\n")[0] for row in rows.all_inner_texts()] == [d["date"] for d in days]
        browser.close()
    assert errors == []
    database.close()
