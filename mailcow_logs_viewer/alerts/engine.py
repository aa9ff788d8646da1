"""The alerts job: evaluate every enabled rule over the stored data, update the alert state,
put notifications in the outbox and hand them to the sender threads.

It runs on the single writer thread (a job in jobs.py, right after each fetch), and its
cost is a few indexed queries: delivery happens elsewhere (outbox.Sender), so a dead channel
never slows fetching. mailcow's live state (queue, containers, storage) is read at most
every LIVE_READ_SECONDS, to stay a light guest.
"""
from __future__ import annotations

import json
import logging
import threading
import time

from ..db import database
from ..mailcow import MailcowError
from ..models import AlertNotification
from . import abuse, delivery, service
from .channels import configured_channels
from .findings import LiveState, RuleContext
from .outbox import Delivery, Sender
from .render import test_note
from .state import alert_note, apply_findings

log = logging.getLogger(__name__)

LIVE_READ_SECONDS = 300

# rule name (as in settings.RULE_DEFAULTS) -> function(ctx, params) -> findings (None: could not evaluate)
RULES = {
    "domain_bounce": delivery.domain_bounce, "domain_defer": delivery.domain_defer,
    "blocklist": delivery.blocklist, "queue": delivery.queue,
    "mailbox": abuse.mailbox, "auth_ip": abuse.auth_ip, "auth_user": abuse.auth_user,
    "outbound_reject": abuse.outbound_reject,
    "mailcow_down": service.mailcow_down, "gap": service.gap, "container": service.container,
    "storage": service.storage, "correlation_lag": service.correlation_lag,
}


def read_live(client) -> LiveState:
    """mailcow's queue, containers and vmail disk, shaped like the API answers them."""
    from ..mailcow_live import PARTS

    def read(endpoint, shape):
        try:
            return shape(endpoint, client.get(endpoint))
        except MailcowError as error:
            log.info("alerts: %s unreadable: %s", endpoint, error.reason)
            return None
    return LiveState(queue=read(*PARTS["queue"]), containers=read(*PARTS["containers"]),
                     storage=read(*PARTS["storage"]))


class AlertEngine:
    def __init__(self, settings, client=None, sender: Sender | None = None):
        self.settings = settings
        self.alerts = settings.alerts
        self.client = client
        self.sender = sender or Sender(configured_channels(self.alerts), self.alerts.retry_seconds,
                                       self.alerts.max_attempts)
        self.fetch_failures = 0
        self.fetch_error: str | None = None
        self.key_refused = False
        self._failing: dict[str, tuple[int, str, bool]] = {}     # server -> (failures in a row, error, key refused)
        self._fetch_lock = threading.Lock()
        self._live = LiveState()
        self._live_read_at = 0.0

    # ---------------------------------------------------------------- inputs from the fetch job

    def note_fetch(self, server: str, error: Exception | None) -> None:
        """A server's fetch ended (each server's on its own thread). The rule sees the server
        failing longest: its consecutive failures, its error (named when there are several)."""
        from ..mailcow import MailcowAuthError
        with self._fetch_lock:
            if error is None:
                self._failing.pop(server, None)
            else:
                count = self._failing.get(server, (0,))[0] + 1
                reason = getattr(error, "reason", None) or str(error)
                self._failing[server] = (count, reason, isinstance(error, MailcowAuthError))
            worst = max(self._failing.items(), key=lambda item: item[1][0], default=None)
            if worst is None:
                self.fetch_failures, self.fetch_error, self.key_refused = 0, None, False
                return
            name, (self.fetch_failures, reason, self.key_refused) = worst
            several = len(self.settings.servers) > 1
            self.fetch_error = f"{name}: {reason}" if several else reason

    def _live_state(self, now: float) -> LiveState:
        if self.client is None or self.fetch_failures:
            return LiveState()
        if now - self._live_read_at >= LIVE_READ_SECONDS:
            self._live, self._live_read_at = read_live(self.client), now
        return self._live

    # ---------------------------------------------------------------- the job

    def evaluate(self, now: float | None = None) -> dict:
        """One evaluation at `now` (the wall clock in production; tests step a simulated one)."""
        self.persist_results()
        now = int(time.time() if now is None else now)
        ctx = RuleContext(now=now, live=self._live_state(time.time()), fetch_failures=self.fetch_failures,
                          fetch_error=self.fetch_error, key_refused=self.key_refused)
        findings, evaluated = [], set()
        for name, rule in RULES.items():
            params = self.alerts.rule(name)
            if params is None:
                continue
            found = rule(ctx, params)
            if found is None:
                continue
            evaluated.add(name)
            findings.extend(found)
        events = apply_findings(findings, evaluated, now, self.alerts.grace_minutes * 60)
        notes = [(event.alert.id, event.kind, alert_note(event.alert, event.kind, self.alerts.public_url))
                 for event in events]
        queued = self.enqueue(notes)
        return {"findings": len(findings), "opened": sum(e.kind == "opened" for e in events),
                "resolved": sum(e.kind == "resolved" for e in events), "notifications": queued}

    def enqueue(self, notes: list[tuple[int | None, str, dict]], digest: bool = False) -> int:
        """Store one outbox row per note and channel (digests: only the channels that take them),
        then hand them to the sender threads."""
        channels = [c for c in self.sender.channels if c.digests or not digest]
        if not notes or not channels:
            return 0
        deliveries = []
        now = int(time.time())
        with database.atomic("IMMEDIATE"):
            for alert_id, event, note in notes:
                payload = json.dumps(note)
                for channel in channels:
                    row = AlertNotification.create(alert_ref=alert_id, event=event, channel=channel.name,
                                                   payload=payload, created_at=now)
                    deliveries.append(Delivery(row.id, channel.name, note))
        self.sender.submit(deliveries)
        return len(deliveries)

    def persist_results(self) -> int:
        results = self.sender.drain_results()
        if not results:
            return 0
        with database.atomic("IMMEDIATE"):
            for result in results:
                if result.notification_id is None:
                    continue
                changes = {AlertNotification.attempts: result.attempts, AlertNotification.last_error: result.error}
                if result.delivered:
                    changes.update({AlertNotification.status: "delivered", AlertNotification.delivered_at: result.at})
                elif result.final:
                    changes[AlertNotification.status] = "failed"
                AlertNotification.update(changes).where(AlertNotification.id == result.notification_id).execute()
        return len(results)

    def resume_pending(self) -> int:
        """At start-up: hand what a previous run left pending to the sender again."""
        names = {c.name for c in self.sender.channels}
        pending = [Delivery(row.id, row.channel, json.loads(row.payload))
                   for row in AlertNotification.select().where(AlertNotification.status == "pending")
                   if row.channel in names]
        self.sender.submit(pending)
        return len(pending)

    def send_test(self) -> list[str]:
        """Queue a test notification on every channel (the admin's button): memory only, no database
        write from the request thread; results show on the Status page."""
        note = test_note(self.alerts.public_url)
        self.sender.submit([Delivery(None, c.name, note) for c in self.sender.channels])
        return [c.name for c in self.sender.channels]

    def start(self) -> None:
        self.sender.start()

    def stop(self) -> None:
        self.sender.stop()
