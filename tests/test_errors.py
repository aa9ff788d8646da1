"""Error answers under /api: JSON in the spec's shapes, a 400 naming the parameter, and a 500
that never leaks a traceback (the exception text only with DEBUG=true)."""
from __future__ import annotations

import pytest

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database

SECRET_TEXT = "boom: the-internal-detail-4711"


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"detail": "Resource not found"}


def test_api_root_is_json_404(client):
    response = client.get("/api/")
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Resource not found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_json_405(client, method):
    response = client.open("/api/info", method=method)
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.get_json() == {"detail": "Method not allowed"}
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("query,parameter", [
    ("limit=abc", "limit"),
    ("limit=501", "limit"),
    ("limit=0", "limit"),
    ("page=0", "page"),
    ("page=-3", "page"),
    ("start_date=yesterday", "start_date"),
    ("end_date=2025-13-45", "end_date"),
    ("direction=sideways", "direction"),
])
def test_bad_parameter_is_400_naming_it(client, query, parameter):
    response = client.get(f"/api/messages?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)
    detail = response.get_json()["detail"]
    assert isinstance(detail, str) and parameter in detail
    assert "Traceback" not in detail


def test_good_parameters_are_accepted(client):
    response = client.get("/api/messages?limit=500&page=1&start_date=2025-01-01&direction=inbound")
    assert response.status_code == 200


def test_non_api_404_stays_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype != "application/json"


def _app_with_failing_route(make_settings, debug: bool):
    app = create_app(make_settings(DEBUG="true" if debug else "false"))

    @app.get("/api/_test_boom")
    def _boom():
        raise ValueError(SECRET_TEXT)

    return app


def test_500_without_debug_hides_the_detail(make_settings):
    app = _app_with_failing_route(make_settings, debug=False)
    try:
        response = app.test_client().get("/api/_test_boom")
        assert response.status_code == 500
        assert response.get_json() == {"error": "Internal server error"}
        text = response.get_data(as_text=True)
        assert SECRET_TEXT not in text and "Traceback" not in text
    finally:
        database.close()


def test_500_with_debug_shows_the_exception_text_only(make_settings):
    app = _app_with_failing_route(make_settings, debug=True)
    try:
        response = app.test_client().get("/api/_test_boom")
        assert response.status_code == 500
        body = response.get_json()
        assert body["error"] == "Internal server error"
        assert SECRET_TEXT in body["detail"]
        assert set(body) == {"error", "detail"}
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and 'File "' not in text
    finally:
        database.close()
