"""JSON error answers for /api/...: `{"detail": ...}` in the spec's shapes, never a traceback."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by views: becomes `{"detail": detail}` with `status`."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def register_error_handlers(app) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return jsonify(detail=error.detail), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not _wants_json():
            if error.code == 404:
                # A mistyped page gets the app's own page with its navigation, not a bare one.
                return render_template("not_found.html", settings=current_app.config["SETTINGS"],
                                       path=request.path), 404
            return error
        detail = {404: "Resource not found", 405: "Method not allowed"}.get(error.code, error.description)
        response = jsonify(detail=detail)
        response.status_code = error.code
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": "Internal server error"}
        if current_app.config["SETTINGS"].debug:
            body["detail"] = f"{type(error).__name__}: {error}"
        return jsonify(body), 500
