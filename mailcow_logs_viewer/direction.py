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
    recipient is local and outbound otherwise. Everything else came in from outside: inbound,
    relay attempts for remote recipients included (they arrive here and are refused).
    """
    domains = [domain_of(r) for r in recipients if r]
    if authenticated or locally_generated:
        if not domains:
            return "outbound" if authenticated else "unknown"
        return "internal" if all(d in local_domains for d in domains) else "outbound"
    return "inbound" if domains else "unknown"
