"""Property-based fuzzing of the API, driven by /api/openapi.json (schemathesis + hypothesis).

Against the app's WSGI test client (no network) with a database fetched from the simulated
mailcow: schema-valid and schema-invalid parameters for every operation, then hand-made nasty
values (FTS5 and SQL syntax, NUL, unicode, huge strings, malformed dates and numbers) for every
query parameter, and garbage path segments. Never a 5xx (except 502 with a detail from the
views that read mailcow live), every 4xx of /api is JSON with a `detail`, and every answer
matches the document (status code, media type, response schema).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import quote

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

from mailcow_logs_viewer import create_app  # noqa: E402
from mailcow_logs_viewer.api.openapi import ENDPOINTS, MAILCOW_BACKED, _kind  # noqa: E402
from mailcow_logs_viewer.db import database  # noqa: E402

from conftest import SIM_SEED, base_env  # noqa: E402

# examples per operation and generation mode; the whole module stays well under 90 s
EXAMPLES_WITH_PARAMS = 60
EXAMPLES_WITHOUT_PARAMS = 3
EXAMPLES_NASTY = 120
EXAMPLES_PATH = 150

CASES: Counter = Counter()
SETTINGS = dict(deadline=None, database=None, derandomize=False, print_blob=True,
                suppress_health_check=list(HealthCheck))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """Like conftest's fetched_app, built once for the module (fetching takes a few seconds)."""
    from mailcow_logs_viewer.config import load_settings
    from mailcow_logs_viewer.runtime import Runtime
    from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

    sim = SimulatedMailcow(TrafficGenerator(seed=SIM_SEED, rate_per_hour=120))
    sim.start()
    try:
        sim.preload(hours=6, now=time.time())
        settings_ = load_settings(base_env(tmp_path_factory.mktemp("fuzz") / "data", MAILCOW_URL=sim.url,
                                           MAILCOW_API_KEY=sim.api_key, FETCH_COUNT_POSTFIX=5000,
                                           FETCH_COUNT_RSPAMD=500, FETCH_COUNT_NETFILTER=2000,
                                           CSV_EXPORT_LIMIT=300))   # keeps CSV cases fast
        runtime = Runtime(settings_)
        app = create_app(settings_, runtime)
        runtime.refresh_domains()
        runtime.fetch_and_correlate()
        yield app
        runtime.client.close()
    finally:
        database.close()
        sim.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def samples(fuzz_app):
    client = fuzz_app.test_client()
    messages = client.get("/api/messages?limit=20").get_json()["data"]
    lines = client.get("/api/logs/postfix?limit=50").get_json()["data"]
    assert messages and lines
    return {"keys": [m["correlation_key"] for m in messages],
            "queue_ids": sorted({line["queue_id"] for line in lines if line["queue_id"]})}


def assert_sane(endpoint: str, response_status: int, content_type: str, body: bytes, path: str) -> None:
    """The module's invariants for one answer."""
    if response_status >= 500:
        assert response_status == 502 and endpoint in MAILCOW_BACKED, (endpoint, path, response_status, body[:300])
    if response_status >= 400 and (path.startswith("/api/") or path == "/metrics"):
        assert content_type.startswith("application/json"), (path, response_status, content_type)
        detail = json.loads(body).get("detail")
        assert isinstance(detail, str) and detail, (path, response_status, body[:300])


# ------------------------------------------------------------------ schemathesis, per operation

FUZZED = sorted(e for e in ENDPOINTS if not e.startswith("web.") and e != "openapi.openapi_json")


@pytest.mark.parametrize("endpoint", FUZZED)
def test_schemathesis(api_schema, endpoint):
    operation = next(op.ok() for op in api_schema.get_all_operations() if op.ok().definition.raw["operationId"]
                     == endpoint)
    info = ENDPOINTS[endpoint]
    has_params = bool(operation.query) or bool(operation.path_parameters)
    examples = EXAMPLES_WITH_PARAMS if has_params else EXAMPLES_WITHOUT_PARAMS
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_params else (GenerationMode.POSITIVE,)
    for mode in modes:
        @settings(max_examples=examples, **SETTINGS)
        @given(case=operation.as_strategy(mode))
        def run(case):
            response = case.call()
            CASES[f"schemathesis/{mode.value}"] += 1
            content_type = (response.headers.get("content-type") or [""])[0]
            assert_sane(endpoint, response.status_code, content_type, response.content, case.formatted_path)
            case.validate_response(response, checks=CHECKS)
        run()
    assert info is not None


# ------------------------------------------------------------------ nasty values, every query parameter

FTS_AND_SQL = ['"', '""', "*", "OR", "AND", "NOT", ")", "(", "NEAR(", "NEAR(a b, 2)", "col:", "sender:", "from:",
               "to:", "status:", "subject:", "^", "-", "--", "'", "';--", "' OR 1=1 --", "%", "_", "\\", "\\%",
               "a*", '"a', 'a"', "{a b}", "x:y:z", "from:\"", "-from:", "OR OR", "- -", "1; DROP TABLE message",
               "message_fts MATCH", "rowid", "\x00", "a\x00b", "\u202e", "é", "\u0301", "😀", "\ufeff", "\ud7ff",
               "日本語", "\t", "\n", "\r\n", " ", "", "NULL", "null", "true", "[]", "{}"]
NUMBERS = ["-1", "0", "1", "2147483648", "9223372036854775808", "1e309", "-1e309", "nan", "NaN", "inf", "-inf",
           "1.5", "0x10", "1_000", " 1", "1 ", "+1", "--1", "１", "٣", "", "1e6", "-1000000.0001", "true"]
DATES = ["2025-12-25", "2025-12-25T10:30:00Z", "2025-12-25T10:30:00", "2025-12-25T10:30:00+25:00",
         "2025-02-30", "0000-01-01", "9999-12-31T23:59:59Z", "10000-01-01", "-1", "0", "253402300800",
         "99999999999999999999", "1735123456", "2025-13-01", "25/12/2025", "yesterday", "2025-12-25T", "T10:00",
         "2025-12-25 10:30", "2025-12-25T10:30:00.123456789Z", "2025-W52", "\x00", "2025-12-25\x00", "１２３"]


def nasty_text():
    token = st.sampled_from(FTS_AND_SQL)
    words = st.lists(st.one_of(token, st.text(max_size=8)), min_size=1, max_size=8).map(" ".join)
    joined = st.lists(token, min_size=1, max_size=12).map("".join)
    huge = st.integers(min_value=490, max_value=12000).map(lambda n: ("a" * n))
    return st.one_of(words, joined, token, st.text(max_size=40), huge, st.sampled_from(NUMBERS + DATES))


def nasty_value():
    return st.one_of(nasty_text(), st.sampled_from(NUMBERS), st.sampled_from(DATES))


WITH_PARAMS = sorted(e for e, info in ENDPOINTS.items() if info.params is not None)


@pytest.mark.parametrize("endpoint", WITH_PARAMS)
def test_nasty_query_values(fuzz_app, endpoint):
    client = fuzz_app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    path = next(p for p, ops in doc["paths"].items() if ops.get("get", {}).get("operationId") == endpoint)
    names = [p["name"] for p in doc["paths"][path]["get"]["parameters"] if p["in"] == "query"]

    @settings(max_examples=EXAMPLES_NASTY, **SETTINGS)
    @given(query=st.dictionaries(st.sampled_from(names), nasty_value(), min_size=1, max_size=4))
    def run(query):
        response = client.get(path, query_string=query)
        body = response.get_data()
        response.close()
        CASES["nasty-query"] += 1
        assert_sane(endpoint, response.status_code, response.content_type or "", body, path)
        assert response.status_code in (200, 400, 502), (path, query, response.status_code, body[:300])
        if response.status_code == 200 and _kind(endpoint) == "csv":
            assert response.mimetype == "text/csv"
    run()


@pytest.mark.parametrize("url", ["/api/messages", "/api/logs/postfix", "/api/logs/rspamd", "/api/logs/netfilter",
                                 "/api/export/messages/csv", "/api/queue"])
def test_search_syntax_never_fails(fuzz_app, url):
    """The search box's own syntax (fields, OR, -, quotes) mixed with FTS5 operators: 200, never 500."""
    client = fuzz_app.test_client()
    fields = st.sampled_from(["", "from:", "to:", "subject:", "ip:", "user:", "queue:", "msgid:", "status:", "-",
                              "-from:", "nosuch:"])
    term = st.tuples(fields, st.one_of(st.sampled_from(FTS_AND_SQL), st.text(min_size=1, max_size=6),
                                       st.sampled_from(["example", "org", "ab", "a", "bounced", "spam"])))
    query = st.lists(term.map("".join), min_size=1, max_size=20).map(" ".join).filter(lambda q: len(q) <= 500)

    @settings(max_examples=EXAMPLES_NASTY, **SETTINGS)
    @given(search=query)
    def run(search):
        response = client.get(url, query_string={"search": search})
        body = response.get_data()
        response.close()
        CASES["search-syntax"] += 1
        if "\x00" in search:
            assert response.status_code == 400, (url, search, response.status_code, body[:300])
        else:
            assert response.status_code == 200, (url, search, response.status_code, body[:300])
    run()


# ------------------------------------------------------------------ garbage path segments

def garbage_segment():
    return st.one_of(
        st.text(min_size=1, max_size=60),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30),
        st.sampled_from(["\x00", "a\x00b", "..", ".", "%00", "%", "😀" * 40, "\u202e", "' OR 1=1 --", '"', "*",
                         "NEAR(", "a" * 10_000, "0" * 129, "A" * 65, "..%2F..%2Fetc%2Fpasswd", " ", "\t", "\n"]),
        st.integers(min_value=1, max_value=12_000).map(lambda n: "x" * n),
    )


@pytest.mark.parametrize("template,endpoint", [("/api/message/{}/details", "messages.message_details"),
                                               ("/api/logs/postfix/by-queue/{}", "logs.postfix_by_queue")])
def test_garbage_path_segments_are_404(fuzz_app, samples, template, endpoint):
    client = fuzz_app.test_client()
    known = set(samples["keys"]) | set(samples["queue_ids"])

    @settings(max_examples=EXAMPLES_PATH, **SETTINGS)
    @given(segment=garbage_segment())
    def run(segment):
        path = template.format(quote(segment, safe=""))
        response = client.get(path)
        body = response.get_data()
        CASES["path-segments"] += 1
        if segment in known:
            return
        assert response.status_code == 404, (repr(segment[:80]), response.status_code, body[:300])
        assert_sane(endpoint, response.status_code, response.content_type or "", body, path)
    run()
    # and the real ones are found
    for value in (samples["keys"] if "message" in template else samples["queue_ids"])[:5]:
        assert client.get(template.format(quote(value, safe=""))).status_code == 200


def test_fuzz_volume():
    """Runs last in this module: report how many cases were tried."""
    total = sum(CASES.values())
    print(f"\nAPI fuzz: {total} cases ({dict(CASES)})")
    if CASES:
        assert total >= 2000, CASES
