"""Issue 13 in a real browser against the real app fetching from the simulated mailcow: the
reason of a failure on every screen, the insights and their links, queue health, bans now, a
layout in which no table is cut off at 1400 px or 375 px, and the styled not-found page."""
from __future__ import annotations

import re

import pytest
import requests

from test_ui_pages import PAGES, READY, api, browser, make_page, total_shown, while_still  # noqa: F401  (fixtures)

sync_api = pytest.importorskip("playwright.sync_api")

READY_ALL = {**READY, "/insights": "#mailboxes table", "/nope": "[data-not-found]"}
FIT_PAGES = [*PAGES, "/insights", "/nope"]


@pytest.fixture(scope="module")
def base(live_server):
    return live_server["url"]


def _bounced_with_reply(base: str) -> dict:
    for item in api(base, "/messages", status="bounced", limit=100)["data"]:
        failed = [o for o in item["outcomes"] if o["status"] == "bounced" and o["reply"]]
        if failed:
            return {**item, "failed": failed[0]}
    pytest.skip("no bounce with a remote reply in the simulated traffic")


def test_a_bounced_recipients_reply_is_on_the_overview_in_the_panel_and_in_the_list(make_page, base):
    item = _bounced_with_reply(base)
    watched = make_page()
    page = watched.page
    page.goto(f"{base}/messages/{item['correlation_key']}")
    reply = page.locator(f'.rcpt-outcome[data-rcpt="{item["failed"]["recipient"]}"] [data-reply]')
    sync_api.expect(reply).to_contain_text(item["failed"]["reply"])
    # The first recipient listed is a failed one, whatever the alphabet says.
    sync_api.expect(page.locator(".rcpt-outcome").first.locator(".badge").first).to_have_text(
        re.compile("bounced|expired|rejected"))

    page.goto(f"{base}/messages?search={item['queue_id']}")
    row = page.locator(f'#results tr[data-key="{item["correlation_key"]}"]')
    sync_api.expect(row.locator("[data-reason] a")).to_have_text(item["reason_key"])
    sync_api.expect(row.locator(".rcpt-list .cell-email").first).to_have_text(item["outcomes"][0]["recipient"])
    row.locator("td").first.click()
    sync_api.expect(page.locator("#panel [data-reply]").first).to_contain_text(item["failed"]["reply"])
    assert watched.errors == []


def test_a_reason_in_the_list_links_to_every_message_that_failed_so(make_page, base):
    item = _bounced_with_reply(base)
    page = make_page().page

    def follow_the_reason():
        expected = api(base, "/messages", reason=item["reason_key"], limit=1)["total"]
        page.goto(f"{base}/messages?search={item['queue_id']}")
        page.locator(f'#results tr[data-key="{item["correlation_key"]}"] [data-reason] a').click()
        page.wait_for_url(re.compile(r"reason="))
        sync_api.expect(page.locator("#f-reason")).to_have_value(item["reason_key"])
        sync_api.expect(page.locator(".pager-info")).to_have_attribute("data-total", str(expected))
        assert expected >= 1

    while_still(base, follow_the_reason)


def test_insights_counts_are_the_lists_behind_their_links(make_page, base):
    watched = make_page()
    page = watched.page

    def compare_counts_and_lists():
        domains = api(base, "/insights/domains")["data"]
        reasons = api(base, "/insights/reasons")["data"]
        page.goto(f"{base}/insights")
        page.wait_for_selector("#mailboxes table")
        for row in domains:
            cells = page.locator(f'#domains tr[data-entity="{row["entity"]}"]')
            for status in ("delivered", "deferred", "bounced", "rejected"):
                sync_api.expect(cells.locator(f'td[data-col="{status}"]')).to_have_text(str(row[status]))
        top = reasons[0]
        sync_api.expect(page.locator(f'#reasons tr[data-reason="{top["reason"]}"]')).to_contain_text(str(top["messages"]))

        # A count is a link to exactly that many messages.
        domain = domains[0]
        page.locator(f'#domains tr[data-entity="{domain["entity"]}"] td[data-col="bounced"] a').click()
        page.wait_for_url(re.compile(r"/messages\?.*status=bounced"))
        page.wait_for_selector("#results table")
        assert total_shown(page) == domain["bounced"]
        assert set(page.locator("#results tbody tr td:last-child .badge:first-child").all_inner_texts()) == {"bounced"}
        page.go_back()
        page.locator(f'#reasons tr[data-reason="{top["reason"]}"] td').nth(1).locator("a").click()
        page.wait_for_url(re.compile(r"reason="))
        page.wait_for_selector("#results table")
        assert total_shown(page) == top["messages"]

    while_still(base, compare_counts_and_lists)
    page.goto(f"{base}/insights")
    page.locator('#mailboxes [data-sort="bounced"]').first.click()
    page.wait_for_url(re.compile(r"sort=bounced"))
    page.wait_for_selector("#mailboxes table")
    bounced = [int(t) for t in page.locator('#mailboxes td[data-col="bounced"]').all_inner_texts()]
    assert bounced == sorted(bounced, reverse=True) and bounced[0] > 0
    assert watched.errors == []


def test_dashboard_shows_the_queue_and_its_counters_are_links(make_page, base):
    health = api(base, "/queue/health")
    page = make_page().page
    page.goto(base + "/")
    sync_api.expect(page.locator("[data-queue-size] .v")).to_have_text(str(health["size"]))
    assert page.locator("[data-queue-oldest] .v").inner_text() != "–" if health["size"] else True
    assert page.locator('a[data-counter="failed"]').get_attribute("href").endswith("status=bounced&range=24h")
    page.locator('a[data-counter="spam"]').click()
    page.wait_for_url(re.compile(r"/messages\?status=spam"))
    sync_api.expect(page.locator("#f-status")).to_have_value("spam")


def test_queue_page_groups_by_destination_and_reason(make_page, base):
    health = api(base, "/queue/health")
    if not health["size"]:
        pytest.skip("the simulated queue is empty")
    page = make_page().page
    page.goto(base + "/queue")
    page.wait_for_selector("#queue-health table")
    for group in health["by_domain"]:
        sync_api.expect(page.locator(f'#queue-health tr[data-group="{group["key"]}"]').first).to_contain_text(
            str(group["messages"]))
    sync_api.expect(page.locator("#queue td[data-age]").first).not_to_have_text("–")


def test_security_lists_what_is_banned_now_and_where_ips_are(make_page, base):
    bans = api(base, "/security/bans")
    page = make_page().page
    page.goto(base + "/security")
    page.wait_for_selector("#by-ip table")
    sync_api.expect(page.locator("#bans-count")).to_have_text(re.compile(rf"^{bans['total']} network"))
    first_ip = page.locator("#by-ip tr[data-ip]").first.get_attribute("data-ip")
    place = api(base, "/security/places", ip=first_ip)["data"][first_ip]
    # The country comes with the failures (no request of its own): the row's second cell.
    cell = page.locator(f'#by-ip tr[data-ip="{first_ip}"] td').nth(1)
    expected = f"{place['country_code']} {place['country']}" if place["country_code"] else "–"
    sync_api.expect(cell).to_have_text(re.compile("^" + re.escape(expected)))


@pytest.mark.parametrize("width", [1400, 375])
@pytest.mark.parametrize("path", FIT_PAGES)
def test_no_table_is_cut_off(make_page, base, path, width):
    watched = make_page(width=width, height=900)
    page = watched.page
    page.goto(base + path)
    page.wait_for_selector(READY_ALL[path])
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)    # fit.js works in the next animation frame
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    cut = page.evaluate("""() => Array.from(document.querySelectorAll('.table-wrap'))
        .filter((w) => w.offsetParent && w.scrollWidth > w.clientWidth + 1)
        .map((w) => `${(w.closest('[id]') || {}).id}: ${w.scrollWidth} > ${w.clientWidth}`)""")
    assert cut == []
    assert [e for e in watched.errors if "404" not in e] == []


def test_unknown_pages_get_the_styled_not_found_page(make_page, base):
    for path in ("/nope", "/logs/foo"):
        assert requests.get(base + path, timeout=10).status_code == 404
        page = make_page().page
        page.goto(base + path)
        sync_api.expect(page.locator("[data-not-found]")).to_contain_text(path)
        sync_api.expect(page.locator("#sidebar .nav a")).to_have_count(12)
    assert requests.get(base + "/api/nope", timeout=10).json() == {"detail": "Resource not found"}


def test_settings_show_the_real_variable_names_and_values_in_effect(make_page, base):
    page = make_page().page
    page.goto(base + "/settings")
    page.wait_for_selector("#configuration table")
    sync_api.expect(page.locator('tr[data-setting="TZ"]')).to_contain_text("Time zone")
    sync_api.expect(page.locator('tr[data-setting="BLACKLIST_EMAILS"]')).to_contain_text("0 addresses")
    sync_api.expect(page.locator('tr[data-setting="LOG_LEVEL"]')).to_contain_text("WARNING")   # as the app runs
    sync_api.expect(page.locator('tr[data-setting="APP_PORT"] td').nth(1)).to_have_text(re.compile(r"^\d+$"))
    assert page.locator('tr[data-setting="TIMEZONE"], tr[data-setting="MAILCOW_API_KEY"]').count() == 0


def test_postfix_log_filters_by_program_in_one_order(make_page, base):
    page = make_page().page
    page.goto(base + "/logs/postfix?program=qmgr")
    page.wait_for_selector("#results tbody.qgroup")
    programs = set(page.locator("#results tr.qline td:nth-child(2)").all_inner_texts())
    assert programs == {"postfix/qmgr"}
    sync_api.expect(page.locator("#f-program")).to_have_value("qmgr")
    page.goto(base + "/logs/postfix")
    page.wait_for_selector("#results tbody.qgroup")
    groups = page.locator("#results tbody.qgroup").evaluate_all(
        "(bodies) => bodies.map((b) => Array.from(b.querySelectorAll('tr.qline time')).map((t) => t.getAttribute('datetime')))")
    # Newest first inside each group, and groups in the order of their newest line.
    assert all(lines == sorted(lines, reverse=True) for lines in groups)
    heads = [lines[0] for lines in groups]
    assert heads == sorted(heads, reverse=True)


def test_senders_recipients_ips_and_symbols_are_links_to_their_lists(make_page, base):
    item = _bounced_with_reply(base)
    page = make_page().page
    page.goto(f"{base}/messages/{item['correlation_key']}")
    page.locator(f'.rcpt-outcome[data-rcpt="{item["failed"]["recipient"]}"] a.filter-link').click()
    page.wait_for_url(re.compile(r"/messages\?recipient="))
    sync_api.expect(page.locator("#f-recipient")).to_have_value(item["failed"]["recipient"])
    page.wait_for_selector("#results table")
    assert total_shown(page) >= 1

    spam = api(base, "/messages", status="spam", limit=1)["data"]
    if not spam:
        pytest.skip("no spam in the simulated traffic")

    def follow_a_symbol():
        page.goto(f"{base}/messages/{spam[0]['correlation_key']}#spam")
        symbol = page.locator("tr[data-symbol]").first.get_attribute("data-symbol")
        page.locator("tr[data-symbol] a.filter-link").first.click()
        page.wait_for_url(re.compile(r"/logs/rspamd\?symbol="))
        page.wait_for_selector("#results table")
        expected = api(base, "/logs/rspamd", symbol=symbol, limit=1)["total"]
        assert total_shown(page) == expected >= 1

    # A fetch between the page's count and the API's would add rows with the symbol.
    while_still(base, follow_a_symbol)
