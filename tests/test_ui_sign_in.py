"""Sign in with mailcow in a real browser (Debian's chromium through Playwright): the app on
http://localhost, the simulated mailcow on http://127.0.0.1 (another site, as in real life, so
the SameSite rules of the state and session cookies are what a browser really applies). The
user lands on their messages with only the links their role may open, without a script error."""
from __future__ import annotations

import os

import pytest

from mailcow_sign_in import DOMAIN_ADMIN, signed_in_world

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with signed_in_world(tmp_path_factory.mktemp("ui-signin") / "data", hours=2, host="localhost") as found:
        yield found


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(f"uncaught: {error}"))
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status in (401, 403) else None)
    return page


def _sign_in(page, url, username, target="/"):
    page.goto(f"{url}{target}")
    page.wait_for_url("**/login**")
    page.locator("#mailcow-sign-in").click()
    page.wait_for_url("**/oauth/authorize**")          # mailcow's approval page
    page.locator("#username").select_option(username)
    page.locator("#approve").click()


def _nav(page):
    return sorted(page.locator("nav.nav a").evaluate_all("links => links.map(a => a.dataset.nav)"))


def test_a_mailbox_user_signs_in_and_sees_their_messages(world, browser):
    _, url, _ = world
    page = _page(browser)
    _sign_in(page, url, "john@example.org")
    page.wait_for_url(f"{url}/messages")
    page.wait_for_selector("#results tr[data-key]")
    assert _nav(page) == ["messages"]
    sync_api.expect(page.locator("#account")).to_have_text("john@example.org")
    # a page the role may not open is not there for them
    assert page.goto(f"{url}/logs/postfix").status == 404
    page.goto(f"{url}/messages")
    page.locator("#logout").click()
    page.wait_for_url("**/login")
    assert page.goto(f"{url}/messages").url.startswith(f"{url}/login")
    assert [e for e in page.errors if "404" not in e] == []


def test_a_domain_admin_has_insights_and_their_quarantine(world, browser):
    _, url, _ = world
    page = _page(browser)
    _sign_in(page, url, DOMAIN_ADMIN, "/queue")
    page.wait_for_url(f"{url}/queue")
    assert _nav(page) == ["insights", "messages", "queue"]
    page.wait_for_selector("#quarantine :is(table, .state)")
    assert page.locator("#queue").count() == 0 and page.locator("#queue-health").count() == 0
    page.goto(f"{url}/insights")
    page.wait_for_selector("main .card")
    page.wait_for_load_state("networkidle")
    assert page.errors == []
