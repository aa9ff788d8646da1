"""mailcow as an OAuth2 provider for its mailboxes: /oauth/authorize, /oauth/token, /oauth/profile.

mailcow runs bshaffer/oauth2-server-php: an authorization code is good once and for a short
while, bound to its client and redirect URI (and to a PKCE challenge when one was sent);
/oauth/profile answers `{"success": true, ...}` for a mailbox and `{"success": false}` for
anyone else signed in to mailcow (an admin). Instead of mailcow's login form the approval page
lets the visitor pick who they are: one of the world's mailboxes, or the mailcow admin.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from .catalog import World

CODE_SECONDS = 30          # bshaffer's default auth_code_lifetime
TOKEN_SECONDS = 3600
ADMIN_LOGIN = "admin"      # signed in to mailcow as its administrator: not a mailbox


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    username: str
    challenge: str
    created: float
    groups: tuple[str, ...] = ()      # the OpenID Connect provider's groups claim (oidc.py)


def _json(status: int, body: dict) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


def _error(status: int, error: str, description: str) -> tuple[int, str, bytes]:
    return _json(status, {"error": error, "error_description": description})


def _redirect(url: str) -> tuple[int, str, bytes]:
    # The handler sends `Location` for a 302 whose "content type" starts with "location:".
    return 302, "location:" + url, b""


class SimulatedOAuth:
    PREFIX = "/oauth"
    TITLE = "mailcow UI - Authorize"

    def __init__(self, world: World, clock=time.time):
        self.world, self.clock = world, clock
        self.clients: dict[str, tuple[str, str]] = {}      # client id -> (secret, redirect URI)
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, tuple[_Code, float]] = {}   # access token -> (its code, expires)
        self._lock = threading.Lock()

    def register(self, client_id: str, secret: str, redirect_uri: str) -> None:
        """What the admin does in System > Configuration > Access > OAuth2 Apps."""
        self.clients[client_id] = (secret, redirect_uri)

    def respond(self, method: str, uri: str, headers, body: bytes) -> tuple[int, str, bytes]:
        parts = urlsplit(uri)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()} if method == "POST" else {}
        path = parts.path.removeprefix(self.PREFIX)
        if path == "/authorize":
            return self._approve(form) if method == "POST" else self._approval_page(query)
        if path == "/token" and method == "POST":
            return self._token(form, headers)
        return self._other(path, headers)

    def _other(self, path: str, headers) -> tuple[int, str, bytes]:
        if path == "/profile":
            return self._profile(headers)
        return 404, "text/html; charset=UTF-8", b"<h1>404 Not Found</h1>"

    # ---- /oauth/authorize ------------------------------------------------------------------
    def _client_error(self, params: dict) -> str | None:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return "No client id supplied" if not params.get("client_id") else "The client id supplied is invalid"
        if params.get("redirect_uri") and params["redirect_uri"] != client[1]:
            return "The redirect URI provided is missing or does not match"
        if params.get("response_type") != "code":
            return "Invalid or missing response type"
        return None

    def _approval_page(self, query: dict) -> tuple[int, str, bytes]:
        problem = self._client_error(query)
        if problem:
            return 400, "text/html; charset=UTF-8", f"<p>{html.escape(problem)}</p>".encode()
        hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
                         for name in ("client_id", "redirect_uri", "response_type", "state", "scope",
                                      "code_challenge", "code_challenge_method", "nonce"))
        options = "".join(f'<option value="{html.escape(m.address)}">{html.escape(m.name)} &lt;{html.escape(m.address)}&gt;</option>'
                          for m in self.world.mailboxes)
        # (no favicon request: the simulator refuses browser fetches outside /oauth/)
        page = (f"<!doctype html><html><head><title>{self.TITLE}</title><link rel='icon' href='data:,'>"
                "</head><body>"
                "<h1>Authorize application</h1><p>An application wants to read your profile.</p>"
                f'<form method="post" action="{self.PREFIX}/authorize" id="authorize">' + hidden +
                f'<label for="username">Sign in as</label><select id="username" name="username">{options}'
                f'<option value="{ADMIN_LOGIN}">mailcow administrator (not a mailbox)</option></select>'
                + self._extra_fields() +
                '<button type="submit" name="authorized" value="yes" id="approve">Authorize</button>'
                '<button type="submit" name="authorized" value="no" id="deny">Deny</button></form></body></html>')
        return 200, "text/html; charset=UTF-8", page.encode()

    def _extra_fields(self) -> str:
        return ""

    def _approve(self, form: dict) -> tuple[int, str, bytes]:
        problem = self._client_error(form)
        if problem:
            return 400, "text/html; charset=UTF-8", f"<p>{html.escape(problem)}</p>".encode()
        redirect_uri = form.get("redirect_uri") or self.clients[form["client_id"]][1]
        state = {"state": form["state"]} if form.get("state") else {}
        if form.get("authorized") != "yes":
            return _redirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', **state})}")
        code = secrets.token_hex(20)
        challenge = form.get("code_challenge", "") if form.get("code_challenge_method", "S256") == "S256" else ""
        with self._lock:
            self._codes[code] = _Code(form["client_id"], redirect_uri, form.get("username", ""), challenge,
                                      self.clock(), tuple(g for g in form.get("groups", "").split(",") if g))
        return _redirect(f"{redirect_uri}?{urlencode({'code': code, **state})}")

    # ---- /oauth/token ----------------------------------------------------------------------
    def _token(self, form: dict, headers) -> tuple[int, str, bytes]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, secret = base64.b64decode(encoded + "==").decode(errors="replace").partition(":")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client[0].encode(), secret.encode()):
            return _error(400, "invalid_client", "The client credentials are invalid")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", f'Grant type "{form.get("grant_type", "")}" not supported')
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)     # good once, whatever follows
        if code is None or code.client_id != client_id:
            return _error(400, "invalid_grant", "Authorization code doesn't exist or is invalid for the client")
        if self.clock() - code.created > CODE_SECONDS:
            return _error(400, "invalid_grant", "The authorization code has expired")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return _error(400, "redirect_uri_mismatch", "The redirect URI is missing or do not match")
        if code.challenge:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or not secrets.compare_digest(digest, code.challenge):
                return _error(400, "invalid_grant", "The PKCE code verifier parameter is invalid")
        token = secrets.token_hex(20)
        with self._lock:
            self._tokens[token] = (code, self.clock() + TOKEN_SECONDS)
        return _json(200, {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer",
                           "scope": "profile", "refresh_token": secrets.token_hex(20)})

    # ---- /oauth/profile --------------------------------------------------------------------
    def _bearer(self, headers) -> _Code | None:
        """The code whose access token the request carries (None: missing, unknown, expired)."""
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        with self._lock:
            found = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return found[0] if found is not None and found[1] >= self.clock() else None

    def _profile(self, headers) -> tuple[int, str, bytes]:
        code = self._bearer(headers)
        if code is None:
            return _error(401, "invalid_token", "The access token provided is invalid")
        mailbox = self.world.mailbox_index.get(code.username)
        if mailbox is None:
            return _json(200, {"success": False})
        return _json(200, {"success": True, "username": mailbox.address, "id": mailbox.address,
                           "identifier": mailbox.address, "email": mailbox.address, "full_name": mailbox.name,
                           "displayName": mailbox.name, "created": "2025-11-02 14:25:40", "modified": None,
                           "active": 1})
