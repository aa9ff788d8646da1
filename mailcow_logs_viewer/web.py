"""Page routes: server-rendered shells; every page gets its data from the JSON API.

A shell carries no log data, only the layout and the branding from the settings; the
JavaScript module named after the page fetches everything from /api like any script would.
"""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .sessions import COOKIE
from .vocabulary import SOURCES

web = Blueprint("web", __name__)



LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def install_host_check(app) -> None:
    """With ALLOWED_HOSTS set, a request naming another Host is refused (DNS rebinding: a page
    on evil.example whose name now points at this server would otherwise read the API with
    the browser's access). Loopback names always pass: no rebinding gives an attacker those,
    and Docker's health check uses them."""
    allowed = frozenset(app.config["SETTINGS"].allowed_hosts)
    if not allowed:
        return

    @app.before_request
    def _check_host():
        host = request.host.lower()
        name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() and not host.endswith("]") else host
        if name not in allowed and name not in LOOPBACK_HOSTS:
            return {"detail": "Host not allowed (set ALLOWED_HOSTS)"}, 400
        return None


def _page(template: str, **context):
    return render_template(template, settings=current_app.config["SETTINGS"], **context)


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def safe_next(value: str | None) -> str:
    """Where to go after the login: a path on this site, or "/".

    Browsers drop tabs and newlines inside a URL, read a backslash as a slash and `//host` as
    another site, so `/%09/evil.example/` or `/\\evil.example` would leave. The value is
    normalised the same way first (control characters and spaces removed; in the path,
    backslashes made slashes and repeated slashes made one) and then must be an absolute path.
    """
    text = _CONTROL.sub("", value or "")
    cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
    path = re.sub(r"/{2,}", "/", text[:cut].replace("\\", "/"))
    if not path.startswith("/") or path.startswith("/login"):
        return "/"
    return path + text[cut:]


def _login_page(error: str | None = None, status: int = 200, retry_after: int = 0):
    response = current_app.make_response((_page("login.html", error=error, next=safe_next(request.values.get("next"))),
                                          status))
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@web.route("/login", methods=["GET", "POST"])
def login():
    """GET: the form (or on to `next` with a live session); POST: check it, start a session."""
    settings = current_app.config["SETTINGS"]
    if not settings.auth_enabled:
        return redirect(url_for("web.dashboard"), 302 if request.method == "GET" else 303)
    guard = current_app.extensions["auth"]
    if request.method == "GET":
        if guard.sessions.valid(request.cookies.get(COOKIE)):
            return redirect(safe_next(request.args.get("next")), 303)
        return _login_page()
    accepted, locked = guard.check_password(request.form.get("username", ""), request.form.get("password", ""))
    if locked:
        minutes = -(-locked // 60)
        return _login_page(f"Too many failed logins; try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                           429, locked)
    if not accepted:
        return _login_page("Wrong username or password.", 401)
    response = redirect(safe_next(request.form.get("next")), 303)
    response.set_cookie(COOKIE, guard.sessions.create(), max_age=settings.session_max_hours * 3600,
                        httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return response


@web.post("/logout")
def logout():
    guard = current_app.extensions.get("auth")
    if guard is not None:
        guard.sessions.end(request.cookies.get(COOKIE))
    response = redirect(url_for("web.login"), 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response


@web.get("/")
def dashboard():
    return _page("dashboard.html")


@web.get("/messages")
def messages():
    return _page("messages.html")


@web.get("/messages/<correlation_key>")
def message(correlation_key: str):
    # The key is only echoed into a data- attribute (autoescaped); the page fetches the message.
    return _page("message.html", correlation_key=correlation_key)


@web.get("/logs")
def logs_index():
    return redirect(url_for("web.logs", source="postfix"))


@web.get("/logs/<source>")
def logs(source: str):
    if source not in SOURCES:
        abort(404)
    return _page(f"logs_{source}.html", source=source)


@web.get("/insights")
def insights():
    return _page("insights.html")


@web.get("/security")
def security():
    return _page("security.html")


@web.get("/queue")
def queue():
    return _page("queue.html")


@web.get("/status")
def status():
    return _page("status.html")


@web.get("/settings")
def settings_page():
    return _page("settings.html")


@web.get("/alerts")
def alerts():
    return _page("alerts.html")
