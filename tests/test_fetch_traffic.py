"""The fetch as a light guest (issue 17): small first requests at steady state, growing pages
only for a burst, and the traffic per source shown in settings/info and /metrics. All against
the simulated mailcow over real HTTP."""
from __future__ import annotations

import json
import re
import time
from collections import Counter

from conftest import SIM_SEED
from test_metrics import scrape, value

from mailcow_logs_viewer import create_app
from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.models import Gap, PostfixLine, RspamdRow
from mailcow_logs_viewer.runtime import Runtime
from mailcow_logs_viewer.simulator import SimulatedMailcow, TrafficGenerator
from mailcow_logs_viewer.simulator.log_lists import php_pretty


def _postfix_counter(entries) -> Counter:
    return Counter((int(e["time"]), e["program"], e["message"]) for e in entries)


def test_steady_fetches_follow_the_new_lines_and_a_burst_loses_nothing(make_settings):
    sim = SimulatedMailcow(TrafficGenerator(seed=SIM_SEED, rate_per_hour=400))
    pushed: dict[str, list] = {"postfix": [], "rspamd": []}
    push = sim.push

    def recording_push(source, entries):
        entries = list(entries)
        pushed.setdefault(source, []).extend(entries)
        push(source, entries)
    sim.push = recording_push
    sim.start()
    try:
        settings = make_settings(MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key)
        open_database(settings.database_path)
        client = MailcowClient(sim.url, sim.api_key)
        clock = time.time() - 4 * 3600
        sim.preload(hours=0.5, now=clock)
        pushed = {name: sim.buffer(name)[::-1] for name in ("postfix", "rspamd")}

        def cycle():
            nonlocal clock
            clock += 60
            sim.advance(clock)
            return Ingestor(client, settings, clock=lambda: clock).fetch_source("postfix")

        Ingestor(client, settings, clock=lambda: clock).fetch_all()
        for _ in range(3):
            cycle()                                        # the first request learns the rate
        first_sizes, received, new_bytes = [], 0, 0
        for _ in range(10):
            before_log, before_new = len(sim.request_log), len(pushed["postfix"])
            result = cycle()
            received += result.bytes
            new_bytes += len(php_pretty(pushed["postfix"][before_new:]))
            uri = next(u for _, _, u, _ in sim.request_log[before_log:] if "/logs/postfix/" in u)
            first_sizes.append(int(re.search(r"/logs/postfix/(\d+)$", uri).group(1)))
        assert max(first_sizes) < 400, first_sizes          # the fetch count is 2,000
        assert received <= 2 * new_bytes + 10 * 20_000, (received, new_bytes)

        sim.generator.rate_multiplier = 10                 # a burst: pages grow and page back
        pages = [cycle().pages for _ in range(4)]
        assert max(pages) > 1
        sim.generator.rate_multiplier = 1
        cycle()
        assert Gap.select().count() == 0
        stored = Counter(PostfixLine.select(PostfixLine.time, PostfixLine.program, PostfixLine.message).tuples())
        assert stored == _postfix_counter(pushed["postfix"]), "every line once"
        client.close()
        database.close()
    finally:
        sim.stop()


def test_traffic_per_source_in_settings_info_and_metrics(make_settings, simulator):
    simulator.preload(hours=1, now=time.time())
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    try:
        for _ in range(3):
            runtime.fetch_and_correlate()
            time.sleep(1.1)                                # per day needs two fetches at different times
        body = app.test_client().get("/api/settings/info").get_json()
        status = body["import_status"]
        for source in ("postfix", "rspamd", "netfilter"):
            assert status[source]["api_requests_last_24h"] >= 3
            assert status[source]["api_bytes_last_24h"] > 0
            assert status[source]["api_bytes_per_day"] is not None
        assert status["postfix"]["api_bytes_last_24h"] == runtime.client.received["postfix"]
        samples = scrape(app.test_client())
        assert value(samples, "api_received_bytes_total", source="rspamd") == runtime.client.received["rspamd"]
        assert value(samples, "api_log_requests_total", source="netfilter") == \
            runtime.client.requests_made["netfilter"]
        assert json.dumps(status)                            # plain JSON numbers
        assert RspamdRow.select().count() == len(simulator.buffer("rspamd"))
    finally:
        runtime.client.close()
        database.close()
