"""A backup MX relaying to the primary, end to end (issue 15): two simulated mailcows over real
HTTP on loopback, mx2 also mx1's backup MX, fetched and correlated by the app's runtime. Every
relayed message is one message with a leg on each server, counted where it entered, with the
outcome the primary's delivery gave it; the totals per server stay the simulators' truth."""
from __future__ import annotations

import re
import socket
from collections import Counter

import pytest
import requests

from mailcow_logs_viewer.models import Leg, Message, Recipient
from mailcow_logs_viewer.simulator import TrafficGenerator, start_demo_mailcows

from conftest import Process, free_port, two_server_world, wait_for

START = 1_796_000_000
SETTLING = 120
HANDED_OVER = re.compile(r"relay=mail\.example\.org\[192\.0\.2\.10\]:25, .*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)")


@pytest.fixture(scope="module")
def relaying(tmp_path_factory):
    with two_server_world(tmp_path_factory.mktemp("relay") / "data", hours=3, backup_mx=True) as world:
        yield world


def entry_queue_id(truth) -> str:
    """The backup's queue id (queue_ids is in the order the two simulators emitted them)."""
    return next(q for q in truth.queue_ids if q != truth.relayed_queue_id)


def relayed_truths(world) -> list:
    return [m for m in world.sims["mx2"].generator.truth.values() if m.relayed_queue_id]


def test_per_server_totals_equal_each_simulators_truth(relaying):
    assert len(relayed_truths(relaying)) > 20
    for name, sim in relaying.sims.items():
        # A message still in its SMTP dialogue at the end (only `client=` so far) is no message yet.
        settled = sim.generator.clock - SETTLING
        truths = [t for t in sim.generator.truth.values() if t.first_time < settled]
        stored = Message.select().where(Message.server == name, Message.first_seen < settled)
        assert stored.count() == len(truths), name
        assert Counter(m.final_status for m in stored) == Counter(t.status for t in truths), name


def test_a_relayed_message_is_one_message_with_a_leg_on_each_server(relaying):
    for truth in relayed_truths(relaying):
        entered, handed = entry_queue_id(truth), truth.relayed_queue_id
        legs = {leg.server: leg for leg in Leg.select().where(
            ((Leg.server == "mx2") & (Leg.queue_id == entered)) | ((Leg.server == "mx1") & (Leg.queue_id == handed)))}
        assert set(legs) == {"mx1", "mx2"}, truth.key
        assert legs["mx1"].message_ref == legs["mx2"].message_ref, truth.key
        assert (legs["mx2"].role, legs["mx1"].role) == ("primary", "relayed")
        message = Message.get_by_id(legs["mx2"].message_ref)
        assert message.server == "mx2"              # counted where it entered: the backup MX
        assert message.final_status == truth.status
        outcomes = {r.recipient: r.status for r in Recipient.select().where(Recipient.message_ref == message.id)}
        assert outcomes == truth.outcomes, truth.key


def test_the_details_show_both_servers_legs_and_the_hand_off(relaying):
    truth = next(m for m in relayed_truths(relaying) if m.status == "delivered")
    key = Message.get(Message.server == "mx2", Message.queue_id == entry_queue_id(truth)).correlation_key
    details = relaying.client.get(f"/api/message/{key}/details").get_json()
    assert [(leg["server"], leg["queue_id"], leg["role"]) for leg in details["legs"]] == [
        ("mx2", entry_queue_id(truth), "primary"), ("mx1", truth.relayed_queue_id, "relayed")]
    handed = [HANDED_OVER.search(line["message"]) for leg in details["legs"] for line in leg["lines"]]
    assert [found.group(1) for found in handed if found] == [truth.relayed_queue_id]
    assert details["server"] == "mx2"
    # server=mx1 lists what entered on mx1; the relayed message is under mx2, once.
    keys = {server: {item["correlation_key"] for item in relaying.client.get(
        f"/api/messages?server={server}&limit=500").get_json()["data"]} for server in ("mx1", "mx2")}
    assert key in keys["mx2"] and key not in keys["mx1"]


def test_the_primary_writes_the_same_lines_with_a_backup_in_front():
    """The primary's own traffic is the same with or without its backup MX (the relay draws
    the backup's random numbers), and neither server's lines depend on the order the two are
    advanced in."""
    def generated(order):
        primary = TrafficGenerator(seed=11, rate_per_hour=120)
        backup = TrafficGenerator(seed=12, rate_per_hour=60, domains=("example.info",), alias_domains=())
        backup.relay_to(primary)
        primary.begin(START)
        out = {"mx1": [], "mx2": []}
        for name, until in order:
            out[name] += (primary if name == "mx1" else backup).generate(until)
        return out, {m.relayed_queue_id for m in backup.truth.values() if m.relayed_queue_id}
    alone = TrafficGenerator(seed=11, rate_per_hour=120)
    alone.begin(START)
    own = alone.generate(START + 10_000)
    (lines, handed), (again, _) = (generated([("mx2", START + 3_000), ("mx1", START + 6_000), ("mx2", START + 10_000),
                                              ("mx1", START + 10_000)]),
                                   generated([("mx1", START + 10_000), ("mx2", START + 10_000)]))
    assert lines == again
    assert [entry for entry in lines["mx1"] if entry in own] == own
    relayed = [entry["message"] for source, entry in lines["mx1"] if (source, entry) not in own and source == "postfix"]
    assert len(handed) > 3
    assert all("[192.0.2.20]" in text or text.split(":")[0] in handed for text in relayed)


def test_the_demo_runs_a_primary_and_its_backup_mx():
    sims = start_demo_mailcows(2, preload_hours=1, live_interval=3600)
    try:
        primary, backup = (sim.generator for sim in sims)
        assert backup.relay.primary is primary and primary.feeders == [backup]
        assert any(m.relayed_queue_id for m in backup.truth.values())
        clients = [entry["message"] for entry in sims[0].buffer("postfix") if "client=mx2.example.info[" in entry["message"]]
        assert clients
    finally:
        for sim in sims:
            sim.stop()


def test_run_simulate_serves_a_primary_and_its_backup_mx_on_consecutive_ports(tmp_path):
    port = _two_free_ports()
    simulator = Process(["simulate", "--port", str(port), "--servers", "2", "--preload-hours", "2"], {},
                        tmp_path / "simulator.log")
    try:
        urls = [f"http://127.0.0.1:{port + n}" for n in (0, 1)]
        for url in urls:
            wait_for(f"{url}/api/v1/get/status/version")
        keys = ("SIM-API-KEY", "SIM-API-KEY-MX2")
        postfix = [requests.get(f"{url}/api/v1/get/logs/postfix/10000", headers={"X-API-Key": key}, timeout=10).json()
                   for url, key in zip(urls, keys)]
        handed = {found.group(1) for entry in postfix[1] if (found := HANDED_OVER.search(entry["message"]))}
        received = {entry["message"].split(":")[0] for entry in postfix[0] if "client=mx2.example.info[192.0.2.20]" in entry["message"]}
        assert handed and handed <= received
        assert "simulated backup MX at" in simulator.output()
    finally:
        simulator.stop()


def _two_free_ports() -> int:
    """A free port whose next one is free too (`simulate --servers 2` takes both)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
