"""A minimal OpenID Connect provider (an Authentik or Keycloak stand-in) under /oidc of the
simulated mailcow: discovery, an approval page that picks a user and their groups, the token
endpoint and userinfo with a `groups` claim.

The authorization code, PKCE and token rules are the OAuth2 provider's (oauth.py); only the
documents differ. The issuer is `{simulator URL}/oidc`.
"""
from __future__ import annotations

import html

from .oauth import SimulatedOAuth, _error, _json

ADMIN_GROUP = "mailcow-admins"
OTHER_GROUP = "staff"


class SimulatedOIDC(SimulatedOAuth):
    PREFIX = "/oidc"
    TITLE = "Identity provider - Authorize"

    def __init__(self, world, base_url):
        super().__init__(world)
        self.base_url = base_url     # a callable: the simulator's URL is known once it listens

    @property
    def issuer(self) -> str:
        return self.base_url() + self.PREFIX

    def _extra_fields(self) -> str:
        # The groups the user is in at the provider: what OIDC_ADMIN_GROUP is matched against.
        choices = (("", "no groups"), (OTHER_GROUP, OTHER_GROUP), (ADMIN_GROUP, ADMIN_GROUP),
                   (f"{OTHER_GROUP},{ADMIN_GROUP}", f"{OTHER_GROUP}, {ADMIN_GROUP}"))
        options = "".join(f'<option value="{html.escape(v)}">{html.escape(label)}</option>' for v, label in choices)
        return f'<label for="groups">Groups</label><select id="groups" name="groups">{options}</select>'

    def _other(self, path: str, headers) -> tuple[int, str, bytes]:
        if path == "/.well-known/openid-configuration":
            return _json(200, {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                               "token_endpoint": f"{self.issuer}/token", "userinfo_endpoint": f"{self.issuer}/userinfo",
                               "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                               "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"]})
        if path == "/userinfo":
            code = self._bearer(headers)
            if code is None:
                return _error(401, "invalid_token", "The access token provided is invalid")
            return _json(200, {"sub": f"sub-{code.username}", "preferred_username": code.username,
                               "email": code.username if "@" in code.username else f"{code.username}@idp.example",
                               "groups": list(code.groups)})
        return 404, "text/html; charset=UTF-8", b"<h1>404 Not Found</h1>"
