"""Browser sessions after a login on /login: a signed, HttpOnly, SameSite=Strict cookie.

A session remembers who signed in as their Scope (queries/scope.py): the admin, or a mailbox
user or domain admin signed in with mailcow, with their addresses or domains, so every
request of the session is filtered by it without asking mailcow again.

The cookie carries a random session id, signed with a key made at start-up. The sessions
themselves live in memory, so logging out really ends one (a copied cookie stops working
too), each has an idle and an absolute lifetime (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS),
and a restart ends them all: the admin logs in again. The table is bounded: past
MAX_SESSIONS the oldest session is dropped.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from .queries.scope import ADMIN, Scope

COOKIE = "mlv_session"
MAX_SESSIONS = 1000


class SessionStore:
    def __init__(self, idle_seconds: float, max_seconds: float, clock=time.monotonic):
        self.idle, self.lifetime, self.clock = idle_seconds, max_seconds, clock
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, tuple[float, float, Scope]] = {}    # id -> (created, last seen, who)
        self._lock = threading.Lock()

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def create(self, scope: Scope = ADMIN) -> str:
        """A new session for `scope`; returns the cookie value."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._forget_expired(now)
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[min(self._sessions, key=lambda key: self._sessions[key][0])]
            self._sessions[session_id] = (now, now, scope)
        return f"{session_id}.{self._sign(session_id)}"

    def _session_id(self, cookie: str | None) -> str | None:
        session_id, _, signature = (cookie or "").partition(".")
        if not session_id or not hmac.compare_digest(signature.encode(), self._sign(session_id).encode()):
            return None
        return session_id

    def scope_of(self, cookie: str | None) -> Scope | None:
        """Who a live session belongs to (and the request counts as activity); None otherwise."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        now = self.clock()
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None:
                return None
            created, seen, scope = found
            if now - seen > self.idle or now - created > self.lifetime:
                del self._sessions[session_id]
                return None
            self._sessions[session_id] = (created, now, scope)
        return scope

    def valid(self, cookie: str | None) -> bool:
        """True for a live session (and it counts as activity)."""
        return self.scope_of(cookie) is not None

    def end(self, cookie: str | None) -> None:
        session_id = self._session_id(cookie)
        if session_id is not None:
            with self._lock:
                self._sessions.pop(session_id, None)

    def _forget_expired(self, now: float) -> None:
        for key, (created, seen, _scope) in list(self._sessions.items()):
            if now - seen > self.idle or now - created > self.lifetime:
                del self._sessions[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
