"""Mailcow Logs Viewer: mailcow's Postfix, Rspamd and netfilter logs as one searchable history."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

__version__ = "0.1.0"
APP_NAME = "Mailcow Logs Viewer"


def _content_security_policy(settings) -> str:
    images = ["'self'", "data:"]
    logo = urlsplit(settings.app_logo_url)
    if logo.scheme in ("http", "https") and logo.netloc:
        images.append(f"{logo.scheme}://{logo.netloc}")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src " + " ".join(images)
            + "; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class _App(Flask):
    from .json_provider import FiniteJSONProvider as json_provider_class


def create_app(settings, runtime=None) -> Flask:
    """The Flask app factory. `runtime` carries the scheduler and mailcow client when running."""
    from .api import register_api
    from .auth import install_auth
    from .db import open_database
    from .errors import register_error_handlers
    from .metrics import install_metrics
    from .runtime import Runtime
    from .server import SECURITY_HEADERS
    from .web import install_host_check, web

    app = _App(__name__, static_folder="../static", template_folder="../templates")
    app.config["SETTINGS"] = settings
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    open_database(settings.database_path, server_name=settings.server_name)
    app.extensions["runtime"] = runtime or Runtime(settings)
    register_error_handlers(app)
    install_host_check(app)
    install_auth(app)
    register_api(app)
    install_metrics(app)
    app.register_blueprint(web)

    csp = _content_security_policy(settings)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        if response.mimetype == "application/json":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
