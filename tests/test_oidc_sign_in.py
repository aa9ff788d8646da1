"""Admin sign-in through an OpenID Connect provider over real HTTP, against the simulator's
provider (simulator/oidc.py): an admin-group member gets an admin session; a user without the
group, a wrong state and a replayed code are refused and count toward the lockout."""
from __future__ import annotations

import pytest
import requests

from mailcow_sign_in import OIDC_GROUP, approve, query_of, sign_in, signed_in_world

ADMIN = "alice@idp.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with signed_in_world(tmp_path_factory.mktemp("oidc") / "data", hours=1, oidc=True) as found:
        yield found


@pytest.fixture(autouse=True)
def fresh_lockout(world):
    yield
    world[0].extensions["auth"].throttle._failures.clear()


def _failures(app) -> int:
    return sum(len(v) for v in app.extensions["auth"].throttle._failures.values())


def _audit(app, event):
    return app.extensions["runtime"].audit.recent(1000, event)


def test_the_login_page_offers_the_provider(world):
    _, url, _ = world
    page = requests.get(f"{url}/login").text
    assert 'id="oidc-sign-in"' in page and "Sign in with 127.0.0.1" in page


def test_the_authorize_request_carries_state_pkce_and_nonce(world):
    _, url, sim = world
    start = requests.get(f"{url}/auth/oidc", allow_redirects=False)
    assert start.status_code == 303
    assert start.headers["Location"].startswith(f"{sim.oidc.issuer}/authorize?")
    query = query_of(start.headers["Location"])
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert query["redirect_uri"] == f"{url}/auth/oidc/callback"
    assert "secret" not in start.headers["Location"]


def test_an_admin_group_member_reaches_the_admin_api(world):
    app, url, _ = world
    session = requests.Session()
    back = session.get(approve(session, url, ADMIN, "/settings", provider="oidc", groups=f"staff,{OIDC_GROUP}"),
                       allow_redirects=False)
    assert back.status_code == 200, back.text
    assert 'content="0; url=/settings"' in back.text
    info = session.get(f"{url}/api/info").json()
    assert (info["role"], info["username"]) == ("admin", ADMIN)
    settings = session.get(f"{url}/api/settings/info")
    assert settings.status_code == 200
    assert "mlv-oidc-secret" not in settings.text
    assert any(e.username == ADMIN and e.method == "oidc" and e.role == "admin" for e in _audit(app, "sign_in"))


@pytest.mark.parametrize("groups", ["", "staff"])
def test_a_user_without_the_group_is_refused(world, groups):
    app, url, _ = world
    session = requests.Session()
    before = _failures(app)
    back = session.get(approve(session, url, "bob@idp.example", provider="oidc", groups=groups), allow_redirects=False)
    assert back.status_code == 401
    assert "not in the admin group" in back.text
    assert "mlv_session" not in session.cookies
    assert session.get(f"{url}/api/settings/info").status_code == 401
    assert _failures(app) == before + 1
    assert any(e.method == "oidc" and "admin group" in e.detail for e in _audit(app, "sign_in_failed"))


def test_a_wrong_state_is_refused(world):
    app, url, _ = world
    session = requests.Session()
    callback = approve(session, url, ADMIN, provider="oidc", groups=OIDC_GROUP)
    query = query_of(callback)
    back = session.get(f"{url}/auth/oidc/callback", params={"code": query["code"], "state": "forged"},
                       allow_redirects=False)
    assert back.status_code == 401 and "state" in back.text
    assert "mlv_session" not in session.cookies
    # another browser (no state cookie) with the right state and code: refused too
    assert requests.get(callback, allow_redirects=False).status_code == 401
    assert _failures(app) == 2


def test_a_replayed_code_is_refused(world):
    app, url, _ = world
    session = requests.Session()
    callback = approve(session, url, ADMIN, provider="oidc", groups=OIDC_GROUP)
    code = query_of(callback)["code"]
    assert session.get(callback, allow_redirects=False).status_code == 200
    # a second flow of the same browser, answered with the first (used) code
    again = requests.Session()
    fresh = query_of(approve(again, url, ADMIN, provider="oidc", groups=OIDC_GROUP))
    replay = again.get(f"{url}/auth/oidc/callback", params={"code": code, "state": fresh["state"]},
                       allow_redirects=False)
    assert replay.status_code == 401 and "invalid_grant" in replay.text
    assert "mlv_session" not in again.cookies


def test_the_mailcow_sign_in_still_works_beside_it(world):
    _, url, _ = world
    assert sign_in(url, "john@example.org").get(f"{url}/api/info").json()["role"] == "mailbox"
