"""The read model: what the API (and the CSV export) asks the database, one module per section.

    messages.py         the messages list and the rows every message answer shares
    message_details.py  one message with its legs, lines, verdicts and related messages
    logs.py             the Postfix, Rspamd and netfilter lists, a queue id's lines
    dovecot.py          the Dovecot list, failed mailbox logins, a message's Dovecot lines
    statistics.py       dashboard, timeline, top lists
    security.py         the security page's aggregation (auth failures by IP, user, time)
    alerts.py           open and recent alerts, stored notifications per channel
    settings.py         import and correlation status read from the database
    filters.py          filters and the search syntax as Peewee expressions
    counts.py           totals that do not grow with the data

Every query function takes the caller's Scope first and returns typed results (dataclasses
whose fields are the answer's fields; times already as the API writes them).
"""
from __future__ import annotations

from ..vocabulary import DIRECTIONS, HOURLY_METRICS, STATUSES
from .counts import _row_counts, hourly_counts
from .scope import ADMIN, Scope
from .statistics import auth_failure_count, blocked_ip_counts

__all__ = ["ADMIN", "DIRECTIONS", "HOURLY_METRICS", "STATUSES", "Scope", "_row_counts", "auth_failure_count", "blocked_ip_counts",
           "hourly_counts"]
