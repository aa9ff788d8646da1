"""The HTTP Basic guard for the API, with a per-IP lockout against password guessing."""
from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from collections import deque

from flask import Flask, jsonify, request

log = logging.getLogger(__name__)

PUBLIC_API = frozenset({"/api/health"})
LOCKOUT_FAILURES = 10
LOCKOUT_WINDOW = 15 * 60


class LoginThrottle:
    """Counts failed logins per client IP; a correct login never clears another IP's record."""

    def __init__(self, limit: int = LOCKOUT_FAILURES, window: int = LOCKOUT_WINDOW, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str) -> deque:
        failures = self._failures.setdefault(ip, deque())
        cutoff = self.clock() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def locked(self, ip: str) -> bool:
        with self._lock:
            return len(self._recent(ip)) >= self.limit

    def failed(self, ip: str) -> None:
        with self._lock:
            failures = self._recent(ip)
            failures.append(self.clock())
            if len(failures) == self.limit:
                log.warning("login locked for %s after %d failed attempts in %d minutes", ip, self.limit, self.window // 60)


def _credentials_match(header: str | None, username: str, password: str) -> bool:
    # The scheme name is case-insensitive (RFC 9110 section 11.1).
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        return False
    expected = f"{username}:{password}".encode()
    # compare_digest on bytes takes time independent of where the first difference is.
    return hmac.compare_digest(given, expected)


def needs_auth(path: str) -> bool:
    return (path.startswith("/api/") and path not in PUBLIC_API) or path == "/metrics"


def install_auth(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    if not settings.auth_enabled:
        return
    throttle = LoginThrottle()
    app.extensions["login_throttle"] = throttle

    @app.before_request
    def _require_basic_auth():
        if not needs_auth(request.path):
            return None
        header = request.headers.get("Authorization")
        if not header:
            return jsonify(detail="Authentication required"), 401
        ip = request.remote_addr or "unknown"
        if throttle.locked(ip):
            return jsonify(detail="Too many failed logins from this address; try again in 15 minutes"), 429
        if _credentials_match(header, settings.auth_username, settings.auth_password):
            return None
        throttle.failed(ip)
        log.warning("failed login from %s", ip)
        return jsonify(detail="Authentication required"), 401
