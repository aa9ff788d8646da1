"""The pages in a real browser (Debian's chromium through Playwright) against the real app
fetching from the simulated mailcow: they load cleanly, filters live in the URL, a message
opens with its per-recipient outcomes, and the layout holds at phone width."""
from __future__ import annotations

import os
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]

PAGES = ["/", "/messages", "/logs/postfix", "/logs/rspamd", "/logs/netfilter", "/security", "/queue", "/status",
         "/settings", "/alerts"]
# What shows that a page has rendered its data (not its loading state).
READY = {
    "/": "#recent table",
    "/messages": "#results table",
    "/logs/postfix": "#results tbody.qgroup",
    "/logs/rspamd": "#results table",
    "/logs/netfilter": "#results table",
    "/security": "#by-ip table",
    "/queue": "#quarantine table",
    "/status": "#jobs table",
    "/settings": "#configuration table",
    "/alerts": "#channels .state",
}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that records console errors, uncaught exceptions and dialogs."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def make_page(browser):
    contexts = []

    def make(width: int = 1280, height: int = 900, **options) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Watched(context.new_page())

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def base(live_server):
    return live_server["url"]


def api(base: str, path: str, **params) -> dict:
    response = requests.get(f"{base}/api{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def total_shown(page) -> int:
    return int(page.locator(".pager-info").get_attribute("data-total"))


# The background jobs whose runs change what is counted (the audit and the alerts do not).
COUNTING_JOBS = ("fetch_logs", "complete_correlations", "expire_correlations")


def _counting_runs(base: str) -> tuple | None:
    """How often each counting job has run, or None while one runs."""
    jobs = api(base, "/settings/info")["background_jobs"]
    if any(jobs[name]["status"] == "running" for name in COUNTING_JOBS):
        return None
    return tuple(jobs[name]["runs"] for name in COUNTING_JOBS)


def while_still(base: str, check, within: float = 150.0):
    """check()'s result, from a run during which the app stored nothing new.

    The simulator keeps sending and the app stores each fetch at once, so a count read in one
    place and compared with a list read a second later only has to agree when no counting job
    ran in between. A check that fails while the data held still fails the test."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = _counting_runs(base)
        if before is None:
            time.sleep(0.5)
            continue
        try:
            result = check()
        except AssertionError:
            if _counting_runs(base) == before:
                raise
            continue
        if _counting_runs(base) == before:
            return result
    pytest.fail(f"the app stored new data during every attempt for {within:.0f} s")


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_its_data_without_console_errors(make_page, base, path):
    watched = make_page()
    watched.page.goto(base + path)
    watched.page.wait_for_selector(READY[path])
    watched.page.wait_for_load_state("networkidle")
    assert watched.page.locator(".state.error").count() == 0, watched.page.locator(".state.error").first.inner_text()
    assert watched.errors == []
    if path != "/settings":   # configuration does not change while the app runs: no refresh
        assert "updated" in watched.page.locator("#refresh-state").inner_text()


def test_dashboard_counters_match_the_api(make_page, base):
    stats = api(base, "/stats/dashboard")
    watched = make_page()
    watched.page.goto(base + "/")
    value = watched.page.locator('[data-counter="messages"] .stat-value')
    sync_api.expect(value).not_to_have_text("–")
    assert int(re.sub(r"\D", "", value.inner_text())) >= stats["messages"]["24h"]
    assert watched.page.locator("#timeline-chart").is_visible()


def test_message_filters_live_in_the_url_and_change_results(make_page, base):
    # The totals before and after the round trip agree only if nothing was stored between.
    def filter_and_come_back():
        page = make_page().page
        page.goto(base + "/messages")
        page.wait_for_selector("#results table")
        everything = total_shown(page)

        page.select_option("#f-status", "bounced")
        page.wait_for_url(re.compile(r"status=bounced"))
        sync_api.expect(page.locator(".pager-info")).not_to_have_attribute("data-total", str(everything))
        page.wait_for_selector("#results table")
        bounced = total_shown(page)
        assert 0 < bounced < everything
        statuses = page.locator("#results tbody tr td:last-child .badge:first-child").all_inner_texts()
        assert statuses and set(statuses) == {"bounced"}
        assert "status=bounced" in page.locator("#export-csv").get_attribute("href")

        page.fill("#f-sender", "no-such-sender@nowhere.invalid")
        page.press("#f-sender", "Enter")
        page.wait_for_url(re.compile(r"sender=no-such-sender"))
        sync_api.expect(page.locator("#results .state-title")).to_have_text("No messages match these filters")

        page.go_back()
        page.wait_for_url(re.compile(r"status=bounced$"))
        sync_api.expect(page.locator("#f-sender")).to_have_value("")
        page.wait_for_selector("#results table")
        assert total_shown(page) == bounced

        page.go_back()
        page.wait_for_selector("#results table")
        sync_api.expect(page.locator("#f-status")).to_have_value("")
        assert total_shown(page) == everything

    while_still(base, filter_and_come_back)


def test_pagination_is_in_the_url(make_page, base):
    page = make_page().page
    page.goto(base + "/messages?limit=25")
    page.wait_for_selector("#results table")
    first = page.locator("#results tbody tr").first.get_attribute("data-key")
    page.click('[data-pager="next"]')
    page.wait_for_url(re.compile(r"page=2"))
    assert query(page.url)["limit"] == ["25"]
    sync_api.expect(page.locator(".pager-info")).to_contain_text("26–50")
    assert page.locator("#results tbody tr").first.get_attribute("data-key") != first


def test_search_syntax_help_and_slash_shortcut(make_page, base):
    page = make_page().page
    page.goto(base + "/")
    page.wait_for_selector("#recent table")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "search"
    page.keyboard.type("status:deferred")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/messages\?search=status%3Adeferred"))
    sync_api.expect(page.locator("#f-search")).to_have_value("status:deferred")
    page.click("#syntax-toggle")
    sync_api.expect(page.locator("#syntax-help")).to_be_visible()
    sync_api.expect(page.locator("#syntax-help")).to_contain_text("msgid:")
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#syntax-help")).to_be_hidden()


def _message_with_recipients(base: str, minimum: int) -> dict:
    for page_number in range(1, 6):
        for item in api(base, "/messages", limit=200, page=page_number)["data"]:
            if item.get("recipient_count", 1) >= minimum and item.get("queue_id"):
                return item
    pytest.skip(f"no message with {minimum} recipients in the simulated traffic")


def test_message_opens_from_the_list_with_every_recipient_outcome(make_page, base):
    item = _message_with_recipients(base, 2)
    details = api(base, f"/message/{item['correlation_key']}/details")
    watched = make_page()
    page = watched.page
    page.goto(f"{base}/messages?search={item['queue_id']}")
    row = page.locator(f'#results tr[data-key="{item["correlation_key"]}"]')
    for recipient in details["recipients"][:2]:
        sync_api.expect(row).to_contain_text(recipient)
    row.locator("td").first.click()

    panel = page.locator("#panel")
    sync_api.expect(panel).to_be_visible()
    assert query(page.url)["open"] == [item["correlation_key"]]
    assert query(page.url)["search"] == [item["queue_id"]]
    sync_api.expect(panel.locator("[data-subject]")).to_have_text(details["subject"] or "(no subject)")
    for outcome in details["outcomes"]:
        cells = panel.locator(f'tr[data-recipient="{outcome["recipient"]}"]')
        sync_api.expect(cells).to_contain_text(outcome["status"])
    panel.locator('[data-tab="delivery"]').click()
    sync_api.expect(panel.locator("[data-outcome]")).to_have_count(len(details["outcomes"]))
    panel.locator('[data-tab="raw"]').click()
    sync_api.expect(panel.locator("[data-raw-log]")).to_contain_text(details["postfix"][0]["message"])

    page.keyboard.press("Escape")
    sync_api.expect(panel).to_be_hidden()
    assert "open" not in query(page.url)
    page.go_back()
    sync_api.expect(panel).to_be_visible()

    page.goto(f"{base}/messages/{item['correlation_key']}#delivery")
    sync_api.expect(page.locator("[data-outcome]")).to_have_count(len(details["outcomes"]))
    assert watched.errors == []


def test_spam_tab_lists_symbols_by_weight(make_page, base):
    spam = api(base, "/messages", status="spam", limit=1)["data"]
    if not spam:
        pytest.skip("no spam in the simulated traffic")
    details = api(base, f"/message/{spam[0]['correlation_key']}/details")
    page = make_page().page
    page.goto(f"{base}/messages/{spam[0]['correlation_key']}#spam")
    rows = page.locator("tr[data-symbol]")
    sync_api.expect(rows).to_have_count(len(details["rspamd"]["symbols"]))
    names = [rows.nth(i).get_attribute("data-symbol") for i in range(rows.count())]
    weights = [abs(details["rspamd"]["symbols"][name]["score"]) for name in names]
    assert weights == sorted(weights, reverse=True)


def test_postfix_lines_are_grouped_by_queue_id(make_page, base):
    page = make_page().page
    page.goto(base + "/logs/postfix")
    group = page.locator("tbody.qgroup[data-queue-id]:not([data-queue-id=''])").first
    queue_id = group.get_attribute("data-queue-id")
    group.locator(".qhead button").click()
    page.wait_for_url(re.compile(f"queue_id={queue_id}"))
    sync_api.expect(page.locator("#f-queue_id")).to_have_value(queue_id)
    sync_api.expect(page.locator("tbody.qgroup .qhead")).to_have_count(1)
    assert f"queue_id={queue_id}" in page.locator("#export-csv").get_attribute("href")


def test_auto_refresh_keeps_filters_and_open_panel(make_page, base):
    item = api(base, "/messages", limit=1, status="delivered")["data"][0]
    watched = make_page()
    page = watched.page
    page.clock.install()
    page.goto(f"{base}/messages?status=delivered&open={item['correlation_key']}")
    page.wait_for_selector("#results table")
    sync_api.expect(page.locator("#panel")).to_be_visible()
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url) if "/api/messages" in request.url else None)
    page.clock.run_for(31_000)
    page.wait_for_timeout(500)
    assert any("status=delivered" in url for url in requests_seen), requests_seen
    sync_api.expect(page.locator("#panel")).to_be_visible()
    sync_api.expect(page.locator("#f-status")).to_have_value("delivered")
    sync_api.expect(page.locator("#refresh-state")).to_contain_text("updated")
    assert query(page.url)["open"] == [item["correlation_key"]]
    assert watched.errors == []


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(make_page, base):
    page = make_page(color_scheme="dark").page
    page.goto(base + "/settings")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.goto(base + "/status")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"


@pytest.mark.parametrize("path", ["/", "/messages", "/logs/postfix", "/security", "/queue", "/status"])
def test_phone_width_does_not_overflow(make_page, base, path):
    watched = make_page(width=375, height=740)
    page = watched.page
    page.goto(base + path)
    page.wait_for_selector(READY[path])
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("#menu-toggle")
    sync_api.expect(page.locator("#sidebar .nav a").first).to_be_in_viewport()
    page.keyboard.press("Escape")
    assert watched.errors == []


def test_times_are_local_with_utc_on_hover(make_page, base):
    page = make_page(timezone_id="Asia/Tokyo").page
    page.goto(base + "/messages")
    first = page.locator("#results tbody tr time").first
    sync_api.expect(first).to_have_attribute("title", re.compile(r"Z \(UTC\)$"))
    stamp = first.get_attribute("datetime")
    tokyo_hour = page.evaluate("(iso) => new Date(iso).toLocaleString('en-US', {timeZone: 'Asia/Tokyo', hour: '2-digit', hour12: false})", stamp)
    assert f"{int(tokyo_hour) % 24:02d}:" in first.inner_text() or f"{int(tokyo_hour) % 12 or 12:02d}:" in first.inner_text()


def test_security_page_shows_the_servers_counts_in_at_most_three_requests(make_page, base):
    expected = api(base, "/stats/auth-failures", limit=100)
    dashboard = api(base, "/stats/dashboard")
    watched = make_page()
    requested: list[str] = []
    # The shell of every page asks /api/info and the two version checks; the rest is the page's own.
    shell = re.compile(r"/api/(info|status/version|status/app-version)$")
    watched.page.on("request", lambda r: requested.append(r.url)
                    if "/api/" in r.url and not shell.search(urlsplit(r.url).path) else None)
    watched.page.goto(base + "/security")
    watched.page.wait_for_selector("#by-ip table")
    watched.page.wait_for_load_state("networkidle")
    assert len(requested) <= 3, requested
    failures = watched.page.locator("#sec-counters .stat-value").first.inner_text()
    # The same rule as the dashboard's: with no range, every stored failure (the live world is 6 h).
    assert int(re.sub(r"\D", "", failures)) >= expected["failures"] >= dashboard["auth_failures"]["24h"] > 0
    first = expected["by_ip"][0]["ip"]
    assert watched.page.locator(f'#by-ip tr[data-ip="{first}"]').count() == 1
    assert watched.errors == []
