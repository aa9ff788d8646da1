"""The mailbox stage in a real browser (Debian's chromium through Playwright) against the real app
fetching from the simulated mailcow: a message filed into a folder other than INBOX shows that
folder as a badge in the list, and its details show each recipient's Dovecot step and Dovecot's
raw lines."""
from __future__ import annotations

import os

import pytest
import requests

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page(live_server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.errors = errors
        yield page
        browser.close()


def _junk_message(base: str) -> dict:
    found = requests.get(f"{base}/api/messages", params={"search": "folder:Junk", "limit": 1}, timeout=10).json()
    assert found["total"] > 0, "the simulated mailcow files spam into Junk"
    return found["data"][0]


def test_the_list_shows_a_folder_badge_when_not_inbox(page, live_server):
    base = live_server["url"]
    message = _junk_message(base)
    page.goto(f"{base}/messages?search=folder%3AJunk")
    row = page.locator(f'#results tr[data-key="{message["correlation_key"]}"]')
    sync_api.expect(row.locator('[data-folder="Junk"]')).to_have_text("Junk")
    # INBOX is where mail goes by default: it gets no badge.
    page.goto(f"{base}/messages?search=folder%3AINBOX")
    page.wait_for_selector("#results table")
    assert page.locator('#results [data-folder="INBOX"]').count() == 0
    assert page.locator("#results tr[data-key]").count() > 0
    assert page.errors == []


def test_details_show_the_dovecot_step_and_its_raw_lines(page, live_server):
    base = live_server["url"]
    message = _junk_message(base)
    recipient = next(o["recipient"] for o in message["outcomes"] if o["folder"] == "Junk")
    page.goto(f"{base}/messages/{message['correlation_key']}#delivery")
    page.locator('button[data-tab="delivery"]').click()
    step = page.locator(f'[data-outcome="{recipient}"] [data-mailbox-step]')
    sync_api.expect(step).to_contain_text("stored in Junk")
    sync_api.expect(step.locator(".reply")).to_contain_text("fileinto action: stored mail into mailbox 'Junk'")
    page.locator('button[data-tab="raw"]').click()
    raw = page.locator("[data-raw-log]")
    sync_api.expect(raw).to_contain_text(f"dovecot[info]: lmtp({recipient.lower()})")
    sync_api.expect(raw).to_contain_text("postfix/lmtp")
    assert page.errors == []
