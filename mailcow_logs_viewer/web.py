"""Page routes: server-rendered shells; every page gets its data from the JSON API.

A shell carries no log data, only the layout and the branding from the settings; the
JavaScript module named after the page fetches everything from /api like any script would.
"""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .auth import client_address, current_account
from . import oidc_sign_in
from .mailcow_oauth import STATE_COOKIE, MailcowSignIn
from .oauth_flow import SignInRefused
from .oidc_sign_in import OidcSignIn
from .queries.scope import ADMIN_ROLE, Scope
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


@web.app_context_processor
def _account() -> dict:
    # Every page (the not-found page too) knows the caller's role: it only hides links the
    # API would refuse anyway (access.py decides).
    return {"account": current_account()}


def _audit(event: str, **fields) -> None:
    runtime = current_app.extensions["runtime"]
    runtime.audit.record(event, client=client_address(current_app.config["SETTINGS"].trusted_proxies), **fields)


def _start_session(response, scope: Scope):
    settings = current_app.config["SETTINGS"]
    guard = current_app.extensions["auth"]
    response.set_cookie(COOKIE, guard.sessions.create(scope), max_age=settings.session_max_hours * 3600,
                        httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return response


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


def _locked_page(what: str, seconds: int):
    minutes = -(-seconds // 60)
    return _login_page(f"Too many failed {what}; try again in {minutes} minute{'s' if minutes > 1 else ''}.", 429,
                       seconds)


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
        return _locked_page("logins", locked)
    username = request.form.get("username", "")[:200]
    if not accepted:
        _audit("sign_in_failed", username=username, method="password", detail="wrong username or password")
        return _login_page("Wrong username or password.", 401)
    _audit("sign_in", username=username, role=ADMIN_ROLE, method="password")
    return _start_session(redirect(safe_next(request.form.get("next")), 303), Scope(username=username))


def _flow(name: str, make):
    """The app's one sign-in of a kind (it remembers the flows under way)."""
    found = current_app.extensions.get(name)
    if found is None:
        found = current_app.extensions[name] = make()
    return found


def _mailcow() -> MailcowSignIn:
    return _flow("mailcow_sign_in", lambda: MailcowSignIn(current_app.config["SETTINGS"],
                                                          current_app.extensions["runtime"].client))


def _oidc() -> OidcSignIn:
    return _flow("oidc_sign_in", lambda: OidcSignIn(current_app.config["SETTINGS"]))


def _sign_in_available(configured: bool):
    if not configured:
        abort(404)
    guard = current_app.extensions["auth"]
    locked = guard.sign_in_locked()
    return _locked_page("sign-ins", locked) if locked else None


def _go_to_provider(configured: bool, flow, cookie: str, path: str, method: str, label: str):
    refused = _sign_in_available(configured)
    if refused is not None:
        return refused
    try:
        url, state = flow().start(safe_next(request.args.get("next")))
    except SignInRefused as error:     # the provider's discovery document could not be read
        _audit("sign_in_failed", method=method, detail=str(error))
        return _login_page(f"Sign-in with {label} failed: {error}.", 502)
    response = redirect(url, 303)
    # Lax, not Strict: the callback is a top-level navigation coming from the provider's site.
    response.set_cookie(cookie, state, max_age=600, httponly=True, samesite="Lax", secure=request.is_secure, path=path)
    return response


def _come_back(configured: bool, flow, cookie: str, path: str, method: str, label: str):
    refused = _sign_in_available(configured)
    if refused is not None:
        return refused
    guard = current_app.extensions["auth"]
    try:
        scope, next_path = flow().finish(request.args.get("state", ""), request.cookies.get(cookie, ""),
                                         request.args.get("code", ""))
    except SignInRefused as error:
        guard.sign_in_failed(str(error), method)
        _audit("sign_in_failed", method=method, detail=str(error))
        response = _login_page(f"Sign-in with {label} failed: {error}.", 401)
    else:
        _audit("sign_in", username=scope.username, role=scope.role, method=method)
        # A page that moves on by itself: the session cookie is SameSite=Strict, and a browser
        # keeps it back on a redirect that started on the provider's site.
        response = _start_session(current_app.make_response(_page("signed_in.html", next=next_path, username=scope.username)), scope)
    response.delete_cookie(cookie, path=path, httponly=True, samesite="Lax")
    return response


@web.get("/auth/mailcow")
def mailcow_sign_in():
    """Sign in with mailcow: on to mailcow's approval page with a fresh state and PKCE."""
    return _go_to_provider(current_app.config["SETTINGS"].mailcow_sign_in, _mailcow, STATE_COOKIE, "/auth/mailcow",
                           "mailcow", "mailcow")


@web.get("/auth/mailcow/callback")
def mailcow_callback():
    return _come_back(current_app.config["SETTINGS"].mailcow_sign_in, _mailcow, STATE_COOKIE, "/auth/mailcow",
                      "mailcow", "mailcow")


@web.get("/auth/oidc")
def oidc_sign_in_start():
    """Admin sign-in through the OpenID Connect provider: state, PKCE and nonce, on to it."""
    return _go_to_provider(current_app.config["SETTINGS"].oidc_sign_in, _oidc, oidc_sign_in.STATE_COOKIE, "/auth/oidc",
                           "oidc", current_app.config["SETTINGS"].oidc_provider)


@web.get("/auth/oidc/callback")
def oidc_callback():
    return _come_back(current_app.config["SETTINGS"].oidc_sign_in, _oidc, oidc_sign_in.STATE_COOKIE, "/auth/oidc",
                      "oidc", current_app.config["SETTINGS"].oidc_provider)


@web.post("/logout")
def logout():
    guard = current_app.extensions.get("auth")
    if guard is not None:
        cookie = request.cookies.get(COOKIE)
        scope = guard.sessions.scope_of(cookie)
        if scope is not None:
            _audit("sign_out", username=scope.username, role=scope.role)
        guard.sessions.end(cookie)
    response = redirect(url_for("web.login"), 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response


@web.get("/")
def dashboard():
    if not current_account().is_admin:    # the dashboard counts everyone's mail: a user starts at theirs
        return redirect(url_for("web.messages"), 302)
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


@web.get("/audit")
def audit_page():
    return _page("audit.html")
