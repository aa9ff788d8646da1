"""Several mailcow servers in a real browser (Debian's chromium through Playwright): the server
picker narrows every list and stays in the URL from page to page, lists name each row's server,
and the Status page has a card per server. With one server none of it shows."""
from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import served, two_server_world

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")


def _server_of(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("server", [])


def test_server_picker_narrows_the_pages_and_stays_in_the_url(tmp_path):
    with two_server_world(tmp_path / "data") as world, served(world.app) as url, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/messages")
        picker = page.locator("#server-picker")
        assert picker.locator("option").all_inner_texts() == ["All servers", "mx1", "mx2"]
        rows = page.locator("#results td[data-server]")
        sync_api.expect(rows.first).to_be_visible()
        assert set(rows.evaluate_all("cells => cells.map(c => c.dataset.server)")) == {"mx1", "mx2"}

        picker.select_option("mx2")
        page.wait_for_url("**/messages?server=mx2")
        sync_api.expect(rows.first).to_have_attribute("data-server", "mx2")
        assert set(rows.evaluate_all("cells => cells.map(c => c.dataset.server)")) == {"mx2"}
        total = world.client.get("/api/messages", query_string={"server": "mx2"}).get_json()["total"]
        assert rows.count() == min(total, 50)

        # The choice follows the navigation, and the next page's lists are that server's.
        page.locator('.nav a[data-nav="logs-postfix"]').click()
        page.wait_for_url("**/logs/postfix?server=mx2")
        lines = page.locator("#results td[data-server]")
        sync_api.expect(lines.first).to_be_visible()
        assert set(lines.evaluate_all("cells => cells.map(c => c.dataset.server)")) == {"mx2"}
        assert page.locator("#server-picker").input_value() == "mx2"

        # A message's details name the server it went through.
        page.goto(f"{url}/messages?server=mx1")
        page.locator("#results a.subject-link").first.click()
        sync_api.expect(page.locator("#panel-body [data-servers]")).to_have_text("mx1")

        # Back to all servers: the parameter leaves the URL.
        page.locator("#server-picker").select_option("")
        page.wait_for_url(lambda address: urlsplit(address).path == "/messages" and not _server_of(address))

        page.goto(f"{url}/status")
        cards = page.locator("#servers tr[data-server]")
        sync_api.expect(cards).to_have_count(2)
        sync_api.expect(page.locator('#servers tr[data-server="mx1"]')).to_contain_text("reachable")
        browser.close()
    assert errors == []


def test_one_server_shows_no_picker_and_no_server_column(fetched_app):
    with served(fetched_app) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"{url}/messages")
        sync_api.expect(page.locator("#results a.subject-link").first).to_be_visible()
        assert page.locator("#server-picker").count() == 0
        assert page.locator("#results td[data-server]").count() == 0
        assert "Server" not in page.locator("#results thead").inner_text()
        page.goto(f"{url}/status")
        sync_api.expect(page.locator("#import-status table")).to_be_visible()
        assert page.locator("#servers").count() == 0
        browser.close()
