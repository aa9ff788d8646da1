"""The audit log: who signed in (or failed to), who signed out, and what they exported.

Requests read through query_only connections and only the writer thread writes, so a request
hands its event to `AuditLog.record`, and the writer's `write_audit` job stores what is
pending in one short transaction. The list (GET /api/audit, the admin's Audit page) shows
the stored events and the pending ones, so an event is visible at once.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

from .db import database
from .models import AuditEvent
from .queries.results import iso

MAX_PENDING = 10_000     # events waiting for the writer; past this the oldest are dropped (and counted)


@dataclass(frozen=True)
class AuditEntry:
    time: int
    event: str
    username: str = ""
    role: str = ""
    method: str = ""
    client: str = ""
    detail: str = ""


@dataclass
class AuditItem:
    time: str
    event: str
    username: str
    role: str
    method: str
    client: str
    detail: str


def _item(entry) -> AuditItem:
    return AuditItem(iso(entry.time), entry.event, entry.username, entry.role, entry.method, entry.client,
                     entry.detail)


class AuditLog:
    def __init__(self, clock=time.time):
        self.clock = clock
        self._pending: deque[AuditEntry] = deque()
        self._lock = threading.Lock()
        self.dropped = 0

    def record(self, event: str, **fields) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(AuditEntry(int(self.clock()), event, **fields))

    def flush(self) -> dict:
        """The writer's job: store the pending events."""
        with self._lock:
            batch = list(self._pending)
        if batch:
            with database.atomic("IMMEDIATE"):
                AuditEvent.insert_many([asdict(entry) for entry in batch]).execute()
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
        return {"stored": len(batch), "dropped": self.dropped}

    def recent(self, limit: int, event: str | None = None) -> list[AuditItem]:
        """The newest events first, pending ones included."""
        with self._lock:
            pending = [e for e in self._pending if event is None or e.event == event]
        query = AuditEvent.select().order_by(AuditEvent.time.desc(), AuditEvent.id.desc()).limit(limit)
        if event is not None:
            query = query.where(AuditEvent.event == event)
        return [_item(e) for e in reversed(pending[-limit:])] + [_item(e) for e in query][:max(0, limit - len(pending))]
