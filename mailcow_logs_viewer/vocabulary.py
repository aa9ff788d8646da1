"""The words of the domain the API accepts and answers with, named once.

Never reorder or rename: they are query parameters and values of the JSON API (spec/API.md).
"""
from __future__ import annotations

# A message's final status (`spam` is a filter on the verdict, not a status of its own).
STATUSES = ("delivered", "discarded", "bounced", "deferred", "rejected", "pending", "spam")
DIRECTIONS = ("inbound", "outbound", "internal", "unknown")
# The log sources fetched from mailcow, each with its own table and list page.
SOURCES = ("postfix", "rspamd", "netfilter", "dovecot")
# The per-hour message counters kept by triggers (db.py), in their column order.
HOURLY_METRICS = ("total", "spam", "bounced", "rejected", "inbound", "outbound", "internal")

# What the log lists filter on.
POSTFIX_STATUSES = ("sent", "bounced", "deferred", "expired", "rejected")
RSPAMD_ACTIONS = ("no action", "greylist", "add header", "rewrite subject", "soft reject", "reject", "discard",
                  "quarantine")
NETFILTER_ACTIONS = ("warning", "banned", "unbanned", "denylisted", "allowlisted", "info", "auth_failure")
