"""Sign in with mailcow the way a browser does, over real HTTP: the app sends the browser to the
simulated mailcow's approval page, the form there is submitted, mailcow sends it back."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.config import load_settings
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.server import make_server

from conftest import SIM_SEED, base_env, free_port

CLIENT_ID, CLIENT_SECRET = "mlv-test-client", "mlv-test-secret"
ADMIN_USER, ADMIN_PASSWORD = "admin", "c0rrect-horse"
DOMAIN_ADMIN = "peter@example.net"
OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_GROUP = "mlv-oidc-client", "mlv-oidc-secret", "mailcow-admins"


@contextmanager
def signed_in_world(data_dir: Path, hours: float = 6, host: str = "127.0.0.1", oidc: bool = False, **env):
    """(app, its URL, simulator): the simulated mailcow with an OAuth2 app registered, and the
    product serving a database of `hours` of its mail on a loopback port, named `host` in its
    PUBLIC_URL ("localhost" puts it on another site than the simulator's 127.0.0.1). `oidc`: admins
    may also sign in through the simulator's OpenID Connect provider (group OIDC_GROUP)."""
    import threading

    from mailcow_logs_viewer.runtime import Runtime
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    sim = SimulatedMailcow(TrafficGenerator(seed=SIM_SEED, rate_per_hour=120))
    sim.start()
    port = free_port()
    url = f"http://{host}:{port}"
    sim.oauth.register(CLIENT_ID, CLIENT_SECRET, f"{url}/auth/mailcow/callback")
    sim.preload(hours=hours, now=time.time())
    if oidc:
        sim.oidc.register(OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, f"{url}/auth/oidc/callback")
        env.update(OIDC_ISSUER=sim.oidc.issuer, OIDC_CLIENT_ID=OIDC_CLIENT_ID, OIDC_CLIENT_SECRET=OIDC_CLIENT_SECRET,
                   OIDC_ADMIN_GROUP=OIDC_GROUP)
    settings = load_settings(base_env(
        data_dir, MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key, FETCH_COUNT_POSTFIX=5000,
        AUTH_ENABLED="true", AUTH_USERNAME=ADMIN_USER, AUTH_PASSWORD=ADMIN_PASSWORD,
        MAILCOW_OAUTH_CLIENT_ID=CLIENT_ID, MAILCOW_OAUTH_CLIENT_SECRET=CLIENT_SECRET, PUBLIC_URL=url,
        DOMAIN_ADMINS=f"{DOMAIN_ADMIN}=example.net", **env))
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    server = make_server(app, "127.0.0.1", port, 4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield app, url, sim
    finally:
        server.close()
        thread.join(5)
        runtime.client.close()
        sim.stop()
        database.close()


def approval_form(session: requests.Session, app_url: str, next_path: str = "/",
                  provider: str = "mailcow") -> tuple[str, dict]:
    """Follow "Sign in with mailcow" (or the OpenID Connect provider: `provider="oidc"`) to the
    provider's approval page: (its form's action URL, its fields)."""
    start = session.get(f"{app_url}/auth/{provider}", params={"next": next_path}, allow_redirects=False)
    assert start.status_code == 303, start.text
    page = session.get(start.headers["Location"])
    assert page.status_code == 200, page.text
    fields = {unescape(name): unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    base = urlsplit(start.headers["Location"])
    return f"{base.scheme}://{base.netloc}{base.path}", fields


def approve(session: requests.Session, app_url: str, username: str, next_path: str = "/", provider: str = "mailcow",
            **choices) -> str:
    """Approve on the provider's page as `username` (and `choices`, e.g. groups): the callback URL
    it sends the browser to."""
    action, fields = approval_form(session, app_url, next_path, provider)
    answer = session.post(action, data={**fields, "username": username, "authorized": "yes", **choices},
                          allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def sign_in(app_url: str, username: str, next_path: str = "/") -> requests.Session:
    """A browser-like session signed in as `username` (a mailbox of the simulated mailcow)."""
    session = requests.Session()
    back = session.get(approve(session, app_url, username, next_path), allow_redirects=False)
    assert back.status_code == 200, back.text
    assert "mlv_session" in session.cookies, back.text
    return session


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
