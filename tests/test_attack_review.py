"""Findings 6 and 7 of the attack review, over real HTTP to a real waitress server.

6: any token is a valid HTTP method and reaches the public routes; the request counter must not
   grow a label per method (or per raw path). 7: Unicode digits in parameters are a 400 naming
   the parameter, not a 500; a log line saying `delay=1e400` must not make the API write
   `Infinity`, which is not JSON.
"""
from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database
from mailcow_logs_viewer.runtime import Runtime

from conftest import served


def _raw_request(url: str, method: str, path: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_odd_methods_and_paths_do_not_grow_metrics(app):
    with served(app) as url:
        requests.get(f"{url}/metrics", timeout=10)      # its own series exist from the next scrape on
        sizes = []
        for rounds in (20, 300):
            for n in range(rounds):
                _raw_request(url, f"X{len(sizes)}N{n}METHOD", "/api/health")
                _raw_request(url, "GET", f"/no/such/path/{len(sizes)}/{n}")
            text = requests.get(f"{url}/metrics", timeout=10).text
            sizes.append(len(text))
    methods = {line.split('method="')[1].split('"')[0] for line in text.splitlines()
               if line.startswith("mailcow_logs_viewer_http_requests_total{")}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert "other" in methods
    assert "/no/such/path" not in text
    assert sizes[1] - sizes[0] < 200, sizes     # 15 times the requests: the same series (larger counts)


BAD_NUMBERS = ["²", "①", "١٢", "１２", "٣", "1e400", "-0x10", "Ⅻ"]


@pytest.mark.parametrize("name,path", [("start_date", "/api/messages"), ("end_date", "/api/logs/postfix"),
                                        ("page", "/api/messages"), ("limit", "/api/logs/netfilter"),
                                        ("hours", "/api/stats/timeline"), ("limit", "/api/stats/top-spam-triggers")])
def test_unicode_digits_are_a_400_naming_the_parameter(app, name, path):
    with served(app) as url:
        for value in BAD_NUMBERS:
            response = requests.get(f"{url}{path}", params={name: value}, timeout=10)
            assert response.status_code == 400, (path, name, value, response.status_code, response.text[:200])
            assert name in response.json()["detail"]


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_overflowing_numbers_in_logs_are_never_written_as_infinity(make_settings, simulator):
    now = int(time.time())
    simulator.push("postfix", [
        {"time": str(now - 30), "program": "postfix/smtp", "priority": "info",
         "message": "4F1A2B3C4D: to=<jane@example.org>, relay=mx.remote.test[192.0.2.7]:25, delay=1e400, "
                    "delays=1e400/0/0/0, dsn=2.0.0, status=sent (250 ok)"},
        {"time": str(now - 31), "program": "postfix/qmgr", "priority": "info",
         "message": "4F1A2B3C4D: from=<joe@remote.test>, size=1200, nrcpt=1 (queue active)"},
    ])
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    try:
        runtime.fetch_and_correlate()
        with served(app) as url:
            for path in ("/api/logs/postfix?search=4F1A2B3C4D", "/api/messages?search=4F1A2B3C4D",
                         "/api/logs/postfix/by-queue/4F1A2B3C4D"):
                response = requests.get(url + path, timeout=10)
                assert response.status_code == 200, path
                assert "Infinity" not in response.text and "NaN" not in response.text, path
                _strict_json(response.text)
            lines = requests.get(f"{url}/api/logs/postfix?search=4F1A2B3C4D", timeout=10).json()["data"]
            assert any("delay=1e400" in line["message"] for line in lines)   # the raw text is kept
    finally:
        runtime.client.close()
        database.close()
