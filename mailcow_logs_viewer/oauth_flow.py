"""The authorization-code flow both sign-ins share (mailcow's OAuth2, a generic OpenID Connect
provider): the flows under way, PKCE, the token exchange and the bearer-token read.

A flow's `state` is remembered here (at most PENDING_SECONDS) and in a cookie of the browser
that started it, so a callback link made by someone else signs no one in; it is taken once.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

import requests

PENDING_SECONDS = 600
MAX_PENDING = 1000
TIMEOUT = 10.0


class SignInRefused(Exception):
    """The sign-in did not work; the text is for the log and the login page (no secrets)."""


@dataclass(frozen=True)
class Pending:
    verifier: str
    nonce: str
    created: float
    next: str


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class PendingFlows:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def start(self, next_path: str) -> tuple[str, Pending]:
        """A fresh state and what it stands for (PKCE verifier, nonce, where to go next)."""
        state = secrets.token_urlsafe(24)
        now = self.clock()
        pending = Pending(secrets.token_urlsafe(48), secrets.token_urlsafe(24), now, next_path)
        with self._lock:
            for key in [k for k, p in self._pending.items() if now - p.created > PENDING_SECONDS]:
                del self._pending[key]
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[state] = pending
        return state, pending

    def take(self, state: str, cookie_state: str, code: str, provider: str) -> Pending:
        """The flow `state` names, once, if this browser started it; SignInRefused otherwise."""
        with self._lock:
            pending = self._pending.pop(state, None) if state else None
        if pending is None or not secrets.compare_digest(state.encode(), (cookie_state or "").encode()):
            raise SignInRefused("unknown or expired state")
        if self.clock() - pending.created > PENDING_SECONDS:
            raise SignInRefused("the sign-in took too long")
        if not code:
            raise SignInRefused(f"{provider} sent no code")
        return pending


def exchange_code(url: str, verify: bool, form: dict, provider: str) -> str:
    """POST the code (client_secret_post) to the token endpoint: the access token."""
    try:
        response = requests.post(url, timeout=TIMEOUT, verify=verify, data=form)
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused(f"{provider}'s token endpoint did not answer ({type(error).__name__})") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(token, str) or not token:
        error = body.get("error") if isinstance(body, dict) else None
        raise SignInRefused(f"{provider} refused the code ({error or response.status_code})")
    return token


def read_json(url: str, verify: bool, provider: str, what: str, token: str = "") -> object:
    """GET a JSON document (with the bearer token when there is one)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(url, timeout=TIMEOUT, verify=verify, headers=headers)
        return response.json()
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused(f"{provider}'s {what} did not answer ({type(error).__name__})") from None
