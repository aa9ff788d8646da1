"""GET /api/servers: each mailcow server's fetch state, as the Status page shows it."""
from __future__ import annotations

from dataclasses import dataclass

from .results import iso
from .scope import Scope
from .settings import ImportSource, import_status


@dataclass
class GapSummary:
    count: int
    estimated_missed: int
    last_end: str | None            # the end of the newest gap: lines since then are whole


@dataclass
class ServerState:
    name: str
    url: str
    reachable: bool | None          # None: not asked yet
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    sources: dict[str, ImportSource]
    gaps: GapSummary
    traffic_bytes_per_day: dict[str, int | None]


def server_states(scope: Scope, servers, reach: dict[str, dict], now: int) -> list[ServerState]:
    """`servers`: the configured MailcowServer tuple; `reach`: name -> the runtime's
    reachability state of that server (reachable, last_success, last_error, last_error_at)."""
    states = []
    for server in servers:
        sources = import_status(scope.on_server(server.name), now, [server.name])
        state = reach.get(server.name, {})
        ends = [gap.end for source in sources.values() for gap in source.recent_gaps]
        states.append(ServerState(
            server.name, server.url, state.get("reachable"), iso(state.get("last_success")), state.get("last_error"),
            iso(state.get("last_error_at")), sources,
            GapSummary(sum(s.gaps for s in sources.values()), sum(s.estimated_missed for s in sources.values()),
                       max(ends, default=None)),
            {name: source.api_bytes_per_day for name, source in sources.items()}))
    return states
