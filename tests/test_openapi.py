"""GET /api/openapi.json: it describes every route, its parameters are the views' own schemas,
and real answers (a database fetched from the simulated mailcow) match the response schemas."""
from __future__ import annotations

import base64

import pytest
from marshmallow import RAISE, fields

from mailcow_logs_viewer.api import responses as r
from mailcow_logs_viewer.api.openapi import ENDPOINTS, WITHOUT_SERVER, _kind, openapi_path
from mailcow_logs_viewer.api.params import Text, Timestamp

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def _doc(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()


def _operation(doc, endpoint):
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if operation["operationId"] == endpoint:
                return path, method, operation
    raise AssertionError(f"{endpoint} not in the document")


# ------------------------------------------------------------------ the document itself

def test_every_route_is_described_with_its_methods(app, client):
    doc = _doc(client)
    assert doc["openapi"].startswith("3.0")
    for rule in _rules(app):
        path = openapi_path(rule.rule)
        assert path in doc["paths"], f"{rule.rule} missing from the document"
        documented = {m.upper() for m in doc["paths"][path]}
        assert documented == set(rule.methods) - IGNORED_METHODS, rule.rule
        for name in rule.arguments:
            assert "{" + name + "}" in path
            params = doc["paths"][path]["get"]["parameters"]
            assert any(p["in"] == "path" and p["name"] == name and p["required"] for p in params)
    # every endpoint is in the central table (not just "not described yet"), and no stale entry
    endpoints = {rule.endpoint for rule in _rules(app)}
    assert endpoints - set(ENDPOINTS) == set()
    assert set(ENDPOINTS) - endpoints == set()
    # nothing documented that the app does not route
    assert set(doc["paths"]) == {openapi_path(rule.rule) for rule in _rules(app)}


def test_document_is_valid_openapi(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(_doc(client))


def test_document_is_built_once_per_app(app, client):
    first = _doc(client)
    assert app.extensions["openapi_document"] is app.extensions["openapi_document"]
    assert _doc(client) == first


def test_media_types_and_error_shapes(client):
    doc = _doc(client)
    for endpoint, info in ENDPOINTS.items():
        _, _, operation = _operation(doc, endpoint)
        responses = operation["responses"]
        assert operation["summary"] == info.summary
        expected = {"json": "application/json", "csv": "text/csv", "html": "text/html", "text": "text/plain"}
        if "200" in responses:
            assert list(responses["200"]["content"]) == [expected[_kind(endpoint)]], endpoint
        if _kind(endpoint) == "json":
            assert info.response is not None, endpoint
            ok = "200" if "200" in responses else "202"     # 202: POST /api/alerts/test
            schema = responses[ok]["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), endpoint
        assert responses["500"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/InternalError"}
        for status in ("400", "401", "404", "502"):
            if status in responses and "application/json" in responses[status]["content"]:
                assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if info.params is not None:
            assert "400" in responses, endpoint
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["detail"]
    assert schemas["InternalError"]["required"] == ["error"]
    assert set(schemas["InternalError"]["properties"]) == {"error", "detail"}
    for endpoint in ("status.queue", "status.quarantine", "status.containers", "status.storage",
                     "status.mailcow_version", "status.mailcow_info", "status.summary"):
        assert "502" in _operation(doc, endpoint)[2]["responses"]
    assert "text/plain" in _operation(doc, "metrics")[2]["responses"]["200"]["content"]


def test_security_basic_everywhere_but_health(app, client):
    doc = _doc(client)
    assert doc["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    for path, methods in doc["paths"].items():
        for operation in methods.values():
            secured = operation["security"] == [{"basicAuth": []}]
            if path.startswith("/api/") and path != "/api/health":
                assert secured, path
                assert "401" in operation["responses"], path
            elif path == "/metrics":
                assert secured
            else:
                assert operation["security"] == [], path


def test_openapi_json_is_behind_auth(make_settings):
    from mailcow_logs_viewer import create_app
    from mailcow_logs_viewer.db import database

    app = create_app(make_settings(AUTH_ENABLED="true", AUTH_USERNAME="admin", AUTH_PASSWORD="s3cret-pass"))
    try:
        client = app.test_client()
        response = client.get("/api/openapi.json")
        assert response.status_code == 401
        assert r.ErrorSchema().validate(response.get_json()) == {}
        token = base64.b64encode(b"admin:s3cret-pass").decode()
        response = client.get("/api/openapi.json", headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 200
        assert "/api/messages" in response.get_json()["paths"]
        assert client.get("/api/health").status_code == 200
    finally:
        database.close()


# ------------------------------------------------------------------ parameters = the views' schemas

def _bad_value(param: dict) -> str:
    schema = param["schema"]
    if "enum" in schema:
        return "no-such-value"
    if schema.get("type") in ("integer", "number"):
        return "not-a-number"
    if schema.get("type") == "boolean":
        return "maybe"
    if schema.get("format") == "date-time":
        return "25/12/2025"
    return "x" * (schema["maxLength"] + 1)


def test_query_parameters_are_the_views_schemas(client):
    doc = _doc(client)
    for endpoint, info in ENDPOINTS.items():
        path, _, operation = _operation(doc, endpoint)
        query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        # server= is every route's but those not about one server (auth.current_scope reads it).
        assert ("server" in query) == (path.startswith("/api/") and endpoint not in WITHOUT_SERVER), endpoint
        if query.pop("server", None) is not None:
            response = client.get(path.replace("{", "").replace("}", ""), query_string={"server": "no-such-server"})
            assert response.status_code in (400, 404), endpoint       # 404: a path parameter named nothing
        if info.params is None:
            assert query == {}, endpoint
            continue
        schema = info.params()
        loadable = {f.data_key or name for name, f in schema.fields.items() if not f.dump_only}
        assert set(query) == loadable, endpoint
        for name, param in query.items():
            field = schema.fields[name]
            assert param["required"] == field.required
            if isinstance(field, Text):
                assert param["schema"]["type"] == "string" and param["schema"]["maxLength"] == 500
            if isinstance(field, Timestamp):
                assert param["schema"] == {**param["schema"], "type": "string", "format": "date-time"}
            if isinstance(field, fields.Integer):
                assert param["schema"]["type"] == "integer"
            # The view really reads this parameter: a value the document forbids is a 400 naming it.
            url = path.replace("{", "").replace("}", "")
            response = client.get(url, query_string={name: _bad_value(param)})
            assert response.status_code == 400, (endpoint, name, response.status_code)
            body = response.get_json()
            assert r.ErrorSchema().validate(body) == {}
            assert f"'{name}'" in body["detail"], (endpoint, name, body)


def test_documented_ranges_are_enforced(client):
    doc = _doc(client)
    for endpoint, info in ENDPOINTS.items():
        if info.params is None:
            continue
        path, _, operation = _operation(doc, endpoint)
        for param in operation["parameters"]:
            schema = param.get("schema", {})
            if param["in"] != "query" or schema.get("type") != "integer":
                continue
            for value, ok in ((schema["minimum"], True), (schema["maximum"], True),
                              (schema["minimum"] - 1, False), (schema["maximum"] + 1, False)):
                response = client.get(path, query_string={param["name"]: value})
                assert (response.status_code < 400) == ok, (endpoint, param["name"], value, response.status_code)


# ------------------------------------------------------------------ real answers match the schemas

def _check(response, schema_cls, status=200):
    assert response.status_code == status, (response.request.path, response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    errors = schema_cls(unknown=RAISE).validate(response.get_json())
    assert errors == {}, (response.request.path, errors)


def _json_endpoint_urls(client) -> dict[str, list[str]]:
    """Endpoint -> URLs to try, path parameters taken from the data."""
    messages = client.get("/api/messages", query_string={"limit": 500}).get_json()["data"]
    postfix = client.get("/api/logs/postfix", query_string={"limit": 500}).get_json()["data"]
    assert messages and postfix, "the fetched database is empty"
    # details of a varied sample: every status and direction, with and without Rspamd or relations
    sample, seen = [], set()
    for message in messages:
        key = (message["final_status"], message["direction"], message["is_spam"], bool(message["queue_ids"]),
               message["recipient_count"] > 1, message["message_id"] is None)
        if key not in seen:
            seen.add(key)
            sample.append(message["correlation_key"])
    queue_ids = list(dict.fromkeys(line["queue_id"] for line in postfix if line["queue_id"]))[:40]
    urls = {}
    for endpoint, info in ENDPOINTS.items():
        if _kind(endpoint) != "json":
            continue
        if endpoint == "messages.message_details":
            urls[endpoint] = [f"/api/message/{key}/details" for key in sample]
        elif endpoint == "logs.postfix_by_queue":
            urls[endpoint] = [f"/api/logs/postfix/by-queue/{qid}" for qid in queue_ids]
    return urls


def test_real_answers_match_response_schemas(fetched_app):
    client = fetched_app.test_client()
    doc = _doc(client)
    special = _json_endpoint_urls(client)
    checked = 0
    for endpoint, info in ENDPOINTS.items():
        if _kind(endpoint) != "json" or endpoint == "alerts.send_test":   # a POST: see test_alerts_api.py
            continue
        path, _, operation = _operation(doc, endpoint)
        if endpoint in special:
            urls = special[endpoint]
        elif info.params is not None and "page" in info.params().fields:
            urls = [path, f"{path}?limit=500", f"{path}?page=2&limit=3", f"{path}?page=1000000"]
        elif info.params is not None and "limit" in info.params().fields:
            urls = [path, f"{path}?limit=100", f"{path}?limit=1"]
        elif endpoint == "stats.timeline":
            urls = [path, f"{path}?hours=720", f"{path}?hours=1"]
        else:
            urls = [path]
        assert urls, endpoint
        for url in urls:
            _check(client.get(url), info.response)
            checked += 1
    assert checked > 40


def test_list_filters_answer_the_same_shape(fetched_app):
    client = fetched_app.test_client()
    cases = {
        "/api/messages": (r.MessageListResponseSchema, [{"status": s} for s in ("delivered", "bounced", "deferred",
                                                                               "rejected", "pending", "spam")]
                          + [{"direction": d} for d in ("inbound", "outbound", "internal", "unknown")]
                          + [{"search": "from:example OR to:example -status:bounced"}]),
        "/api/logs/postfix": (r.PostfixLogListSchema, [{"status": s} for s in ("sent", "bounced", "deferred",
                                                                              "expired", "rejected")]),
        "/api/logs/rspamd": (r.RspamdLogListSchema, [{"is_spam": "true"}, {"is_spam": "false"},
                                                     {"min_score": 5}, {"action": "reject"}]),
        "/api/logs/netfilter": (r.NetfilterLogListSchema, [{"action": a} for a in ("warning", "banned",
                                                                                  "auth_failure")]),
    }
    for url, (schema, queries) in cases.items():
        for query in queries:
            _check(client.get(url, query_string={**query, "limit": 200}), schema)


def test_non_json_answers_have_the_documented_media_type(fetched_app):
    client = fetched_app.test_client()
    doc = _doc(client)
    for endpoint, info in ENDPOINTS.items():
        kind = _kind(endpoint)
        if kind == "json":
            continue
        path, method, operation = _operation(doc, endpoint)
        url = path.replace("{source}", "postfix").replace("{correlation_key}", "abc")
        response = client.open(url, method=method.upper())
        assert response.data is not None   # consume streamed answers (CSV) before the next request
        response.close()
        documented = {status: list(spec.get("content", {})) for status, spec in operation["responses"].items()}
        assert str(response.status_code) in documented, (url, response.status_code)
        media = documented[str(response.status_code)]
        if media:
            assert response.mimetype in media, (url, response.mimetype, media)


def test_errors_match_their_schemas(fetched_app):
    client = fetched_app.test_client()
    _check(client.get("/api/messages?limit=0"), r.ErrorSchema, 400)
    _check(client.get("/api/message/no-such-key/details"), r.ErrorSchema, 404)
    _check(client.get("/api/logs/postfix/by-queue/NOSUCHQUEUE"), r.ErrorSchema, 404)


def test_mailcow_down_is_502_with_detail(app, client):
    # `app` talks to a mailcow at 127.0.0.1:9 (nothing listens there); no pause between retries
    app.extensions["runtime"].client.backoff = 0
    for url in ("/api/queue", "/api/quarantine", "/api/status/containers", "/api/status/storage",
                "/api/status/version", "/api/status/mailcow-info", "/api/status/summary"):
        _check(client.get(url), r.ErrorSchema, 502)
    _check(client.get("/api/status/app-version"), r.ReleaseSchema)
