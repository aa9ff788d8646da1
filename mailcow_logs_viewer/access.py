"""Which routes each role may use, and how often a signed-in user may search.

The queries filter every row by the caller's Scope (queries/scope.py); this decides the
routes: whatever is not listed for a role is refused to it, so a route added later is the
admin's until someone decides otherwise. Mailbox users get their messages (list, details,
CSV); domain admins also their domains' insights and quarantine. Raw logs, security, the
queue, status, settings, alerts, the audit log and /metrics stay the admin's.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

from .queries.scope import ADMIN_ROLE, DOMAIN_ADMIN_ROLE, MAILBOX_ROLE, Scope

# Routes anyone signed in may use: their messages, the app's own version, the login itself.
_EVERYONE = frozenset({
    "messages.messages", "messages.message_details", "export.messages_csv",
    "health.health", "health.info", "status.app_version", "status.mailcow_version", "openapi.openapi_json",
    "web.dashboard", "web.messages", "web.message", "web.login", "web.logout", "web.mailcow_sign_in",
    "web.mailcow_callback", "web.oidc_sign_in_start", "web.oidc_callback", "static",
})
ROLE_ENDPOINTS = {
    MAILBOX_ROLE: _EVERYONE,
    DOMAIN_ADMIN_ROLE: _EVERYONE | {"insights.domains", "insights.mailboxes", "insights.destinations",
                                    "insights.reasons", "status.quarantine", "web.insights", "web.queue"},
}
# Each of these asks the database for a list of messages: what a user's rate limit counts.
SEARCH_ENDPOINTS = frozenset({"messages.messages", "export.messages_csv"})
SEARCHES_PER_MINUTE = 30


def allowed(scope: Scope, endpoint: str | None) -> bool:
    """May `scope` use the route `endpoint`? Unknown routes (404s) are everyone's to miss."""
    if scope.role == ADMIN_ROLE or endpoint is None:
        return True
    return endpoint in ROLE_ENDPOINTS.get(scope.role, frozenset())


class SearchLimiter:
    """At most `limit` searches per user in any `window` seconds (a sliding window)."""

    def __init__(self, limit: int = SEARCHES_PER_MINUTE, window: float = 60.0, clock=time.monotonic,
                 max_tracked: int = 10_000):
        self.limit, self.window, self.clock, self.max_tracked = limit, window, clock, max_tracked
        self._seen: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, user: str) -> int:
        """Count one search by `user`; 0 when allowed, else the seconds until the next one is."""
        now = self.clock()
        with self._lock:
            times = self._seen.pop(user, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            self._seen[user] = times
            while len(self._seen) > self.max_tracked:
                self._seen.popitem(last=False)
            if len(times) >= self.limit:
                return max(1, math.ceil(times[0] + self.window - now))
            times.append(now)
            return 0
