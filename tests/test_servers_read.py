"""Several mailcow servers, as the API reads them: two simulated mailcows over loopback HTTP,
fetched into one database. Every route that takes `server=` answers with that server's rows
only (each item says its server), the servers' totals add up to the whole, and a name that is
not configured is a 400 naming the parameter on every route."""
from __future__ import annotations

import csv
import io

import pytest

from mailcow_logs_viewer.api.openapi import WITHOUT_SERVER

from conftest import two_server_world

NAMES = ("mx1", "mx2")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with two_server_world(tmp_path_factory.mktemp("servers") / "data") as found:
        yield found


def _servers_named(body, found=None):
    """Every `server` value anywhere in a JSON body."""
    found = set() if found is None else found
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "server" and isinstance(value, str):
                found.add(value)
            elif key not in ("servers", "unavailable_servers"):
                _servers_named(value, found)
    elif isinstance(body, list):
        for item in body:
            _servers_named(item, found)
    return found


def _server_routes(app) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/api/") and "GET" in rule.methods and not rule.arguments
                  and rule.endpoint not in WITHOUT_SERVER)


def test_both_servers_hold_mail(world):
    client = world.client
    totals = {name: client.get("/api/messages", query_string={"server": name}).get_json()["total"] for name in NAMES}
    assert all(totals.values()), totals
    assert sum(totals.values()) == client.get("/api/messages").get_json()["total"]


def test_every_route_answers_only_for_the_server_asked(world):
    client, app = world.client, world.app
    routes = _server_routes(app)
    assert len(routes) > 30
    seen_elsewhere = set()
    for name in NAMES:
        for route in routes:
            response = client.get(route, query_string={"server": name, "limit": 100})
            assert response.status_code == 200, (route, name, response.status_code, response.get_data(as_text=True)[:300])
            if response.mimetype == "text/csv":
                rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
                named = {row["Server"] for row in rows}
            else:
                named = _servers_named(response.get_json())
            assert named <= {name}, (route, name, named)
            seen_elsewhere |= named
    assert seen_elsewhere == set(NAMES)      # the walk did see rows of both servers


def test_an_unknown_server_is_a_400_on_every_route(world):
    client, app = world.client, world.app
    for route in _server_routes(app):
        response = client.get(route, query_string={"server": "nope"})
        assert response.status_code == 400, route
        assert response.get_json()["detail"].startswith("server:"), route


def test_per_server_figures_add_up(world):
    client = world.client
    whole = client.get("/api/stats/dashboard").get_json()
    parts = [client.get("/api/stats/dashboard", query_string={"server": name}).get_json() for name in NAMES]
    for window in ("24h", "7d"):
        assert sum(p["messages"][window] for p in parts) == whole["messages"][window]
        assert sum(p["spam"][window] for p in parts) == whole["spam"][window]
        for split in ("permanent", "temporary"):
            assert sum(p["rejected"][f"{split}_{window}"] for p in parts) == whole["rejected"][f"{split}_{window}"]
    hours = [client.get("/api/stats/timeline", query_string={"server": name}).get_json() for name in NAMES]
    every = client.get("/api/stats/timeline").get_json()
    assert [sum(bucket) for bucket in zip(*([b["total"] for b in h["timeline"]] for h in hours))] == \
        [b["total"] for b in every["timeline"]]
    daily = [client.get("/api/stats/daily", query_string={"server": name}).get_json()["total"] for name in NAMES]
    assert sum(daily) == client.get("/api/stats/daily").get_json()["total"]


def test_servers_endpoint_reports_each_server(world):
    body = world.client.get("/api/servers").get_json()
    assert [server["name"] for server in body["servers"]] == list(NAMES)
    for server in body["servers"]:
        assert server["reachable"] is True
        assert server["sources"]["postfix"]["total_entries"] > 0
        assert server["sources"]["postfix"]["last_fetch_run"] is not None
        assert "api_key" not in repr(server).lower()
    info = world.client.get("/api/info").get_json()
    assert info["servers"] == list(NAMES)


def test_live_readings_name_their_server_and_survive_a_dead_one(world):
    """Last in this module: it stops mx2 for good (the world reads mailcow afresh on every
    request, STATUS_CACHE_SECONDS=0, so nothing cached hides the dead server)."""
    client = world.client
    queue = client.get("/api/queue").get_json()
    assert {item["server"] for item in queue["data"]} <= set(NAMES)
    containers = client.get("/api/status/containers").get_json()["containers"]
    assert {key.split("/", 1)[0] for key in containers} == set(NAMES)
    both = client.get("/api/status/mailcow-info").get_json()
    one = client.get("/api/status/mailcow-info", query_string={"server": "mx1"}).get_json()
    assert both["domains"]["total"] > one["domains"]["total"]
    world.sims["mx2"].stop()
    alone = client.get("/api/status/mailcow-info").get_json()
    assert alone["domains"] == one["domains"]
    assert set(alone["unavailable_servers"]) == {"mx2"}
    dead = client.get("/api/status/mailcow-info", query_string={"server": "mx2"})
    assert dead.status_code == 502
    assert dead.get_json()["detail"].startswith("mailcow could not be reached")
