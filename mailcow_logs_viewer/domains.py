"""The local domains: which mail is ours (direction) and which addresses are local.

Written by the scheduler (from mailcow, plus LOCAL_DOMAINS) and read by the correlator, the
Rspamd row mapping and the API; kept in the database so that a restart without mailcow still
knows them.
"""
from __future__ import annotations

import json
import logging
import time

from .db import database
from .models import LocalDomain, State

log = logging.getLogger(__name__)
_KEY = "local_domains:"      # State: each server's domains as last seen


def local_domains() -> frozenset[str]:
    return frozenset(d.domain for d in LocalDomain.select(LocalDomain.domain))


def _server_domains(client) -> dict[str, str]:
    """One server's active domains and alias domains: domain -> kind."""
    found: dict[str, str] = {}
    for item in client.collection("domain/all"):
        name = str(item.get("domain_name") or "").lower()
        if name and str(item.get("active", 1)) in ("1", "True", "true"):
            found[name] = "domain"
    try:
        alias_domains = client.collection("alias-domain/all")
    except Exception as error:  # older mailcow or a key without that right: domains still work
        log.info("alias domains not available: %s", error)
        alias_domains = []
    for item in alias_domains:
        name = str(item.get("alias_domain") or "").lower()
        if name and str(item.get("active", 1)) in ("1", "True", "true"):
            found.setdefault(name, "alias")
    return found


def refresh_local_domains(clients: dict, configured: tuple[str, ...] = ()) -> tuple[list[str], dict[str, Exception]]:
    """Every server's domains and alias domains (server name -> client), with LOCAL_DOMAINS:
    ours is what any of our servers hosts. A server that cannot be asked keeps the domains it
    had last time (kept per server in the database, for restarts too). Returns the domains and
    the servers that failed, with their error."""
    found: dict[str, str] = {d: "configured" for d in configured}
    failed: dict[str, Exception] = {}
    per_server: dict[str, dict[str, str]] = {}
    for server, client in clients.items():
        try:
            per_server[server] = _server_domains(client)
        except Exception as error:
            failed[server] = error
            row = State.get_or_none(State.key == _KEY + server)
            per_server[server] = json.loads(row.value) if row else {}
    for domains in per_server.values():
        for name, kind in domains.items():
            if kind == "domain":
                found[name] = "domain"
            else:
                found.setdefault(name, kind)
    if failed and len(failed) == len(clients) and not any(per_server.values()):
        return sorted(found), failed            # nothing learned: what is stored stays as it is
    now = int(time.time())
    with database.atomic("IMMEDIATE"):
        for server, domains in per_server.items():
            if server not in failed:
                State.insert(key=_KEY + server, value=json.dumps(domains)).on_conflict_replace().execute()
        LocalDomain.delete().execute()
        if found:
            LocalDomain.insert_many([(d, k, now) for d, k in found.items()],
                                    fields=[LocalDomain.domain, LocalDomain.kind, LocalDomain.updated_at]).execute()
    return sorted(found), failed
