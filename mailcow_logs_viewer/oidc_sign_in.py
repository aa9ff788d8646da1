"""Admin sign-in through a generic OpenID Connect provider (Authentik, Keycloak, Authelia...).

    /auth/oidc            discovery ({OIDC_ISSUER}/.well-known/openid-configuration), then on to
                          its authorization_endpoint with a fresh state, PKCE (S256) and nonce
    /auth/oidc/callback   state checked, the code to the token_endpoint (client_secret_post),
                          the userinfo_endpoint with the bearer access token

Only a user whose `groups` claim (a list) holds OIDC_ADMIN_GROUP becomes an admin; anyone else
is refused. The ID token is not read: its signature would need the provider's JWKS and a JOSE
library, and the claims come from the userinfo endpoint instead, which this server asks itself
over the TLS-authenticated back channel with the access token it just got for the code (the
standard alternative, OpenID Connect Core section 5.3). The nonce is still sent, so a provider
that insists on one is satisfied.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlencode

from .oauth_flow import PendingFlows, SignInRefused, code_challenge, exchange_code, read_json
from .queries.scope import Scope

CALLBACK_PATH = "/auth/oidc/callback"
STATE_COOKIE = "mlv_oidc_state"
PROVIDER = "the OpenID Connect provider"


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    userinfo: str


class OidcSignIn:
    def __init__(self, settings):
        self.settings = settings
        self.redirect_uri = settings.public_url + CALLBACK_PATH
        self.flows = PendingFlows()
        self._endpoints: Endpoints | None = None
        self._lock = threading.Lock()

    def endpoints(self) -> Endpoints:
        """The provider's discovery document, read once it answers well."""
        with self._lock:
            if self._endpoints is None:
                body = read_json(f"{self.settings.oidc_issuer}/.well-known/openid-configuration", True, PROVIDER,
                                 "discovery document")
                found = [body.get(key) if isinstance(body, dict) else None
                         for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")]
                if not all(isinstance(url, str) and url.startswith(("https://", "http://")) for url in found):
                    raise SignInRefused("the provider's discovery document lacks an endpoint")
                self._endpoints = Endpoints(*found)
            return self._endpoints

    def start(self, next_path: str) -> tuple[str, str]:
        """(the provider's authorize URL, the state for the browser's cookie)."""
        endpoints = self.endpoints()
        state, pending = self.flows.start(next_path)
        query = urlencode({"response_type": "code", "client_id": self.settings.oidc_client_id,
                           "redirect_uri": self.redirect_uri, "scope": "openid profile email groups",
                           "state": state, "nonce": pending.nonce,
                           "code_challenge": code_challenge(pending.verifier), "code_challenge_method": "S256"})
        separator = "&" if "?" in endpoints.authorization else "?"
        return f"{endpoints.authorization}{separator}{query}", state

    def finish(self, state: str, cookie_state: str, code: str) -> tuple[Scope, str]:
        """(an admin's scope, where to go next); SignInRefused otherwise."""
        pending = self.flows.take(state, cookie_state, code, PROVIDER)
        endpoints = self.endpoints()
        token = exchange_code(endpoints.token, True,
                              {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                               "client_id": self.settings.oidc_client_id,
                               "client_secret": self.settings.oidc_client_secret,
                               "code_verifier": pending.verifier}, PROVIDER)
        claims = read_json(endpoints.userinfo, True, PROVIDER, "userinfo endpoint", token)
        if not isinstance(claims, dict) or not claims.get("sub"):
            raise SignInRefused("the provider's userinfo named no user")
        username = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])[:200]
        groups = claims.get("groups")
        if not isinstance(groups, list) or self.settings.oidc_admin_group not in groups:
            raise SignInRefused(f"{username} is not in the admin group")
        return Scope(username=username), pending.next
