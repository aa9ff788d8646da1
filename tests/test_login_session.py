"""Login over real HTTP: the session cookie, the lockout per (client, user) behind a proxy,
`next=` that never leaves the site, ALLOWED_HOSTS, the security headers on waitress's own
answers, and /api/health degraded while mailcow refuses the key (as Docker's check sees it)."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.ingest import FetchFailed
from mailcow_logs_viewer.auth import LOCKOUT_FAILURES, LoginThrottle
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.sessions import COOKIE

from conftest import served

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "admin", "c0rrect-horse"

# Each would take the browser to evil.example if passed through as given (issue 17, finding 5).
HOSTILE_NEXT = [
    "//evil.example/", "///evil.example/", "/\\evil.example/", "\\\\evil.example/", "/\t/evil.example/",
    "/\r/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/", "\t//evil.example/", " //evil.example/",
    "/\x00/evil.example/", "/\x0b/evil.example/", "/\\/evil.example/", "\\/evil.example/",
    "https://evil.example/", "http:evil.example", "javascript:alert(1)", "evil.example", "//evil.example@x/",
    "/%09/evil.example/", "/\u0009/evil.example/", "%2F%2Fevil.example",
]


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def auth_app(make_settings):
    def make(**env):
        return create_app(make_settings(AUTH_ENABLED="true", AUTH_USERNAME=USER, AUTH_PASSWORD=PASSWORD, **env))
    yield make
    database.close()


def _login(url: str, password: str = PASSWORD, next_url: str = "/", headers=None) -> requests.Response:
    return requests.post(f"{url}/login", data={"username": USER, "password": password, "next": next_url},
                         headers=headers or {}, allow_redirects=False, timeout=10)


def _stays_on_site(url: str, location: str) -> bool:
    # What a browser does with the Location: resolve it against the page, then compare origins.
    target = urlsplit(urljoin(url + "/login", location))
    return (target.scheme, target.netloc) == tuple(urlsplit(url)[:2]) and target.path.startswith("/")


# ---------------------------------------------------------------- the session cookie

def test_login_sets_a_strict_httponly_session_that_logout_ends(auth_app):
    app = auth_app()
    with served(app) as url:
        assert _login(url, "wrong").status_code == 401
        response = _login(url, next_url="/messages?status=bounced")
        assert response.status_code == 303 and response.headers["Location"] == "/messages?status=bounced"
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        jar = {COOKIE: response.cookies[COOKIE]}
        assert requests.get(f"{url}/api/info", cookies=jar, timeout=10).status_code == 200
        assert requests.get(f"{url}/messages", cookies=jar, timeout=10, allow_redirects=False).status_code == 200
        # A tampered or made-up cookie is nobody's session.
        forged = jar[COOKIE][:-1] + ("0" if jar[COOKIE][-1] != "0" else "1")
        assert requests.get(f"{url}/api/info", cookies={COOKIE: forged}, timeout=10).status_code == 401
        # Scripts keep using Basic auth.
        assert requests.get(f"{url}/api/info", auth=(USER, PASSWORD), timeout=10).status_code == 200
        out = requests.post(f"{url}/logout", cookies=jar, allow_redirects=False, timeout=10)
        assert out.status_code == 303 and out.headers["Location"].endswith("/login")
        # The same cookie, replayed after the logout, no longer works.
        assert requests.get(f"{url}/api/info", cookies=jar, timeout=10).status_code == 401


def test_sessions_have_idle_and_absolute_lifetimes(auth_app):
    app = auth_app(SESSION_IDLE_MINUTES="10", SESSION_MAX_HOURS="1")
    clock = FakeClock()
    app.extensions["auth"].sessions.clock = clock
    with served(app) as url:
        def fresh():
            return {COOKIE: _login(url).cookies[COOKIE]}

        def works(jar):
            return requests.get(f"{url}/api/info", cookies=jar, timeout=10).status_code == 200
        idle = fresh()
        clock.now += 9 * 60
        assert works(idle)                  # activity keeps it alive
        clock.now += 9 * 60
        assert works(idle)
        clock.now += 10 * 60 + 1
        assert not works(idle)              # 10 minutes idle
        busy = fresh()
        for _ in range(6):
            clock.now += 9 * 60
            assert works(busy)
        clock.now += 9 * 60                 # 63 minutes after the login, though never idle
        assert not works(busy)


def test_a_page_without_a_session_redirects_to_login_and_back(auth_app):
    app = auth_app()
    with served(app) as url:
        for path in ("/", "/messages?status=bounced&search=a%20b", "/messages/abc123", "/logs/postfix", "/settings"):
            response = requests.get(url + path, allow_redirects=False, timeout=10)
            assert response.status_code == 302, path
            location = response.headers["Location"]
            assert location.startswith("/login?next="), location
            assert "<html" not in response.text.lower() or "login" in response.text.lower()
            login_page = requests.get(urljoin(url, location), timeout=10)
            assert login_page.status_code == 200 and 'id="login-form"' in login_page.text
            back = _login(url, next_url=re.search(r'name="next" value="([^"]*)"', login_page.text).group(1)
                          .replace("&amp;", "&"))
            assert back.headers["Location"] == path, (path, back.headers["Location"])
        assert requests.get(f"{url}/static/favicon.svg", timeout=10).status_code == 200   # assets stay public


# ---------------------------------------------------------------- next= never leaves the site

@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_next_never_leaves_the_site(auth_app, hostile):
    app = auth_app()
    with served(app) as url:
        response = _login(url, next_url=hostile)
        assert response.status_code == 303
        assert _stays_on_site(url, response.headers["Location"]), (hostile, response.headers["Location"])
        # Already logged in, GET /login?next= redirects the same way.
        again = requests.get(f"{url}/login", params={"next": hostile}, cookies=response.cookies,
                             allow_redirects=False, timeout=10)
        assert again.status_code == 303 and _stays_on_site(url, again.headers["Location"]), hostile


# ---------------------------------------------------------------- the lockout

def _basic_fail(url, forwarded_for=None, user=USER):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.get(f"{url}/api/info", auth=(user, "nope"), headers=headers, timeout=10)


def test_behind_a_trusted_proxy_one_attacker_locks_only_their_own_tries(auth_app):
    app = auth_app(TRUSTED_PROXIES="127.0.0.0/8")
    with served(app) as url:
        attacker, admin = "203.0.113.7", "198.51.100.2"
        for _ in range(LOCKOUT_FAILURES):
            assert _basic_fail(url, f"{attacker}, 127.0.0.1").status_code == 401
        locked = requests.get(f"{url}/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": attacker},
                              timeout=10)
        assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        assert "try again" in locked.json()["detail"]
        # The admin behind the same proxy is not locked out, by Basic auth or by the login form.
        assert requests.get(f"{url}/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": admin},
                            timeout=10).status_code == 200
        assert _login(url, headers={"X-Forwarded-For": admin}).status_code == 303
        # The form is locked for the attacker too, with a 429 page.
        page = _login(url, headers={"X-Forwarded-For": attacker})
        assert page.status_code == 429 and "Retry-After" in page.headers and "Too many failed logins" in page.text
        # Another user name from the attacker's address is another pair.
        assert _basic_fail(url, attacker, user="someone").status_code == 401


def test_without_trusted_proxies_x_forwarded_for_is_ignored(auth_app):
    app = auth_app()
    with served(app) as url:
        for n in range(LOCKOUT_FAILURES):   # a new made-up address each time changes nothing
            assert _basic_fail(url, f"192.0.2.{n}").status_code == 401
        response = requests.get(f"{url}/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": "192.0.2.200"},
                                timeout=10)
        assert response.status_code == 429 and "Retry-After" in response.headers


def test_the_lockout_table_forgets():
    clock = FakeClock()
    throttle = LoginThrottle(limit=3, window=60, clock=clock, max_tracked=100)
    for n in range(1000):
        throttle.failed(("192.0.2.1", f"user{n}"))
    assert len(throttle) == 100                        # bounded
    throttle.failed(("192.0.2.9", "admin"))
    clock.now += 61
    throttle.failed(("192.0.2.10", "admin"))
    assert len(throttle) == 1                          # entries past their window are dropped


# ---------------------------------------------------------------- hosts, headers, health

def test_allowed_hosts_refuse_other_host_names(make_settings):
    app = create_app(make_settings(ALLOWED_HOSTS="logs.example.org"))
    try:
        with served(app) as url:
            def status(host):
                return requests.get(f"{url}/api/info", headers={"Host": host}, timeout=10).status_code
            assert status("evil.example") == 400
            assert status("evil.example:8080") == 400
            assert status("logs.example.org") == 200 and status("LOGS.example.org:443") == 200
            assert status("127.0.0.1") == 200 and status("localhost:8080") == 200   # health checks, local use
            refused = requests.get(f"{url}/", headers={"Host": "rebound.evil.example"}, timeout=10)
            assert refused.status_code == 400 and "ALLOWED_HOSTS" in refused.json()["detail"]
            assert refused.headers["X-Frame-Options"] == "DENY"
    finally:
        database.close()


def _raw(url: str, data: bytes) -> bytes:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_waitress_own_errors_carry_the_security_headers(app):
    with served(app) as url:
        for request in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
                        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            answer = _raw(url, request)
            head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            assert re.match(r"HTTP/1\.[01] [45]\d\d", head), head[:80]
            for header in ("X-Content-Type-Options: nosniff", "X-Frame-Options: DENY",
                           "Content-Security-Policy: default-src 'none'"):
                assert header in head, (request[:30], head)


def _docker_healthcheck(url: str) -> int:
    """Docker's HEALTHCHECK command from the Dockerfile, pointed at `url`."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    code = re.search(r'CMD \["python", "-c", "(.+)"\]\n', dockerfile.split("HEALTHCHECK", 1)[1]).group(1)
    code = code.replace("http://127.0.0.1:8080", url)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


def test_health_is_degraded_while_mailcow_refuses_the_key(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    try:
        with served(app) as url:
            runtime.fetch_and_correlate()
            assert requests.get(f"{url}/api/health", timeout=10).json()["status"] == "healthy"
            assert _docker_healthcheck(url) == 0
            simulator.set_fault("unauthorized")
            with pytest.raises(FetchFailed):
                runtime.fetch_and_correlate()
            health = requests.get(f"{url}/api/health", timeout=10)
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert "API key" in health.json()["problems"][0]
            assert simulator.api_key not in health.text
            assert _docker_healthcheck(url) == 1
            simulator.set_fault(None)
            runtime.fetch_and_correlate()
            assert requests.get(f"{url}/api/health", timeout=10).json()["status"] == "healthy"
    finally:
        simulator.set_fault(None)
        runtime.client.close()
        database.close()
