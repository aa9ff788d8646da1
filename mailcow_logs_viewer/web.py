"""Page routes: server-rendered shells; every page gets its data from the JSON API.

A shell carries no log data, only the layout and the branding from the settings; the
JavaScript module named after the page fetches everything from /api like any script would.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for

web = Blueprint("web", __name__)

LOG_SOURCES = ("postfix", "rspamd", "netfilter", "dovecot")


def _page(template: str, **context):
    return render_template(template, settings=current_app.config["SETTINGS"], **context)


@web.get("/login")
def login():
    if not current_app.config["SETTINGS"].auth_enabled:
        return redirect(url_for("web.dashboard"))
    return _page("login.html")


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
    if source not in LOG_SOURCES:
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
