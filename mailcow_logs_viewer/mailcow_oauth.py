"""Sign in with mailcow: the OAuth2 authorization-code flow against mailcow's own provider.

    /auth/mailcow            a fresh `state` and PKCE verifier (S256), on to {MAILCOW_URL}/oauth/authorize
    /auth/mailcow/callback   state checked, POST /oauth/token (the code, once), GET /oauth/profile

The state, PKCE and the token exchange are oauth_flow.py's (shared with oidc_sign_in.py). The profile must
say `success: true` for an active mailbox (mailcow answers `success: false` to an admin or a
domain admin of mailcow itself); the mailbox's aliases (mailcow's alias list, whose `goto`
names it) are its other addresses, and DOMAIN_ADMINS makes it a domain admin.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from .oauth_flow import PendingFlows, SignInRefused, code_challenge, exchange_code, read_json
from .queries.scope import DOMAIN_ADMIN_ROLE, MAILBOX_ROLE, Scope

log = logging.getLogger(__name__)

CALLBACK_PATH = "/auth/mailcow/callback"
STATE_COOKIE = "mlv_oauth_state"
__all__ = ["MailcowSignIn", "SignInRefused", "STATE_COOKIE", "addresses_of", "code_challenge"]


@dataclass(frozen=True)
class MailboxProfile:
    username: str
    email: str
    full_name: str
    active: bool


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
        self.settings, self.client = settings, client
        self.redirect_uri = settings.public_url + CALLBACK_PATH
        self.flows = PendingFlows(clock)

    # ---- the way out ---------------------------------------------------------------------------
    def start(self, next_path: str) -> tuple[str, str]:
        """(mailcow's authorize URL, the state for the browser's cookie)."""
        state, pending = self.flows.start(next_path)
        query = urlencode({"response_type": "code", "client_id": self.settings.mailcow_oauth_client_id,
                           "redirect_uri": self.redirect_uri, "scope": "profile", "state": state,
                           "code_challenge": code_challenge(pending.verifier), "code_challenge_method": "S256"})
        return f"{self.settings.mailcow_url}/oauth/authorize?{query}", state

    # ---- the way back --------------------------------------------------------------------------
    def finish(self, state: str, cookie_state: str, code: str) -> tuple[Scope, str]:
        """(the signed-in caller's scope, where to go next); SignInRefused otherwise."""
        pending = self.flows.take(state, cookie_state, code, "mailcow")
        token = exchange_code(f"{self.settings.mailcow_url}/oauth/token", self.settings.mailcow_verify_ssl,
                              {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                               "client_id": self.settings.mailcow_oauth_client_id,
                               "client_secret": self.settings.mailcow_oauth_client_secret,
                               "code_verifier": pending.verifier}, "mailcow")
        return self._scope(self._profile(token)), pending.next

    def _profile(self, token: str) -> MailboxProfile:
        body = read_json(f"{self.settings.mailcow_url}/oauth/profile", self.settings.mailcow_verify_ssl,
                         "mailcow", "profile endpoint", token)
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
