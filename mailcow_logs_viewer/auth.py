"""The login guard: HTTP Basic (scripts) or a session cookie (browsers, see sessions.py) for the
API and /metrics; pages without a session redirect to /login; a lockout against guessing.

Who the caller is becomes their Scope (`current_scope()`), which every query view passes on:
the admin (password, Basic or session), or a mailbox user / domain admin signed in with
mailcow (mailcow_oauth.py). Routes their role does not have (access.py) are refused here: a
403 from the API, a 404 for a page (the UI does not link to them).

The lockout counts failed logins per (client address, user name): an attacker locks only their
own tries at that name, never every admin. Behind a reverse proxy the client is the address
the proxy names in X-Forwarded-For, believed only when the connection comes from one of
TRUSTED_PROXIES; otherwise it is the socket's address.
"""
from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from urllib.parse import quote

from flask import Flask, abort, current_app, g, has_request_context, jsonify, redirect, request

from .access import SEARCH_ENDPOINTS, SearchLimiter, allowed
from .errors import ApiError
from .queries.scope import ADMIN, Scope
from .sessions import COOKIE, SessionStore

log = logging.getLogger(__name__)

PUBLIC_API = frozenset({"/api/health"})
PUBLIC_PAGES = frozenset({"/login", "/logout", "/auth/mailcow", "/auth/mailcow/callback", "/auth/oidc",
                          "/auth/oidc/callback"})
MAILCOW_SIGN_IN = "mailcow sign-in"    # the lockout's user name for failed sign-ins with a provider
LOCKOUT_FAILURES = 10
LOCKOUT_WINDOW = 15 * 60
MAX_TRACKED = 10_000   # (client, user) pairs remembered; the oldest is forgotten past this


class LoginThrottle:
    """Counts failed logins per key; a correct login never clears another key's record."""

    def __init__(self, limit: int = LOCKOUT_FAILURES, window: int = LOCKOUT_WINDOW, clock=time.monotonic,
                 max_tracked: int = MAX_TRACKED):
        self.limit, self.window, self.clock, self.max_tracked = limit, window, clock, max_tracked
        self._failures: OrderedDict[object, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key) -> deque:
        failures = self._failures.get(key, deque())
        cutoff = self.clock() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)    # forgotten once its window has passed
        return failures

    def retry_after(self, key) -> int:
        """Seconds until `key` may try again; 0 when it is not locked."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.limit:
                return 0
            return max(1, math.ceil(failures[-self.limit] + self.window - self.clock()))

    def locked(self, key) -> bool:
        return self.retry_after(key) > 0

    def failed(self, key) -> None:
        with self._lock:
            failures = self._recent(key)
            failures.append(self.clock())
            self._failures[key] = failures
            self._failures.move_to_end(key)    # ordered by latest failure: the stalest come first
            cutoff = self.clock() - self.window
            while self._failures and (len(self._failures) > self.max_tracked
                                      or next(iter(self._failures.values()))[-1] < cutoff):
                self._failures.popitem(last=False)
            if len(failures) == self.limit:
                log.warning("login locked for %s after %d failed attempts in %d minutes", key, self.limit,
                            self.window // 60)

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)


def client_address(trusted: tuple) -> str:
    """The client's address: the socket's, or the proxy's X-Forwarded-For entry when the socket
    belongs to a trusted proxy (read right to left, skipping our own proxies)."""
    hops = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    address = request.remote_addr or "unknown"
    while _trusted(address, trusted) and hops:
        address = hops.pop()
    return address


def _trusted(address: str, trusted: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _basic_credentials(header: str | None) -> bytes | None:
    # The scheme name is case-insensitive (RFC 9110 section 11.1).
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(token.strip(), validate=True)
    except ValueError:
        return None


def credentials_match(given: bytes | None, username: str, password: str) -> bool:
    if given is None:
        return False
    # compare_digest on bytes takes time independent of where the first difference is.
    return hmac.compare_digest(given, f"{username}:{password}".encode())


def needs_auth(path: str) -> bool:
    return (path.startswith("/api/") and path not in PUBLIC_API) or path == "/metrics"


def _is_page(path: str) -> bool:
    return not (path.startswith(("/api/", "/static/")) or path == "/metrics" or path in PUBLIC_PAGES)


class Guard:
    """What install_auth puts in app.extensions["auth"]: the throttle, the sessions, the checks."""

    def __init__(self, settings):
        self.settings = settings
        self.throttle = LoginThrottle()
        self.sessions = SessionStore(settings.session_idle_minutes * 60, settings.session_max_hours * 3600)
        self.searches = SearchLimiter()

    def key(self, username: str) -> tuple[str, str]:
        return client_address(self.settings.trusted_proxies), username

    def check_password(self, username: str, password: str) -> tuple[bool, int]:
        """(accepted, locked for how many seconds): a locked pair is refused unread."""
        return self._check(f"{username}:{password}".encode(errors="surrogatepass"), username)

    def _check(self, given: bytes | None, username: str) -> tuple[bool, int]:
        key = self.key(username)
        wait = self.throttle.retry_after(key)
        if wait:
            return False, wait
        if credentials_match(given, self.settings.auth_username, self.settings.auth_password):
            return True, 0
        self.throttle.failed(key)
        log.warning("failed login from %s", key[0])
        return False, 0

    def sign_in_locked(self) -> int:
        """Seconds this client must wait before the next sign-in with mailcow; 0 when it may."""
        return self.throttle.retry_after(self.key(MAILCOW_SIGN_IN))

    def sign_in_failed(self, why: str, method: str = "mailcow") -> None:
        """A failed sign-in with mailcow or OpenID Connect (wrong state, used code, not a
        mailbox, not in the admin group) counts toward the same lockout as a wrong password."""
        key = self.key(MAILCOW_SIGN_IN)
        self.throttle.failed(key)
        log.warning("failed sign-in with %s from %s: %s", method, key[0], why)

    def check_basic(self, header: str) -> tuple[bool, int]:
        given = _basic_credentials(header)
        username = given.split(b":", 1)[0].decode(errors="replace") if given else ""
        return self._check(given, username)


def current_account() -> Scope:
    """Who the caller is (the admin when there is no login), whatever server they look at:
    what a page shell shows them."""
    return g.get("scope", ADMIN)


def current_scope() -> Scope:
    """The caller of this request as the queries see them: their role, and the mailcow server
    asked for with `server=` (every API route takes it; absent: all servers). A name that is
    not configured is a 400 naming the parameter."""
    scope = current_account()
    name = request.args.get("server") if has_request_context() else None   # /metrics reads outside a request
    if not name:
        return scope
    names = [server.name for server in current_app.config["SETTINGS"].servers]
    if name not in names:
        raise ApiError(400, f"server: {name[:100]!r} is not a configured server (configured: {', '.join(names)})")
    return scope.on_server(name)


def too_many(retry_after: int, detail: str | None = None):
    minutes = max(1, math.ceil(retry_after / 60))
    response = jsonify(detail=detail or f"Too many failed logins; try again in {minutes} minute{'s' if minutes > 1 else ''}")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def install_auth(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    if not settings.auth_enabled:
        return
    guard = Guard(settings)
    app.extensions["auth"] = guard
    app.extensions["login_throttle"] = guard.throttle

    @app.before_request
    def _require_login():
        path = request.path
        scope = guard.sessions.scope_of(request.cookies.get(COOKIE))
        if needs_auth(path) and scope is None:
            header = request.headers.get("Authorization")
            if not header:
                return jsonify(detail="Authentication required"), 401
            accepted, wait = guard.check_basic(header)
            if wait:
                return too_many(wait)
            if not accepted:
                return jsonify(detail="Authentication required"), 401
            scope = Scope(username=settings.auth_username)     # HTTP Basic is the admin's (scripts)
        if scope is None:
            if _is_page(path):
                # No page shell for a stranger: the login page, then back here.
                target = request.full_path.rstrip("?") if request.query_string else path
                return redirect(f"/login?next={quote(target, safe='')}", 302)
            return None
        g.scope = scope
        return _role_check(guard, scope)


def _role_check(guard: Guard, scope: Scope):
    """Refuse what the caller's role has no right to; count a signed-in user's searches."""
    if not allowed(scope, request.endpoint):
        if needs_auth(request.path):
            return jsonify(detail="Not available to your account"), 403
        abort(404)
    if not scope.is_admin and request.endpoint in SEARCH_ENDPOINTS:
        wait = guard.searches.take(scope.username)
        if wait:
            return too_many(wait, f"Too many searches: at most {guard.searches.limit} a minute; "
                                  f"try again in {wait} seconds")
    return None

