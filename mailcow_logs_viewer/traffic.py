"""What fetching costs mailcow, per log source: bytes received and requests made.

Kept in the database (one State row per server and source) so that the Status page, settings/info and
/metrics show it across restarts, and so that the next fetch knows how many entries the last
ones found new: that is the size of its first request (ingest.py).
"""
from __future__ import annotations

import json
from typing import NamedTuple

from .db import database
from .models import State

_KEY = "fetch_traffic:"
KEEP_HOURS = 25          # hourly buckets: the last 24 complete hours and the current one
KEEP_CYCLES = 60         # recent fetches, for the current rate per day


class TrafficSummary(NamedTuple):
    bytes_total: int
    requests_total: int
    bytes_last_24h: int
    requests_last_24h: int
    bytes_per_day: int | None      # at the rate of the recent fetches; None before two of them
    bytes_per_fetch: int | None    # mean over the recent fetches

    def as_dict(self) -> dict:
        return self._asdict()


def _key(server: str, source: str) -> str:
    return f"{_KEY}{server}:{source}"


class Traffic:
    def __init__(self, server: str, source: str, data: dict | None = None):
        self.server = server
        self.source = source
        if data is None:
            row = State.get_or_none(State.key == _key(server, source))
            data = json.loads(row.value) if row else {}
        self.bytes_total = int(data.get("bytes", 0))
        self.requests_total = int(data.get("requests", 0))
        self.expected_new: int | None = data.get("expected_new")
        self.hours: dict[int, list[int]] = {int(h): v for h, v in data.get("hours", {}).items()}
        self.cycles: list[list[int]] = data.get("cycles", [])

    def add(self, now: int, received: int, requests: int) -> None:
        """One fetch of this source: `received` bytes in `requests` requests."""
        hour = now // 3600
        bucket = self.hours.setdefault(hour, [0, 0])
        bucket[0] += received
        bucket[1] += requests
        self.hours = {h: v for h, v in self.hours.items() if h > hour - KEEP_HOURS}
        self.bytes_total += received
        self.requests_total += requests
        self.cycles = (self.cycles + [[now, received, requests]])[-KEEP_CYCLES:]

    def saw_new(self, entries: int) -> None:
        """Rises at once with a burst and settles back by quarters: one quiet minute after
        a busy one does not shrink the next first request to nothing, and a burst that is
        over stops costing big first pages within a few fetches."""
        if self.expected_new is None:
            self.expected_new = entries
        else:
            self.expected_new = max(entries, self.expected_new // 4)

    def save(self) -> None:
        value = json.dumps({"bytes": self.bytes_total, "requests": self.requests_total,
                            "expected_new": self.expected_new, "hours": self.hours, "cycles": self.cycles})
        with database.atomic("IMMEDIATE"):
            State.insert(key=_key(self.server, self.source), value=value).on_conflict_replace().execute()

    @classmethod
    def of_every_server(cls, source: str) -> "Traffic":
        """This source's traffic summed over the servers (one server: that server's), for the
        totals that do not name a server."""
        total = cls("", source, {})
        for row in State.select().where(State.key.startswith(_KEY), State.key.endswith(":" + source)):
            one = cls("", source, json.loads(row.value))
            total.bytes_total += one.bytes_total
            total.requests_total += one.requests_total
            for hour, (received, requests) in one.hours.items():
                bucket = total.hours.setdefault(hour, [0, 0])
                bucket[0] += received
                bucket[1] += requests
            total.cycles = sorted(total.cycles + one.cycles)[-KEEP_CYCLES:]
        return total

    def summary(self, now: int) -> TrafficSummary:
        hour = now // 3600
        recent = [v for h, v in self.hours.items() if h > hour - 24]
        per_day = per_fetch = None
        if self.cycles:
            per_fetch = round(sum(c[1] for c in self.cycles) / len(self.cycles))
        if len(self.cycles) >= 2 and self.cycles[-1][0] > self.cycles[0][0]:
            # The bytes after the first fetch of the window, over the time they took.
            later = sum(c[1] for c in self.cycles[1:])
            per_day = round(later * 86400 / (self.cycles[-1][0] - self.cycles[0][0]))
        return TrafficSummary(self.bytes_total, self.requests_total, sum(v[0] for v in recent),
                              sum(v[1] for v in recent), per_day, per_fetch)
