"""The waitress server the app runs in, with the security headers on waitress's own answers.

Waitress answers some requests itself, before the app sees them (a malformed request line, a
header section over its limit, a body too large): those answers carry the same anti-framing
and no-sniff headers as the app's, and a CSP that allows nothing.
"""
from __future__ import annotations

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

# The headers every answer of the app carries (see create_app), minus the page CSP.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "no-referrer"))
ERROR_CSP = "default-src 'none'; frame-ancestors 'none'"


class _SecureErrorTask(ErrorTask):
    def build_response_header(self):
        names = {name.lower() for name, _ in self.response_headers}
        for name, value in SECURITY_HEADERS + (("Content-Security-Policy", ERROR_CSP),):
            if name.lower() not in names:
                self.response_headers.append((name, value))
        return super().build_response_header()


class _Channel(HTTPChannel):
    error_task_class = _SecureErrorTask


def _not_yet(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def make_server(app, host: str, port: int, threads: int):
    """A bound waitress server; `app` may be None and set later as `server.application` (run.py
    binds the port before it starts anything else, so a port in use changes nothing)."""
    # Waitress would drop X-Forwarded-For; the app decides whom to believe (TRUSTED_PROXIES, auth.py).
    server = create_server(app or _not_yet, host=host, port=port, threads=threads, ident="mailcow-logs-viewer",
                           clear_untrusted_proxy_headers=False)
    server.channel_class = _Channel
    return server
