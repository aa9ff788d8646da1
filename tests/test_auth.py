"""HTTP Basic on every API route (but /api/health), the per-IP lockout, and security headers."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.auth import LOCKOUT_FAILURES, LOCKOUT_WINDOW, LoginThrottle
from mailcow_logs_viewer.db import database

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "admin", "c0rrect-horse"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def auth_app(make_settings):
    app = create_app(make_settings(AUTH_ENABLED="true", AUTH_USERNAME=USER, AUTH_PASSWORD=PASSWORD))
    yield app
    database.close()


@pytest.fixture
def auth_client(auth_app):
    return auth_app.test_client()


def _protected_rules(app):
    for rule in app.url_map.iter_rules():
        if (rule.rule.startswith("/api/") and rule.rule != "/api/health") or rule.rule == "/metrics":
            methods = sorted(rule.methods - IGNORED_METHODS)
            method = "GET" if "GET" in methods else methods[0]
            yield method, re.sub(r"<[^>]+>", "dummy1", rule.rule)


def test_every_protected_route_requires_credentials(auth_app, auth_client):
    routes = list(_protected_rules(auth_app))
    paths = {path for _, path in routes}
    # the walk really covers the API and the metrics
    assert {"/api/info", "/api/messages", "/metrics"} <= paths
    assert len(routes) >= 10
    for method, path in routes:
        response = auth_client.open(path, method=method)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.get_json() == {"detail": "Authentication required"}, path
        assert "WWW-Authenticate" not in response.headers, path


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "POST", "DELETE"])
def test_other_methods_are_guarded_too(auth_client, method):
    response = auth_client.open("/api/info", method=method)
    assert response.status_code == 401
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("path", ["/api/does-not-exist", "/api//info", "/api/health/", "/api/info/"])
def test_odd_api_paths_do_not_bypass(auth_client, path):
    response = auth_client.get(path)
    assert response.status_code == 401, path


def test_health_is_public_without_config(auth_client):
    response = auth_client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "healthy"
    assert "config" not in body
    assert "TEST-KEY" not in response.get_data(as_text=True)


def test_health_has_config_when_auth_is_off(client):
    assert "config" in client.get("/api/health").get_json()


def test_login_and_static_are_public(auth_client):
    response = auth_client.get("/login")
    assert response.status_code != 401
    if (ROOT / "templates" / "login.html").exists():
        assert response.status_code == 200
        assert response.mimetype == "text/html"
    # the static route is not behind the guard: a missing file is a plain 404, not a 401
    assert auth_client.get("/static/no-such-file.css").status_code == 404
    favicon = ROOT / "static" / "favicon.svg"
    if favicon.exists():
        response = auth_client.get("/static/favicon.svg")
        assert response.status_code == 200
        assert response.data == favicon.read_bytes()


@pytest.mark.parametrize("headers", [
    basic(USER, "wrong"),
    basic("root", PASSWORD),
    basic(USER, PASSWORD + "x"),
    basic(USER, PASSWORD[:-1]),
    basic(USER, ""),
    {"Authorization": "Basic !!!not-base64!!!"},
    {"Authorization": "Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
    {"Authorization": "Basic"},
])
def test_wrong_credentials(auth_client, headers):
    response = auth_client.get("/api/info", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Authentication required"}
    assert "WWW-Authenticate" not in response.headers


def test_right_credentials(auth_client):
    response = auth_client.get("/api/info", headers=basic(USER, PASSWORD))
    assert response.status_code == 200
    assert response.get_json()["auth_enabled"] is True
    assert auth_client.get("/metrics", headers=basic(USER, PASSWORD)).status_code == 200


def test_scheme_is_case_insensitive(auth_client):
    # RFC 7617 / 9110: the auth scheme name is case-insensitive
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert auth_client.get("/api/info", headers={"Authorization": f"basic {token}"}).status_code == 200


def test_password_with_colons_and_unicode(make_settings):
    password = "pa:ss:w\u00f6rd"
    app = create_app(make_settings(AUTH_ENABLED="true", AUTH_USERNAME="ops", AUTH_PASSWORD=password))
    try:
        client = app.test_client()
        assert client.get("/api/info", headers=basic("ops", password)).status_code == 200
        assert client.get("/api/info", headers=basic("ops", "pa:ss")).status_code == 401
        assert client.get("/api/info", headers=basic("ops:pa", "ss")).status_code == 401
    finally:
        database.close()


# ---------------------------------------------------------------- lockout

def _fail(client, ip: str, times: int = 1):
    for _ in range(times):
        response = client.get("/api/info", headers=basic(USER, "nope"), environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 401


def _get(client, ip: str, password: str = PASSWORD):
    return client.get("/api/info", headers=basic(USER, password), environ_base={"REMOTE_ADDR": ip})


def test_lockout_after_ten_failures(auth_client):
    attacker, admin = "203.0.113.7", "198.51.100.2"
    _fail(auth_client, attacker, LOCKOUT_FAILURES - 1)
    assert _get(auth_client, attacker).status_code == 200   # 9 failures: not locked yet
    _fail(auth_client, attacker, 1)
    response = _get(auth_client, attacker)                   # locked: even right credentials
    assert response.status_code == 429
    assert response.get_json()["detail"]
    assert _get(auth_client, attacker, "nope").status_code == 429
    # another address is unaffected, and its correct login does not clear the lock
    assert _get(auth_client, admin).status_code == 200
    assert _get(auth_client, attacker).status_code == 429


def test_lock_holds_until_the_window_passes(auth_app, auth_client):
    clock = FakeClock()
    auth_app.extensions["login_throttle"].clock = clock
    ip = "203.0.113.9"
    _fail(auth_client, ip, LOCKOUT_FAILURES)
    assert _get(auth_client, ip).status_code == 429
    clock.now += LOCKOUT_WINDOW - 1
    assert _get(auth_client, ip).status_code == 429
    clock.now += 2
    assert _get(auth_client, ip).status_code == 200


def test_throttle_counts_only_recent_failures():
    clock = FakeClock()
    throttle = LoginThrottle(limit=10, window=900, clock=clock)
    for _ in range(9):
        throttle.failed("a")
    clock.now += 600
    throttle.failed("a")
    assert throttle.locked("a")            # 10 within 15 minutes
    assert not throttle.locked("b")
    clock.now += 301                       # the first nine are now older than the window
    assert not throttle.locked("a")
    for _ in range(8):
        throttle.failed("a")
    assert not throttle.locked("a")        # 9 recent
    throttle.failed("a")
    assert throttle.locked("a")


def test_failures_spread_over_more_than_the_window_never_lock():
    clock = FakeClock()
    throttle = LoginThrottle(limit=10, window=900, clock=clock)
    for _ in range(50):
        throttle.failed("a")
        clock.now += 100                   # 9 per 900 s at most
    assert not throttle.locked("a")


# ---------------------------------------------------------------- security headers

def _check_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    script = directives.get("script-src", directives.get("default-src"))
    assert script is not None and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert directives.get("frame-ancestors") == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_security_headers_on_api_and_pages(auth_client, client):
    _check_security_headers(auth_client.get("/api/info", headers=basic(USER, PASSWORD)))
    _check_security_headers(auth_client.get("/api/info"))             # the 401 too
    _check_security_headers(auth_client.get("/login"))                # a page
    _check_security_headers(client.get("/login"))                     # the redirect when auth is off
    _check_security_headers(client.get("/static/no-such-file.css"))
    if (ROOT / "templates" / "dashboard.html").exists():
        page = client.get("/")
        assert page.status_code == 200
        _check_security_headers(page)
