"""The JSON API: one blueprint per section of spec/API.md, all under /api."""
from __future__ import annotations

from ..db import begin_reading, end_reading
from . import (alerts, audit, daily, dovecot, export, health, insights, logs, messages, openapi, queue_health,
               security_now, settings, stats, status)

# In the order of spec/API.md; the OpenAPI document describes them all.
SECTIONS = (health, messages, logs, dovecot, stats, daily, status, settings, export, alerts, openapi, insights, queue_health,
            security_now, audit)


def register_api(app) -> None:
    # Only the writer writes: every request reads through a query_only connection.
    app.before_request(begin_reading)
    app.teardown_request(end_reading)
    for section in SECTIONS:
        app.register_blueprint(section.bp, url_prefix="/api")
