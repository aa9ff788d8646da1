"""The mail figures of /metrics: messages by status and direction, the live queue, auth
failures, active bans and how far behind each log source is.

Parts of metrics.py's StoreCollector, read at scrape time with its rule: a part that cannot
be read (mailcow down for the queue) is left out and counted in
`mailcow_logs_viewer_scrape_errors{part=...}` instead of failing the scrape. Label values
are bounded: statuses and directions are fixed vocabularies, sources are three.
"""
from __future__ import annotations

import time

from peewee import fn
from prometheus_client import disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from .bans import active_bans
from .models import ImportState, Message, NetfilterLine
from .vocabulary import DIRECTIONS, SOURCES, STATUSES

# Counters would each add a `<name>_created` series: noise on every dashboard, never queried.
disable_created_metrics()

PREFIX = "mailcow_logs_viewer"


class MailFigures:
    """The parts metrics.py's StoreCollector reads at scrape time, beside its own."""

    def __init__(self, app):
        self.app = app

    def parts(self):
        return (("mail_messages", self._messages), ("queue", self._queue), ("security", self._security),
                ("fetch_lag", self._fetch_lag))

    def _messages(self):
        family = GaugeMetricFamily(f"{PREFIX}_messages_by_direction", "Stored messages by final status and direction",
                                   labels=["final_status", "direction"])
        counts = {(s, d): 0 for s in STATUSES if s != "spam" for d in DIRECTIONS}
        for status, direction, count in (Message.select(Message.final_status, Message.direction, fn.COUNT(Message.id))
                                         .group_by(Message.final_status, Message.direction).tuples()):
            key = (status if status in STATUSES else "pending", direction if direction in DIRECTIONS else "unknown")
            counts[key] = counts.get(key, 0) + count
        for (status, direction), count in sorted(counts.items()):
            family.add_metric([status, direction], count)
        return (family,)

    def _queue(self):
        from .api.queue_health import current_queue_health

        with self.app.app_context():
            health, _ = current_queue_health()
        size = GaugeMetricFamily(f"{PREFIX}_queue_messages", "Messages in mailcow's Postfix queue (live, cached)")
        size.add_metric([], health.size)
        oldest = GaugeMetricFamily(f"{PREFIX}_queue_oldest_age_seconds", "Age of the oldest queued message (0: empty)")
        oldest.add_metric([], health.oldest_age_seconds or 0)
        return size, oldest

    def _security(self):
        failures = GaugeMetricFamily(f"{PREFIX}_auth_failures", "Stored failed logins (netfilter), within retention")
        failures.add_metric([], NetfilterLine.select().where(NetfilterLine.auth_failure == True).count())
        bans = GaugeMetricFamily(f"{PREFIX}_active_bans", "Networks netfilter has banned now")
        bans.add_metric([], len(active_bans(int(time.time()))))
        return failures, bans

    def _fetch_lag(self):
        lag = GaugeMetricFamily(f"{PREFIX}_source_fetch_lag_seconds",
                                "Seconds since this source was last fetched (absent before the first fetch; "
                                "see source_fetch_failing for whether it worked)",
                                labels=["source"])
        now = time.time()
        for row in ImportState.select().where(ImportState.source.in_(SOURCES)):
            if row.last_fetch_run is not None:
                lag.add_metric([row.source], max(0.0, now - row.last_fetch_run))
        return (lag,)
