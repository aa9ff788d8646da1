"""Which way a message went, from authentication and the local domains."""
from __future__ import annotations

from collections.abc import Iterable


def domain_of(address: str | None) -> str:
    if not address or "@" not in address:
        return ""
    return address.rsplit("@", 1)[1].lower().rstrip(">").strip()


def classify(authenticated: bool, locally_generated: bool, recipients: Iterable[str], local_domains: frozenset[str] | set[str]) -> str:
    """inbound | outbound | internal | unknown.

    A message is ours when a user authenticated for it (SASL, Rspamd `user`, MAILCOW_AUTH) or
    when Postfix made it itself (pickup, bounces). Our messages are internal when every
    recipient is local and outbound otherwise; everything else is inbound when it reaches a
    local recipient. An unauthenticated message for remote recipients only (a relay attempt)
    has no direction we can vouch for.
    """
    domains = [domain_of(r) for r in recipients if r]
    any_local = any(d in local_domains for d in domains)
    all_local = bool(domains) and all(d in local_domains for d in domains)
    if authenticated or locally_generated:
        if not domains:
            return "outbound" if authenticated else "unknown"
        return "internal" if all_local else "outbound"
    return "inbound" if any_local else "unknown"
