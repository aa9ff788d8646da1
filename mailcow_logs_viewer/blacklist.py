"""BLACKLIST_EMAILS: addresses whose mail is never stored.

A blacklisted sender hides the whole message: every line of its queue ids, including the
lines logged before the `from=` that revealed it. A blacklisted recipient hides only its own
delivery lines, and the message only when no other recipient is left, so that a BCC archive
copy on the list never hides the real mail.
"""
from __future__ import annotations

import json
import time

from .db import database
from .correlate import Correlator
from .log_rows import DovecotRow, PostfixRow, RspamdHistoryRow
from .models import PostfixLine, State

_STATE_KEY = "blacklist_hidden_queues"
_KEEP_SECONDS = 3 * 86400



class Blacklist:
    """For the lines of one server: queue ids are that server's."""

    def __init__(self, addresses: tuple[str, ...], server: str):
        self.addresses = frozenset(a.lower() for a in addresses)
        self.server = server
        self._state_key = f"{_STATE_KEY}:{server}"
        self._pending_purge: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.addresses)

    def _listed(self, address: str | None) -> bool:
        return bool(address) and address.lower() in self.addresses

    def _hidden(self) -> dict[str, int]:
        row = State.get_or_none(State.key == self._state_key)
        return json.loads(row.value) if row else {}

    def _save_hidden(self, hidden: dict[str, int]) -> None:
        cutoff = int(time.time()) - _KEEP_SECONDS
        hidden = {q: t for q, t in hidden.items() if t >= cutoff}
        State.insert(key=self._state_key, value=json.dumps(hidden)).on_conflict_replace().execute()

    def filter_postfix(self, rows: list[PostfixRow]) -> list[PostfixRow]:
        if not self.addresses:
            return rows
        hidden = self._hidden()
        newly_hidden: set[str] = set()
        listed_rcpts: dict[str, set[str]] = {}
        other_rcpts: dict[str, set[str]] = {}
        nrcpt: dict[str, int] = {}
        for row in rows:
            queue = row.queue_id
            if not queue:
                continue
            if self._listed(row.sender):
                newly_hidden.add(queue)
            if row.recipient:
                (listed_rcpts if self._listed(row.recipient) else other_rcpts).setdefault(queue, set()).add(row.recipient.lower())
            if row.nrcpt:
                nrcpt[queue] = row.nrcpt
        for queue, listed in listed_rcpts.items():
            if queue not in other_rcpts and nrcpt.get(queue) == len(listed):
                newly_hidden.add(queue)
        if newly_hidden:
            now = int(time.time())
            hidden.update({q: now for q in newly_hidden})
            self._save_hidden(hidden)
            self._pending_purge |= newly_hidden
        kept = []
        for row in rows:
            if row.queue_id and row.queue_id in hidden:
                continue
            if not row.queue_id and (self._listed(row.sender) or self._listed(row.recipient)):
                continue   # NOQUEUE reject for a listed address
            if self._listed(row.recipient):
                continue
            kept.append(row)
        return kept

    def purge_hidden_queues(self) -> None:
        """Delete lines of newly hidden queues that were stored by an earlier fetch."""
        if not self._pending_purge:
            return
        queues = sorted(self._pending_purge)
        with database.atomic("IMMEDIATE"):
            PostfixLine.delete().where(PostfixLine.queue_id.in_(queues), PostfixLine.server == self.server).execute()
        # A correlation pass may already have made a message of the early lines.
        Correlator().forget_queues(self.server, queues)
        self._pending_purge.clear()

    def filter_dovecot(self, rows: list[DovecotRow]) -> list[DovecotRow]:
        """A listed address's own mailbox and login lines are not stored."""
        if not self.addresses:
            return rows
        return [row for row in rows if not self._listed(row.user)]

    def filter_rspamd(self, rows: list[RspamdHistoryRow]) -> list[RspamdHistoryRow]:
        if not self.addresses:
            return rows
        kept = []
        for row in rows:
            if self._listed(row.sender_smtp):
                continue
            recipients = json.loads(row.recipients_smtp) if row.recipients_smtp else []
            remaining = [r for r in recipients if not self._listed(r)]
            if recipients and not remaining:
                continue
            if len(remaining) != len(recipients):
                row = row._replace(recipients_smtp=json.dumps(remaining))
            kept.append(row)
        return kept
