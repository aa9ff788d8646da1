"""Sign in with mailcow over real HTTP against the simulated mailcow's OAuth2 provider: the
flow, and what it refuses (a wrong state, a replayed code, a non-mailbox, a wrong PKCE verifier)."""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import pytest
import requests

from mailcow_logs_viewer.auth import LOCKOUT_FAILURES

from mailcow_sign_in import (ADMIN_PASSWORD, ADMIN_USER, CLIENT_ID, CLIENT_SECRET, DOMAIN_ADMIN, approval_form,
                             approve, query_of, sign_in, signed_in_world)

USER = "john@example.org"     # the alias info@example.org delivers to john and jane


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with signed_in_world(tmp_path_factory.mktemp("signin") / "data", hours=1) as found:
        yield found


@pytest.fixture(autouse=True)
def fresh_lockout(world):
    yield
    app = world[0]
    app.extensions["auth"].throttle._failures.clear()


def _audit(app, event):
    return [e for e in app.extensions["runtime"].audit.recent(1000, event)]


def test_a_mailbox_user_signs_in_and_is_scoped(world):
    app, url, _ = world
    session = sign_in(url, USER, "/messages?status=bounced")
    cookie = next(c for c in session.cookies if c.name == "mlv_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    info = session.get(f"{url}/api/info").json()
    assert (info["role"], info["username"]) == ("mailbox", USER)
    assert info["local_domains"] == ["example.org"]
    # the page after the callback moves on (a same-site step) to where the user was going
    page = session.get(f"{url}/auth/mailcow/callback")     # no state now: refused, but the session stays
    assert page.status_code == 401
    assert session.get(f"{url}/api/messages").status_code == 200
    assert any(e.username == USER and e.method == "mailcow" for e in _audit(app, "sign_in"))
    # the alias list made info@ one of john's addresses
    scope = app.extensions["auth"].sessions.scope_of(cookie.value)
    assert scope.addresses == {"john@example.org", "info@example.org"}


def test_the_page_after_the_callback_goes_on_to_next(world):
    _, url, _ = world
    session = requests.Session()
    back = session.get(approve(session, url, USER, "/messages?status=bounced"))
    assert back.status_code == 200
    assert 'content="0; url=/messages?status=bounced"' in back.text


def test_a_domain_admin_gets_their_domains(world):
    app, url, _ = world
    session = sign_in(url, DOMAIN_ADMIN)
    info = session.get(f"{url}/api/info").json()
    assert (info["role"], info["username"], info["local_domains"]) == ("domain_admin", DOMAIN_ADMIN, ["example.net"])


def test_sign_out_ends_the_session(world):
    app, url, _ = world
    session = sign_in(url, USER)
    cookie = session.cookies.get("mlv_session")
    assert session.post(f"{url}/logout", allow_redirects=False).status_code == 303
    again = requests.get(f"{url}/api/messages", cookies={"mlv_session": cookie})
    assert again.status_code == 401
    assert any(e.username == USER for e in _audit(app, "sign_out"))


def test_a_wrong_state_is_refused(world):
    app, url, _ = world
    session = requests.Session()
    callback = approve(session, url, USER)
    params = query_of(callback)
    tampered = callback.split("?")[0] + "?" + urlencode({**params, "state": params["state"][:-2] + "xx"})
    answer = session.get(tampered, allow_redirects=False)
    assert answer.status_code == 401
    assert "Sign-in with mailcow failed" in answer.text
    assert "mlv_session" not in session.cookies
    assert session.get(f"{url}/api/messages").status_code == 401


def test_a_callback_link_from_another_browser_signs_no_one_in(world):
    # Login CSRF: the attacker's own approved callback, opened in the victim's browser (no state cookie).
    _, url, _ = world
    attacker = requests.Session()
    callback = approve(attacker, url, USER)
    victim = requests.Session()
    assert victim.get(callback, allow_redirects=False).status_code == 401
    assert "mlv_session" not in victim.cookies


def test_a_replayed_code_is_refused(world):
    _, url, _ = world
    first = requests.Session()
    callback = approve(first, url, USER)
    assert first.get(callback).status_code == 200
    code = query_of(callback)["code"]
    # The same code under a fresh, valid state of a second flow: mailcow refuses it, so do we.
    second = requests.Session()
    _, fields = approval_form(second, url)
    answer = second.get(f"{url}/auth/mailcow/callback", params={"code": code, "state": fields["state"]},
                        allow_redirects=False)
    assert answer.status_code == 401
    assert "refused the code (invalid_grant)" in answer.text
    assert "mlv_session" not in second.cookies


def test_a_profile_that_is_not_a_mailbox_is_refused(world):
    app, url, _ = world
    session = requests.Session()
    answer = session.get(approve(session, url, "admin"), allow_redirects=False)
    assert answer.status_code == 401
    assert "not a mailbox" in answer.text
    assert "mlv_session" not in session.cookies
    assert any("success: false" in e.detail for e in _audit(app, "sign_in_failed"))


def test_denied_on_mailcow_signs_no_one_in(world):
    _, url, _ = world
    session = requests.Session()
    action, fields = approval_form(session, url)
    back = session.post(action, data={**fields, "username": USER, "authorized": "no"}, allow_redirects=False)
    assert "error=access_denied" in back.headers["Location"]
    assert session.get(back.headers["Location"], allow_redirects=False).status_code == 401
    assert "mlv_session" not in session.cookies


def test_sign_in_failures_count_toward_the_lockout(world):
    _, url, _ = world
    session = requests.Session()
    for _ in range(LOCKOUT_FAILURES):
        assert session.get(f"{url}/auth/mailcow/callback", params={"state": "x", "code": "y"}).status_code == 401
    locked = session.get(f"{url}/auth/mailcow", allow_redirects=False)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert session.get(f"{url}/auth/mailcow/callback", params={"state": "x", "code": "y"}).status_code == 429


def test_the_admin_password_login_still_works_and_is_audited(world):
    app, url, _ = world
    session = requests.Session()
    answer = session.post(f"{url}/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/"},
                          allow_redirects=False)
    assert answer.status_code == 303
    assert session.get(f"{url}/api/info").json()["role"] == "admin"
    assert session.get(f"{url}/api/logs/postfix").status_code == 200
    assert any(e.username == ADMIN_USER and e.method == "password" for e in _audit(app, "sign_in"))


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _code(sim, challenge: str, redirect_uri: str) -> str:
    answer = requests.post(f"{sim.url}/oauth/authorize", allow_redirects=False, data={
        "client_id": CLIENT_ID, "redirect_uri": redirect_uri, "response_type": "code", "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256", "username": USER, "authorized": "yes"})
    return query_of(answer.headers["Location"])["code"]


def test_the_simulated_provider_answers_like_mailcow(world):
    _, url, sim = world
    redirect_uri = f"{url}/auth/mailcow/callback"
    token_form = {"grant_type": "authorization_code", "redirect_uri": redirect_uri, "client_id": CLIENT_ID,
                  "client_secret": CLIENT_SECRET}
    # a wrong PKCE verifier, a wrong secret, a wrong redirect URI: refused
    code = _code(sim, _challenge("right-verifier"), redirect_uri)
    refused = requests.post(f"{sim.url}/oauth/token", data={**token_form, "code": code, "code_verifier": "wrong"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    code = _code(sim, _challenge("v"), redirect_uri)
    assert requests.post(f"{sim.url}/oauth/token", data={**token_form, "code": code, "client_secret": "no",
                                                         "code_verifier": "v"}).json()["error"] == "invalid_client"
    # the right one: a bearer token for the profile, once
    code = _code(sim, _challenge("v"), redirect_uri)
    token = requests.post(f"{sim.url}/oauth/token", data={**token_form, "code": code, "code_verifier": "v"}).json()
    assert token["token_type"] == "Bearer" and token["access_token"]
    again = requests.post(f"{sim.url}/oauth/token", data={**token_form, "code": code, "code_verifier": "v"})
    assert again.json()["error"] == "invalid_grant"
    profile = requests.get(f"{sim.url}/oauth/profile", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert profile.json() | {"success": True, "username": USER, "email": USER, "full_name": "John Doe",
                             "active": 1} == profile.json()
    assert requests.get(f"{sim.url}/oauth/profile", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_client_secret_is_in_no_answer(world):
    _, url, _ = world
    admin = requests.Session()
    admin.post(f"{url}/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/"})
    for path in ("/api/settings/info", "/api/info", "/api/health", "/settings", "/login"):
        answer = admin.get(f"{url}{path}")
        assert answer.status_code == 200 and CLIENT_SECRET not in answer.text, path
