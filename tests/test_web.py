"""Page routes: every page is a shell with no data, no inline script or style, branded from
the settings, and pointing at its own JavaScript module and the files it imports."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "static"

PAGES = {
    "/": "dashboard",
    "/messages": "messages",
    "/messages/0e154a517b342f4291a0059e2c27cb08e61a69fb2e96cecd12577846831b1268": "message",
    "/logs/postfix": "logs-postfix",
    "/logs/rspamd": "logs-rspamd",
    "/logs/netfilter": "logs-netfilter",
    "/security": "security",
    "/queue": "queue",
    "/status": "status",
    "/settings": "settings",
}


class Shell(HTMLParser):
    """Collects what CSP and the no-data rule care about: scripts, styles, event attributes."""

    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self.inline_script = False
        self.style_attrs: list[str] = []
        self.event_attrs: list[str] = []
        self.style_blocks = 0
        self.links: list[dict] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, _ in attrs:
            if name == "style":
                self.style_attrs.append(tag)
            if name.startswith("on"):
                self.event_attrs.append(f"{tag} {name}")
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        if tag == "style":
            self.style_blocks += 1
        if tag == "link":
            self.links.append(attributes)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_script = True


def parse(html: str) -> Shell:
    shell = Shell()
    shell.feed(html)
    return shell


@pytest.mark.parametrize("path,module", PAGES.items())
def test_page_is_a_shell_loading_its_module(client, path, module):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    shell = parse(response.get_data(as_text=True))
    assert {"type": "module", "src": f"/static/js/pages/{module}.js"} in shell.scripts
    assert (STATIC / "js" / "pages" / f"{module}.js").is_file()
    assert not shell.inline_script, "CSP forbids inline scripts"
    assert not shell.style_attrs and not shell.style_blocks, "CSP forbids inline styles"
    assert not shell.event_attrs, "CSP forbids inline event handlers"
    for script in shell.scripts:
        assert (ROOT / script["src"].lstrip("/")).is_file(), script["src"]
    for link in shell.links:
        assert (ROOT / link["href"].lstrip("/")).is_file(), link["href"]


def test_every_nav_link_is_a_page(client):
    html = client.get("/").get_data(as_text=True)
    hrefs = re.findall(r'<a href="(/[^"]*)" data-nav=', html)
    assert len(hrefs) == 11       # with Alerts (wt-14) and Insights (wt-13)
    for href in hrefs:
        assert client.get(href).status_code == 200, href


def test_charts_are_only_loaded_where_drawn(client):
    assert "chart.umd.min.js" in client.get("/").get_data(as_text=True)
    assert "chart.umd.min.js" in client.get("/security").get_data(as_text=True)
    assert "chart.umd.min.js" not in client.get("/messages").get_data(as_text=True)


def test_unknown_log_source_is_404_and_logs_goes_to_postfix(client):
    assert client.get("/logs/mysql").status_code == 404
    response = client.get("/logs")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/logs/postfix")


def test_login_redirects_to_dashboard_when_auth_is_off(client):
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")


def test_login_page_and_logout_button_when_auth_is_on(make_settings):
    app = create_app(make_settings(AUTH_ENABLED="true", AUTH_PASSWORD="s3cret"))
    try:
        client = app.test_client()
        login = client.get("/login")
        assert login.status_code == 200
        html = login.get_data(as_text=True)
        assert 'id="login-form"' in html and 'type="password"' in html
        assert "/static/js/pages/login.js" in html
        # Shells carry no data, so they need no credentials; their API calls do.
        page = client.get("/messages")
        assert page.status_code == 200
        assert 'id="logout"' in page.get_data(as_text=True)
        assert 'data-auth="on"' in page.get_data(as_text=True)
        assert client.get("/api/messages").status_code == 401
    finally:
        database.close()


def test_no_logout_button_when_auth_is_off(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="logout"' not in html
    assert 'data-auth="off"' in html


def test_title_and_logo_brand_the_header_escaped(make_settings):
    app = create_app(make_settings(APP_TITLE='Acme <b>"Mail"</b>', APP_LOGO_URL="https://cdn.example.com/logo.png"))
    try:
        html = app.test_client().get("/").get_data(as_text=True)
        assert "Acme &lt;b&gt;&#34;Mail&#34;&lt;/b&gt;" in html
        assert "<b>" not in html
        assert '<img class="brand-logo" src="https://cdn.example.com/logo.png"' in html
    finally:
        database.close()


def test_message_key_is_echoed_escaped(client):
    response = client.get('/messages/"><img src=x onerror=alert(1)>')
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<img src=x" not in html
    assert 'data-key="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in html


def test_every_module_import_resolves():
    modules = list((STATIC / "js").rglob("*.js"))
    assert modules
    for module in modules:
        for target in re.findall(r'^import [^;]*? from "(\.[^"]+)";', module.read_text(), flags=re.M):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports missing {target}"


def test_chartjs_is_vendored_with_its_licence():
    vendor = STATIC / "vendor" / "chartjs"
    assert (vendor / "chart.umd.min.js").stat().st_size > 100_000
    licence = (vendor / "LICENSE.md").read_text()
    assert "MIT" in licence and "Chart.js" in licence
