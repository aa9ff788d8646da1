"""Alert state: findings in, alert rows and notification events out.

- a finding whose key has no open alert opens one (one `opened` event);
- a finding for an open alert updates its count, peak, detail and last_seen (no event);
- an open alert whose rule ran and did not find it again starts its grace period; once the
  condition has stayed clear for ALERT_GRACE_MINUTES it resolves (one `resolved` event).
  A finding during the grace period simply continues the alert, so a flapping condition
  does not notify twice. A rule that could not run (mailcow's live state unreadable) leaves
  its alerts as they are.
"""
from __future__ import annotations

from typing import NamedTuple

from ..api.params import iso
from ..db import database
from ..models import Alert
from .findings import Finding


class Event(NamedTuple):
    kind: str            # opened | resolved
    alert: Alert


def apply_findings(findings: list[Finding], evaluated_rules: set[str], now: int, grace_seconds: int) -> list[Event]:
    events: list[Event] = []
    with database.atomic("IMMEDIATE"):
        open_alerts = {alert.key: alert for alert in Alert.select().where(Alert.state == "open")}
        seen = set()
        for finding in findings:
            if finding.key in seen:
                continue
            seen.add(finding.key)
            alert = open_alerts.get(finding.key)
            if alert is None:
                alert = Alert.create(key=finding.key, rule=finding.rule, severity=finding.severity, state="open",
                                     title=finding.title, detail=finding.detail, count=finding.count,
                                     peak=finding.count, message_keys=" ".join(finding.message_keys),
                                     link=finding.link, opened_at=now, last_seen=now)
                events.append(Event("opened", alert))
                continue
            alert.title, alert.detail, alert.count = finding.title, finding.detail, finding.count
            alert.peak = max(alert.peak, finding.count)
            alert.severity, alert.link = finding.severity, finding.link or alert.link
            if finding.message_keys:
                alert.message_keys = " ".join(finding.message_keys)
            alert.last_seen, alert.clear_since = now, None
            alert.updates += 1
            alert.save()
        for key, alert in open_alerts.items():
            if key in seen or alert.rule not in evaluated_rules:
                continue
            if alert.clear_since is None:
                alert.clear_since = now
            if now - alert.clear_since >= grace_seconds:
                alert.state, alert.resolved_at = "resolved", now
                events.append(Event("resolved", alert))
            alert.save()
    return events


def alert_note(alert: Alert, event: str, public_url: str) -> dict:
    """The notification of one event, as every channel formats it and the webhook sends it."""
    base = public_url.rstrip("/")
    return {"event": event, "alert_id": alert.id, "key": alert.key, "rule": alert.rule, "severity": alert.severity,
            "state": alert.state, "title": alert.title, "detail": alert.detail, "count": alert.count,
            "peak": alert.peak, "opened_at": iso(alert.opened_at), "last_seen": iso(alert.last_seen),
            "resolved_at": iso(alert.resolved_at),
            "url": f"{base}/alerts?id={alert.id}" if base else "",
            "link": f"{base}{alert.link}" if base and alert.link else alert.link}
