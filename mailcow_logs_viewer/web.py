"""Page routes: server-rendered shells; every page gets its data from the JSON API."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for

web = Blueprint("web", __name__)


@web.get("/login")
def login():
    if not current_app.config["SETTINGS"].auth_enabled:
        return redirect(url_for("web.dashboard"))
    return render_template("login.html", settings=current_app.config["SETTINGS"])


@web.get("/")
def dashboard():
    return render_template("dashboard.html", settings=current_app.config["SETTINGS"])
