"""Issue 13 in a real browser on the simulator's world: searching the remote reply text finds
the bounces, and an insights domain's sent and received counts are links to exactly the
messages behind them."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from test_ui_pages import api, browser, make_page, total_shown, while_still  # noqa: F401  (fixtures)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base(live_server):
    return live_server["url"]


def _user_unknown_bounces(base: str) -> set[str]:
    """The bounced messages whose failed recipient's reply says "User unknown", read from the
    full list rather than through the search under test."""
    found, page = set(), 1
    while True:
        body = api(base, "/messages", status="bounced", limit=500, page=page)
        for item in body["data"]:
            if any(o["status"] in ("bounced", "expired") and "user unknown" in (o["reply"] or "").lower()
                   for o in item["outcomes"]):
                found.add(item["correlation_key"])
        if page >= body["pages"]:
            return found
        page += 1


def test_searching_user_unknown_lists_the_bounces(make_page, base):
    bounces = _user_unknown_bounces(base)
    assert bounces, "the simulator bounces mail to unknown users"
    watched = make_page()
    page = watched.page
    page.goto(f"{base}/messages")
    page.wait_for_selector("#results table")
    page.locator("#f-search").fill('"User unknown"')
    page.locator("#f-search").press("Enter")
    page.wait_for_url(re.compile(r"search=%22User(\+|%20)unknown%22"))
    page.wait_for_selector("#results table")
    # Refusals of unknown users before queueing say it too: the bounces are among them.
    assert total_shown(page) >= len(bounces)
    page.locator("#f-status").select_option("bounced")
    page.wait_for_url(re.compile(r"status=bounced"))
    page.wait_for_selector("#results table")
    listed = set(page.locator("#results tr[data-key]").evaluate_all("(rows) => rows.map((r) => r.dataset.key)"))
    # The simulator keeps sending: what was there before is listed, and nothing that is not there now.
    assert bounces <= listed <= _user_unknown_bounces(base)
    for key in bounces:
        row = page.locator(f'#results tr[data-key="{key}"]')
        sync_api.expect(row.locator("td:last-child .badge").first).to_have_text("bounced")
        sync_api.expect(row.locator("[data-reason]")).to_contain_text(re.compile("user unknown", re.IGNORECASE))
    assert watched.errors == []


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_a_domains_sent_and_received_counts_link_to_their_messages(make_page, base, kind):
    rows = [r for r in api(base, "/insights/domains", kind=kind, limit=5)["data"] if r["sent"] and r["received"]]
    if not rows:
        pytest.skip(f"no {kind} domain both sent and received mail")
    entity = rows[0]["entity"]
    watched = make_page()
    page = watched.page

    def follow_both_links():
        row = next(r for r in api(base, "/insights/domains", kind=kind, limit=5)["data"] if r["entity"] == entity)
        page.goto(f"{base}/insights?kind={kind}")
        page.wait_for_selector("#domains table")
        cells = page.locator(f'#domains tr[data-entity="{entity}"]')
        for column, parameter in (("sent", "sender"), ("received", "recipient")):
            link = cells.locator(f'td[data-col="{column}"] a')
            shown = int(link.inner_text().replace(",", ""))
            assert shown == row[column], (entity, column)
            link.click()
            page.wait_for_url(re.compile(rf"/messages\?.*{parameter}={re.escape(quote('@' + entity))}"))
            page.wait_for_selector("#results table")
            assert total_shown(page) == shown, (entity, column)
            sync_api.expect(page.locator(f"#f-{parameter}")).to_have_value("@" + entity)
            page.go_back()
            page.wait_for_selector("#domains table")

    while_still(base, follow_both_links)
    assert watched.errors == []
