"""GET /api/health and GET /api/info: fields per spec, the mailcow and scheduler blocks, and
503 "unhealthy" when the database cannot be read."""
from __future__ import annotations

import re
import sqlite3
import time

from mailcow_logs_viewer import APP_NAME, __version__, create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.runtime import Runtime

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_health_fields(client, settings):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["version"] == __version__
    assert body["config"] == {
        "fetch_interval": 60,
        "retention_days": 7,
        "mailcow_url": settings.mailcow_url,
        "blacklist_enabled": False,
        "auth_enabled": False,
    }
    assert body["scheduler"] == "stopped"
    assert set(body["mailcow"]) >= {"reachable", "last_success", "last_error", "last_error_at"}
    assert body["mailcow"]["reachable"] is None      # nothing tried yet
    assert settings.mailcow_api_key not in response.get_data(as_text=True)


def test_health_config_follows_settings(make_settings):
    app = create_app(make_settings(FETCH_INTERVAL=120, RETENTION_DAYS=30, BLACKLIST_EMAILS="a@b.org"))
    try:
        config = app.test_client().get("/api/health").get_json()["config"]
        assert config["fetch_interval"] == 120
        assert config["retention_days"] == 30
        assert config["blacklist_enabled"] is True
    finally:
        database.close()


def test_health_reports_a_successful_fetch(fetched_app):
    body = fetched_app.test_client().get("/api/health").get_json()
    assert body["status"] == "healthy"
    assert body["mailcow"]["reachable"] is True
    assert ISO.match(body["mailcow"]["last_success"])


def test_health_reports_scheduler_and_unreachable_mailcow(make_settings):
    settings = make_settings(MAILCOW_URL="http://127.0.0.1:9", MAILCOW_API_TIMEOUT=2)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    client = app.test_client()
    runtime.start()
    try:
        deadline = time.time() + 30
        body = client.get("/api/health").get_json()
        while body["mailcow"]["reachable"] is None and time.time() < deadline:
            time.sleep(0.2)
            body = client.get("/api/health").get_json()
        assert body["scheduler"] == "running"
        assert body["mailcow"]["reachable"] is False
        assert body["mailcow"]["last_error"]
        assert ISO.match(body["mailcow"]["last_error_at"])
        assert body["status"] == "healthy"      # mailcow being down does not make us unhealthy
    finally:
        runtime.stop()
        database.close()
    assert client.get("/api/health").status_code in (200, 503)


def test_health_503_when_the_database_cannot_be_read(app, client, settings):
    assert client.get("/api/health").status_code == 200
    with sqlite3.connect(settings.database_path) as plain:
        plain.execute("DROP TABLE postfix_line")
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "error"
    assert "Traceback" not in response.get_data(as_text=True)


def test_info_fields(make_settings):
    settings = make_settings(TZ="Europe/Berlin", APP_TITLE="Acme Mail", APP_LOGO_URL="https://cdn.acme.test/l.png",
                             BLACKLIST_EMAILS="x@acme.test,y@acme.test", LOCAL_DOMAINS="acme.test,mail.acme.test",
                             FETCH_INTERVAL=90, RETENTION_DAYS=14)
    app = create_app(settings)
    try:
        response = app.test_client().get("/api/info")
        assert response.status_code == 200
        body = response.get_json()
        assert body == {
            "name": APP_NAME,
            "version": __version__,
            "mailcow_url": settings.mailcow_url,
            "local_domains": ["acme.test", "mail.acme.test"],
            "fetch_interval": 90,
            "retention_days": 14,
            "timezone": "Europe/Berlin",
            "app_title": "Acme Mail",
            "app_logo_url": "https://cdn.acme.test/l.png",
            "blacklist_count": 2,
            "auth_enabled": False,
            # Who is asking (scoped access): without authentication, everyone is the admin.
            "role": "admin",
            "username": "",
            # One server, named after the host of MAILCOW_URL (SERVER_NAME unset).
            "servers": ["127.0.0.1"],
        }
        assert list(body) == ["name", "version", "mailcow_url", "local_domains", "fetch_interval",
                              "retention_days", "timezone", "app_title", "app_logo_url", "blacklist_count",
                              "auth_enabled", "role", "username", "servers"]
    finally:
        database.close()


def test_info_lists_domains_learned_from_mailcow(fetched_app):
    body = fetched_app.test_client().get("/api/info").get_json()
    assert body["local_domains"], "the simulated mailcow has domains"
    assert body["local_domains"] == sorted(body["local_domains"])
