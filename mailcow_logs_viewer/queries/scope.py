"""Who is asking, as every query sees it.

Today there is one kind of caller: the admin, over every server. The scope is still passed to
each query function and applied where its query is built, so that per-domain or per-mailbox
access and several mailcow servers later change this module and those few places, not the
views.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    role: str = "admin"

    def message_filter(self) -> list:
        """Extra conditions on messages for this caller (none for an admin)."""
        return []

    def line_filter(self, model) -> list:
        """Extra conditions on the lines of a log table for this caller (none for an admin)."""
        return []


ADMIN = Scope()
