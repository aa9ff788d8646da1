"""The local domains: which mail is ours (direction) and which addresses are local.

Written by the scheduler (from mailcow, plus LOCAL_DOMAINS) and read by the correlator, the
Rspamd row mapping and the API; kept in the database so that a restart without mailcow still
knows them.
"""
from __future__ import annotations

import logging
import time

from .db import database
from .models import LocalDomain

log = logging.getLogger(__name__)


def local_domains() -> frozenset[str]:
    return frozenset(d.domain for d in LocalDomain.select(LocalDomain.domain))


def refresh_local_domains(client, configured: tuple[str, ...] = ()) -> list[str]:
    """Active domains and alias domains from mailcow, kept in the database for restarts."""
    found: dict[str, str] = {d: "configured" for d in configured}
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
    now = int(time.time())
    with database.atomic("IMMEDIATE"):
        LocalDomain.delete().execute()
        if found:
            LocalDomain.insert_many([(d, k, now) for d, k in found.items()],
                                    fields=[LocalDomain.domain, LocalDomain.kind, LocalDomain.updated_at]).execute()
    return sorted(found)
