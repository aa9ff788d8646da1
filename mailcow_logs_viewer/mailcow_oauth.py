"""Sign in with mailcow: the OAuth2 authorization-code flow against mailcow's own provider.

    /auth/mailcow            a fresh `state` and PKCE verifier (S256), on to {MAILCOW_URL}/oauth/authorize
    /auth/mailcow/callback   state checked, POST /oauth/token (the code, once), GET /oauth/profile

The state is remembered here (at most PENDING_SECONDS) and in a cookie of the browser that
started the flow, so a callback link made by someone else signs no one in. The profile must
say `success: true` for an active mailbox (mailcow answers `success: false` to an admin or a
domain admin of mailcow itself); the mailbox's aliases (mailcow's alias list, whose `goto`
names it) are its other addresses, and DOMAIN_ADMINS makes it a domain admin.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from .queries.scope import DOMAIN_ADMIN_ROLE, MAILBOX_ROLE, Scope

log = logging.getLogger(__name__)

PENDING_SECONDS = 600
MAX_PENDING = 1000
CALLBACK_PATH = "/auth/mailcow/callback"
STATE_COOKIE = "mlv_oauth_state"
TIMEOUT = 10.0


class SignInRefused(Exception):
    """The sign-in did not work; the text is for the log and the login page (no secrets)."""


@dataclass(frozen=True)
class MailboxProfile:
    username: str
    email: str
    full_name: str
    active: bool


@dataclass(frozen=True)
class _Pending:
    verifier: str
    created: float
    next: str


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def addresses_of(mailbox: str, aliases: list) -> frozenset[str]:
    """The mailbox and the active aliases that deliver to it; a catch-all (`@domain`) would be a
    whole domain's mail, so it is not the user's address."""
    found = {mailbox.lower()}
    for alias in aliases:
        if not isinstance(alias, dict) or str(alias.get("active", 1)) not in ("1", "True", "true"):
            continue
        address = str(alias.get("address") or "").lower()
        targets = {t.strip().lower() for t in str(alias.get("goto") or "").split(",")}
        if address and not address.startswith("@") and mailbox.lower() in targets:
            found.add(address)
    return frozenset(found)


class MailcowSignIn:
    def __init__(self, settings, client, clock=time.monotonic):
        self.settings, self.client, self.clock = settings, client, clock
        self.redirect_uri = settings.public_url + CALLBACK_PATH
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    # ---- the way out ---------------------------------------------------------------------------
    def start(self, next_path: str) -> tuple[str, str]:
        """(mailcow's authorize URL, the state for the browser's cookie)."""
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        now = self.clock()
        with self._lock:
            for key in [k for k, p in self._pending.items() if now - p.created > PENDING_SECONDS]:
                del self._pending[key]
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[state] = _Pending(verifier, now, next_path)
        query = urlencode({"response_type": "code", "client_id": self.settings.mailcow_oauth_client_id,
                           "redirect_uri": self.redirect_uri, "scope": "profile", "state": state,
                           "code_challenge": code_challenge(verifier), "code_challenge_method": "S256"})
        return f"{self.settings.mailcow_url}/oauth/authorize?{query}", state

    # ---- the way back --------------------------------------------------------------------------
    def finish(self, state: str, cookie_state: str, code: str) -> tuple[Scope, str]:
        """(the signed-in caller's scope, where to go next); SignInRefused otherwise."""
        with self._lock:
            pending = self._pending.pop(state, None) if state else None
        if pending is None or not secrets.compare_digest(state.encode(), (cookie_state or "").encode()):
            raise SignInRefused("unknown or expired state")
        if self.clock() - pending.created > PENDING_SECONDS:
            raise SignInRefused("the sign-in took too long")
        if not code:
            raise SignInRefused("mailcow sent no code")
        token = self._token(code, pending.verifier)
        profile = self._profile(token)
        return self._scope(profile), pending.next

    def _post_token(self, code: str, verifier: str) -> requests.Response:
        return requests.post(f"{self.settings.mailcow_url}/oauth/token", timeout=TIMEOUT,
                             verify=self.settings.mailcow_verify_ssl,
                             data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                                   "client_id": self.settings.mailcow_oauth_client_id,
                                   "client_secret": self.settings.mailcow_oauth_client_secret,
                                   "code_verifier": verifier})

    def _token(self, code: str, verifier: str) -> str:
        try:
            response = self._post_token(code, verifier)
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            raise SignInRefused(f"mailcow's token endpoint did not answer ({type(error).__name__})") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, dict) else None
            raise SignInRefused(f"mailcow refused the code ({error or response.status_code})")
        return token

    def _profile(self, token: str) -> MailboxProfile:
        try:
            response = requests.get(f"{self.settings.mailcow_url}/oauth/profile", timeout=TIMEOUT,
                                    verify=self.settings.mailcow_verify_ssl,
                                    headers={"Authorization": f"Bearer {token}"})
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            raise SignInRefused(f"mailcow's profile endpoint did not answer ({type(error).__name__})") from None
        if not isinstance(body, dict) or body.get("success") is not True:
            raise SignInRefused("not a mailbox (mailcow's profile said success: false)")
        username = str(body.get("username") or body.get("email") or "").strip().lower()
        if "@" not in username:
            raise SignInRefused("mailcow's profile named no mailbox")
        profile = MailboxProfile(username, str(body.get("email") or username).lower(), str(body.get("full_name") or ""),
                                 str(body.get("active", 1)) in ("1", "True", "true"))
        if not profile.active:
            raise SignInRefused(f"mailbox {username} is not active")
        return profile

    def _scope(self, profile: MailboxProfile) -> Scope:
        domains = dict(self.settings.domain_admins).get(profile.username)
        if domains:
            return Scope(DOMAIN_ADMIN_ROLE, profile.username, domains=frozenset(domains))
        try:
            aliases = self.client.collection("alias/all")
        except Exception as error:    # the user still sees their mailbox's own mail
            log.warning("sign-in of %s: mailcow's alias list could not be read (%s); their aliases are left out",
                        profile.username, error)
            aliases = []
        return Scope(MAILBOX_ROLE, profile.username, addresses=addresses_of(profile.username, aliases))
