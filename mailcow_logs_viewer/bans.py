"""Which addresses netfilter has banned *now*: a ban minus its unban, while its time runs.

mailcow's netfilter logs "Banning 203.0.113.7/32 for 30 minutes" and, when the time is up or
an admin lifts it, "Unbanning 203.0.113.7/32". A network is banned now when its last ban is
later than its last unban and, when the ban said how long, that time has not run out (an
unban line can be lost to log trimming). Bans without a duration last until their unban.
Each mailcow server's netfilter bans on its own: a ban is of a network on one server.
"""
from __future__ import annotations

from typing import NamedTuple

from .models import NetfilterLine
from .queries.scope import ADMIN, Scope

# How far back a ban can still be in force: mailcow's longest ban time by default is a day,
# doubled on repeat offences; a week covers that without reading the whole table.
LOOKBACK_SECONDS = 7 * 86400


class ActiveBan(NamedTuple):
    network: str
    ip: str | None
    banned_at: int
    until: int | None              # None: no duration logged, banned until an unban
    seconds_left: int | None
    server: str


def active_bans(now: int, ip: str | None = None, scope: Scope = ADMIN) -> list[ActiveBan]:
    lines = (NetfilterLine.select(NetfilterLine.action, NetfilterLine.network, NetfilterLine.ip, NetfilterLine.time,
                                  NetfilterLine.ban_minutes, NetfilterLine.server)
             .where(NetfilterLine.action.in_(("banned", "unbanned")) & (NetfilterLine.time >= now - LOOKBACK_SECONDS),
                    *scope.line_filter(NetfilterLine))
             .order_by(NetfilterLine.time, NetfilterLine.id))
    if ip:
        lines = lines.where(NetfilterLine.ip == ip)
    current: dict[tuple[str, str], ActiveBan] = {}
    for line in lines.tuples():
        action, network, address, time, minutes, server = line
        key = network or address
        if not key:
            continue
        if action == "unbanned":
            current.pop((server, key), None)
        else:
            until = time + minutes * 60 if minutes else None
            current[(server, key)] = ActiveBan(key, address, time, until, None, server)
    found = [ban._replace(seconds_left=ban.until - now if ban.until is not None else None)
             for ban in current.values() if ban.until is None or ban.until > now]
    return sorted(found, key=lambda b: (-b.banned_at, b.network, b.server))
