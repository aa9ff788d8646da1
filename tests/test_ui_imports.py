"""Imported history in a real browser (issue 12, item 12): a day of old Postfix logs imported
with `run.py import`, the real app serving it, and the dashboard's "Counters up to" picker
showing that day's figures instead of the zeros of windows that end now."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ROOT, Process, base_env, free_port, wait_for
from test_ui_pages import browser, make_page  # noqa: F401, F811  (fixtures)

sync_api = pytest.importorskip("playwright.sync_api")

# Forty days back: outside every dashboard window (24 h, 7 d, 30 d) that ends now.
DAY = (datetime.now(timezone.utc) - timedelta(days=40)).replace(hour=9, minute=0, second=0, microsecond=0)


def _message(n: int, when: datetime, status: str) -> str:
    qid = f"{0x4A1B2C3D40 + n:X}"
    stamp = f"{when:%b} {when.day:2d} {when:%H:%M:%S}"
    relay = ("dovecot[172.22.1.250]:24, delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Saved)"
             if status == "sent" else
             "none, delay=0.3, delays=0/0/0/0.3, dsn=5.1.1, status=bounced (host mx.remote.example[192.0.2.9] "
             "said: 550 5.1.1 User unknown (in reply to RCPT TO command))")
    return (f"{stamp} mx postfix/smtpd[11]: {qid}: client=mail.example.net[203.0.113.9]\n"
            f"{stamp} mx postfix/cleanup[12]: {qid}: message-id=<imported-{n}@example.net>\n"
            f"{stamp} mx postfix/qmgr[13]: {qid}: from=<alice@example.net>, size=900, nrcpt=1 (queue active)\n"
            f"{stamp} mx postfix/lmtp[14]: {qid}: to=<bob{n}@example.org>, relay={relay}\n"
            f"{stamp} mx postfix/qmgr[13]: {qid}: removed\n")


@pytest.fixture(scope="module")
def imported_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("imported")
    log = base / "mail.log"
    statuses = ["sent", "sent", "sent", "bounced"]
    log.write_text("".join(_message(n, DAY + timedelta(hours=n), s) for n, s in enumerate(statuses)))
    env = base_env(base / "data", LOCAL_DOMAINS="example.org")
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(log), "--year", str(DAY.year),
                             "--tz", "UTC"], cwd=ROOT, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    port = free_port()
    app = Process([], {**env, "APP_HOST": "127.0.0.1", "APP_PORT": str(port)}, base / "app.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/health")
        yield url, len(statuses)
    finally:
        app.stop()


def _count(page, counter: str) -> int:
    value = page.locator(f'[data-counter="{counter}"] .stat-value')
    sync_api.expect(value).not_to_have_text("–")
    return int(re.sub(r"\D", "", value.inner_text()))


def test_the_dashboard_shows_the_imported_day_when_its_end_is_picked(make_page, imported_app):  # noqa: F811
    url, imported = imported_app
    watched = make_page()
    page = watched.page
    page.goto(url + "/")
    assert _count(page, "messages") == 0              # windows that end now hold none of it
    sync_api.expect(page.locator("#window-note")).to_contain_text("The newest message is from")
    page.fill("#window-end-date", DAY.strftime("%Y-%m-%d"))
    page.click("#window-end button[type=submit]")
    page.wait_for_url(re.compile(rf"[?&]end={DAY:%Y-%m-%d}"))
    sync_api.expect(page.locator('[data-counter="messages"] .stat-value')).to_have_text(str(imported))
    assert _count(page, "failed") == 1
    sync_api.expect(page.locator("#window-note")).to_contain_text("Windows end")
    sync_api.expect(page.locator("#recent table tbody tr")).to_have_count(imported)
    # Only the panels that ask mailcow itself (there is none here) may fail, with a 502.
    assert [e for e in watched.errors if "502 (BAD GATEWAY)" not in e] == []
    # ... and the note's own link, to the end of the stored data, shows the same figures.
    page.click("#window-note >> text=back to now")
    assert _count(page, "messages") == 0
    page.click("#window-note >> text=view up to then")
    sync_api.expect(page.locator('[data-counter="messages"] .stat-value')).to_have_text(str(imported))
