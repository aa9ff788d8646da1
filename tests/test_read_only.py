"""Only the writer writes: a request's connection refuses writes, the writer's does not."""
from __future__ import annotations

from flask import jsonify

from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.models import State


def test_a_write_from_a_request_fails_and_the_writer_still_writes(app):
    def try_to_write():
        try:
            State.create(key="written-by-a-request", value="1")
        except Exception as error:  # the point: the database refuses it
            return jsonify({"refused": str(error)})
        return jsonify({"refused": None})

    app.add_url_rule("/api/test-write", "test_write", try_to_write)
    client = app.test_client()
    body = client.get("/api/test-write").get_json()
    assert body["refused"] and "readonly" in body["refused"].replace(" ", "")
    assert State.get_or_none(State.key == "written-by-a-request") is None
    assert client.get("/api/messages").status_code == 200      # reading is unaffected
    # The same thread after the request: the writer's path writes as before.
    State.create(key="written-by-the-writer", value="1")
    assert State.get(State.key == "written-by-the-writer").value == "1"
    assert database.execute_sql("PRAGMA query_only").fetchone()[0] == 0
