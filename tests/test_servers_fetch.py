"""Two simulated mailcows over real HTTP on loopback, fetched by the running app's runtime
(issue 15): per-server totals equal each simulator's truth, and a dead or hanging server does
not slow the other's fetch (measured: the live server's fetch time with the other one dead
against both alive)."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.models import LocalDomain, Message, PostfixLine
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator

from conftest import base_env

HANG_TIMEOUT = 1          # mx2's API timeout while it hangs (each request: 3 tries)


@pytest.fixture
def two_mailcows(tmp_path):
    from mailcow_logs_viewer.config import load_settings

    sims = {"mx1": SimulatedMailcow(TrafficGenerator(seed=11, rate_per_hour=120)),
            "mx2": SimulatedMailcow(TrafficGenerator(seed=12, rate_per_hour=60, domains=("example.info",),
                                                     alias_domains=()))}
    now = time.time()
    for sim in sims.values():
        sim.preload(hours=2, now=now)
        sim.start("127.0.0.1", 0)
    env = {"MAILCOW_INSTANCES": "mx1,mx2", "MAILCOW_MX2_API_TIMEOUT": HANG_TIMEOUT}
    for name, sim in sims.items():
        env[f"MAILCOW_{name.upper()}_URL"], env[f"MAILCOW_{name.upper()}_API_KEY"] = sim.url, sim.api_key
    settings = load_settings(base_env(tmp_path / "data", **env))
    open_database(settings.database_path, server_name=settings.server_name)
    runtime = Runtime(settings)
    yield sims, runtime
    for sim in sims.values():
        sim.set_fault(None)
    for server in runtime.servers.values():
        assert server.wait(120)
    runtime.stop()
    for sim in sims.values():
        sim.stop()
    database.close()


def test_per_server_totals_equal_each_simulators_truth(two_mailcows):
    sims, runtime = two_mailcows
    runtime.refresh_domains()
    # The union of both servers' domains is ours.
    assert {"example.org", "example.net", "example.com", "example.info"} <= {d.domain for d in LocalDomain.select()}
    result = runtime.fetch_and_correlate()
    assert set(result["servers"]) == {"mx1", "mx2"}
    for name, sim in sims.items():
        truths = list(sim.generator.truth.values())
        assert len(truths) > 50
        messages = Message.select().where(Message.server == name)
        assert messages.count() == len(truths), name
        assert Counter(m.final_status for m in messages) == Counter(t.status for t in truths), name
        assert PostfixLine.select().where(PostfixLine.server == name).count() == len(sim.buffer("postfix")), name
    assert Message.select().count() == sum(len(sim.generator.truth) for sim in sims.values())
    assert all(s.state.reachable for s in runtime.servers.values())


def _timed_rounds(sims, runtime, rounds: int = 3) -> list[float]:
    """The scheduled fetch (each server on its own thread), `rounds` times; mx1's fetch time."""
    seconds = []
    for _ in range(rounds):
        sims["mx1"].advance(time.time())
        started = time.perf_counter()
        runtime.fetch_servers()
        assert runtime.servers["mx1"].wait(60)
        seconds.append(time.perf_counter() - started)
    return seconds


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_a_dead_server_does_not_slow_the_others_fetch(two_mailcows, fault):
    sims, runtime = two_mailcows
    runtime.refresh_domains()
    runtime.fetch_and_correlate()
    both = _timed_rounds(sims, runtime)
    assert runtime.servers["mx2"].wait(60)
    sims["mx2"].fault_delay = 30            # "slow": mx2 answers nothing within its timeout
    sims["mx2"].set_fault(fault)
    dead = _timed_rounds(sims, runtime)
    mx2 = runtime.servers["mx2"]
    assert mx2.wait(120)
    print(f"mx1 fetch, both alive: {max(both):.3f} s; mx2 {fault}: {max(dead):.3f} s "
          f"(mx2's own failing fetch took {mx2.state.last_fetch_seconds:.1f} s)")
    assert max(dead) < max(both) * 3 + 1.0
    assert mx2.state.reachable is False and runtime.servers["mx1"].state.reachable is True
    if fault == "slow":      # the comparison means something: mx2's fetch was slower than mx1's whole rounds
        assert mx2.state.last_fetch_seconds > HANG_TIMEOUT * 3
    # mx1's new mail arrived meanwhile; the next fetch of mx2 (alive again) catches up with its truth.
    sims["mx2"].set_fault(None)
    runtime.fetch_and_correlate()
    for name, sim in sims.items():
        assert Message.select().where(Message.server == name).count() == len(sim.generator.truth), name
