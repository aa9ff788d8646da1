"""mailcow's live state from several servers: the servers asked for (`server=`), each read on
its own (mailcow_live.MailcowLive, never waiting long), and one answer made of theirs.

Every item says its server. Lists (queue, quarantine) are the servers' lists together;
containers are keyed `server/container` when there are several; counts (domains, mailboxes,
aliases) add up; the disk shown is the fullest one, since "is a disk full?" is the question;
the version is that of the first server asked for, with every server's beside it. A server
that gives no answer leaves the others' standing, named under `unavailable_servers`; when
none answers, the request gets the 502 a single server would give.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..auth import current_scope
from ..errors import ApiError
from ..mailcow_live import LiveUnavailable, Reading
from ..queries.results import iso


def _servers() -> list[tuple[str, object]]:
    """(name, MailcowLive) of the servers this request asks for, in configured order."""
    scope = current_scope()
    servers = current_app.extensions["runtime"].servers
    return [(name, server.live) for name, server in servers.items() if scope.servers is None or name in scope.servers]


def _used(storage: dict) -> float:
    try:
        return float(storage.get("used_percent", "").rstrip("%"))
    except ValueError:
        return -1.0


def _combined(part: str, values: list[tuple[str, object]]):
    """One value of `part` from each server's (name, value), as the module doc says."""
    if part in ("queue", "quarantine"):
        return [{**item, "server": name} for name, items in values for item in items]
    if part == "containers":
        several = len(values) > 1
        return {(f"{name}/{key}" if several else key): {**item, "server": name}
                for name, found in values for key, item in found.items()}
    if part in ("domains", "mailboxes", "aliases"):
        return {key: sum(value[key] for _, value in values) for key in values[0][1]}
    if part == "storage":
        name, fullest = max(values, key=lambda pair: _used(pair[1]))
        return {**fullest, "server": name} if len(values) > 1 else fullest
    return values[0][1]              # the version: the first server's


@dataclass
class LiveAnswer:
    readings: list[Reading]          # one per part asked for, combined over the servers
    missing: dict[str, str]          # servers that gave no answer -> why
    by_server: dict[str, object]     # each answering server's own value of the first part

    def marked(self, body: dict) -> dict:
        """`body` saying what it is built from: a stale reading (with when mailcow last
        answered), and the servers it lacks."""
        stale = [reading for reading in self.readings if reading.stale]
        if stale:
            body["stale"] = True
            body.setdefault("fetched_at", iso(min(reading.fetched_at for reading in stale)))
        if self.missing:
            body["unavailable_servers"] = dict(self.missing)
        return body


def read(*parts: str) -> LiveAnswer:
    """The combined readings of `parts` from the servers asked for."""
    answered, missing = [], {}
    for name, live in _servers():
        try:
            answered.append((name, live.read(*parts)))
        except LiveUnavailable as error:
            missing[name] = error.reason
    if not answered:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in missing.items()) if len(missing) > 1 \
            else next(iter(missing.values()), "no server")
        raise ApiError(502, f"mailcow could not be reached: {reasons}")
    readings = []
    for index, part in enumerate(parts):
        mine = [(name, got[index]) for name, got in answered]
        readings.append(Reading(_combined(part, [(name, reading.value) for name, reading in mine]),
                                min(reading.fetched_at for _, reading in mine),
                                any(reading.stale for _, reading in mine)))
    return LiveAnswer(readings, missing, {name: got[0].value for name, got in answered})
