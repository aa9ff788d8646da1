"""mailcow's live state (containers, disk, version, counts, queue, quarantine), read through
`MailcowClient`, cached, and shaped into the objects the API serves.

A request never waits on mailcow longer than `wait` seconds. Every endpoint has one cache
entry and at most one refresh in flight, run on a background thread: a request that finds no
fresh answer starts the refresh (unless one is running) and waits for it up to `wait`. When
the refresh is slower, the request gets the last answer mailcow gave, marked stale, or, when
there is none yet, a 502 at once. So a mailcow that takes 30 s per call (inside its timeout,
with retries) costs each request at most `wait` seconds and at most one thread per endpoint,
instead of holding every waitress thread while `/api/messages`, which needs only the
database, waits behind them.

A failure is remembered for a few seconds (at most the cache time), so a dashboard polling a
broken mailcow does not hammer it (a 401 even counts toward a netfilter ban of this host).
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from .mailcow import MailcowBadResponse, MailcowError, as_collection

log = logging.getLogger(__name__)

WAIT_SECONDS = 2.0   # the longest a request waits for mailcow before it is answered without it
ERROR_TTL = 5.0      # seconds a failure is remembered (at most the cache time)


class LiveUnavailable(Exception):
    """mailcow gave no usable answer (yet); `reason` is one line without secrets."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Reading(NamedTuple):
    value: Any
    fetched_at: float      # epoch seconds when mailcow gave this answer
    stale: bool            # True: a newer answer is being fetched and took too long


class _Entry:
    """One endpoint's cache slot: the last good answer, the last outcome, the refresh in flight."""

    def __init__(self):
        self.good: Reading | None = None
        self.error: str | None = None
        self.expires = 0.0                    # monotonic; the last outcome is fresh until then
        self.refresh: threading.Event | None = None


class LiveCache:
    """Per-key cache with one background refresh in flight per key (see the module doc)."""

    def __init__(self, ttl: float, wait: float = WAIT_SECONDS, error_ttl: float = ERROR_TTL):
        self.ttl, self.wait, self.error_ttl = ttl, wait, min(error_ttl, ttl)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def read(self, jobs: list[tuple[str, Callable[[], Any]]]) -> list[Reading]:
        """One Reading per (key, load); all refreshes start at once and share one wait."""
        deadline = time.monotonic() + self.wait
        started = [self._begin(key, load) for key, load in jobs]
        return [self._finish(entry, pending, deadline) for entry, pending in started]

    def _begin(self, key: str, load) -> tuple[_Entry, threading.Event | None]:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            if entry.expires > time.monotonic():
                return entry, None
            if entry.refresh is None:
                entry.refresh = threading.Event()
                threading.Thread(target=self._refresh, args=(entry, load), name=f"mailcow-live {key}",
                                 daemon=True).start()
            return entry, entry.refresh

    def _finish(self, entry: _Entry, pending: threading.Event | None, deadline: float) -> Reading:
        if pending is not None and not pending.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                good = entry.good
            if good is None:
                raise LiveUnavailable(f"no answer within {self.wait:g} s (still asking in the background)")
            return good._replace(stale=True)
        with self._lock:
            if entry.error is not None:
                raise LiveUnavailable(entry.error)
            return entry.good

    def _refresh(self, entry: _Entry, load) -> None:
        try:
            value, error = load(), None
        except LiveUnavailable as failure:
            value, error = None, failure.reason
        except Exception as failure:  # a shaping bug must not leave the key refreshing for ever
            log.exception("reading mailcow failed")
            value, error = None, f"unexpected {type(failure).__name__}"
        with self._lock:
            if error is None:
                entry.good, entry.error = Reading(value, time.time(), False), None
                entry.expires = time.monotonic() + self.ttl
            else:
                entry.error = error
                entry.expires = time.monotonic() + self.error_ttl
            done, entry.refresh = entry.refresh, None
        done.set()


class MailcowLive:
    """The live reads the API serves: Readings, or LiveUnavailable when mailcow gave none."""

    def __init__(self, client, ttl: float, secret: str = "", on_outcome: Callable[[Exception | None], None] | None = None):
        self.client = client
        self.secret = secret
        self.on_outcome = on_outcome or (lambda error: None)
        self.cache = LiveCache(ttl)

    def read(self, *names: str) -> list[Reading]:
        """Readings of the named parts (see PARTS), asked for together: `read("containers", "storage")`."""
        return self.cache.read([(PARTS[name][0], self._loader(*PARTS[name])) for name in names])

    def _loader(self, endpoint: str, shape):
        def load():
            try:
                value = shape(endpoint, self.client.get(endpoint))
            except MailcowError as error:
                self.on_outcome(error)
                reason = error.reason.replace(self.secret, "***") if self.secret else error.reason
                raise LiveUnavailable(reason) from None
            self.on_outcome(None)
            return value
        return load


# ------------------------------------------------------------------ mailcow's bodies

def _as_object(endpoint: str, data) -> dict:
    if not isinstance(data, dict):
        what = "null" if data is None else type(data).__name__
        raise MailcowBadResponse(endpoint, f"expected an object, got {what} (mailcow's dockerapi may be down)")
    return data


def _iso(epoch) -> str | None:
    try:
        return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):   # None, or a time no calendar holds
        return None


_DOCKER_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def docker_time(value) -> str | None:
    """Docker's RFC 3339 nano time (`2026-04-06T07:12:44.481537201Z`) -> `2026-04-06T07:12:44Z`.

    Docker's zero time (a container that never started) and anything unparseable -> None.
    """
    if not isinstance(value, str):
        return None
    match = _DOCKER_TIME.match(value.strip())
    if not match:
        return None
    day, clock, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        return None
    if moment.year < 1970:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shape_containers(endpoint: str, data) -> dict:
    containers = {}
    for service, info in _as_object(endpoint, data).items():
        if not isinstance(info, dict):
            continue
        name = service[:-len("-mailcow")] if service.endswith("-mailcow") else service
        containers[service] = {
            "name": name,
            "state": str(info.get("state") or "unknown"),
            "started_at": docker_time(info.get("started_at")),
            "image": info.get("image") if isinstance(info.get("image"), str) else None,
        }
    return containers


def container_summary(containers: dict) -> dict:
    running = sum(1 for c in containers.values() if c["state"] == "running")
    states: dict[str, int] = {}
    for c in containers.values():
        states[c["state"]] = states.get(c["state"], 0) + 1
    return {"running": running, "stopped": len(containers) - running, "total": len(containers), "states": states,
            "not_running": sorted(name for name, c in containers.items() if c["state"] != "running")}


def _shape_storage(endpoint: str, data) -> dict:
    data = _as_object(endpoint, data)
    return {key: "" if data.get(key) is None else str(data.get(key)) for key in ("disk", "used", "total", "used_percent")}


def _shape_version(endpoint: str, data) -> str:
    version = _as_object(endpoint, data).get("version")
    if not isinstance(version, str) or not version.strip():
        raise MailcowBadResponse(endpoint, "no version in the answer (app_info.inc.php missing?)")
    return version.strip()


def _active(row: dict) -> bool:
    value = row.get("active_int", row.get("active"))
    try:
        return int(value) == 1
    except (TypeError, ValueError):
        return False


def _shape_counts(endpoint: str, data) -> dict:
    rows = as_collection(endpoint, data)
    return {"total": len(rows), "active": sum(1 for row in rows if _active(row))}


def split_recipient(value) -> dict:
    """mailq's `"addr (delay reason)"` -> {address, reason}; split on the first " (".

    Postfix objects (kept by mailcow only for empty lists, or from a newer Postfix) are read too.
    """
    if isinstance(value, dict):
        address = value.get("address") or value.get("orig_address") or ""
        reason = value.get("delay_reason") or value.get("bounce_reason") or value.get("other_reason")
        return {"address": str(address), "reason": str(reason) if reason else None}
    text = str(value)
    address, sep, rest = text.partition(" (")
    if not sep:
        return {"address": text.strip(), "reason": None}
    return {"address": address.strip(), "reason": rest[:-1] if rest.endswith(")") else rest}


def _recipient_text(value) -> str:
    if isinstance(value, dict):
        parsed = split_recipient(value)
        return f"{parsed['address']} ({parsed['reason']})" if parsed["reason"] else parsed["address"]
    return str(value)


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def _shape_queue(endpoint: str, data) -> list:
    items = []
    for row in as_collection(endpoint, data):
        recipients = [r for r in row.get("recipients") or [] if r is not None] \
            if isinstance(row.get("recipients"), list) else []
        arrival = _int(row.get("arrival_time"))
        items.append({
            "queue_name": row.get("queue_name"),
            "queue_id": row.get("queue_id"),
            "arrival_time": arrival,
            "message_size": _int(row.get("message_size")),
            "forced_expire": bool(row.get("forced_expire")),
            "sender": row.get("sender") if row.get("sender") is not None else "",
            "recipients": [_recipient_text(r) for r in recipients],
            "recipients_parsed": [split_recipient(r) for r in recipients],
            "arrival": _iso(arrival),
        })
    items.sort(key=lambda item: (item["arrival_time"] or 0, str(item["queue_id"] or "")), reverse=True)
    return items


def _score_text(score) -> str:
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return f"{score:.2f}".rstrip("0").rstrip(".")
    return str(score)


def _shape_quarantine(endpoint: str, data) -> list:
    items = []
    for row in as_collection(endpoint, data):
        score = row.get("score")
        try:
            score = float(score) if score is not None else None
        except (TypeError, ValueError):
            score = None
        if score is not None and not math.isfinite(score):
            score = None   # "1e400" would be written as Infinity, which is not JSON
        virus = (_int(row.get("virus_flag"), 0) or 0) > 0
        action = row.get("action")
        reason = f"Rspamd action {action or 'unknown'}"
        if score is not None:
            reason += f", score {_score_text(score)}"
        if virus:
            reason = f"Virus found; {reason}"
        created = _int(row.get("created"))
        rcpt = row.get("rcpt")
        items.append({
            "id": _int(row.get("id"), row.get("id")),
            "subject": row.get("subject"),
            "sender": row.get("sender"),
            "recipients": [rcpt] if rcpt else [],
            "created": _iso(created),
            "reason": reason,
            "score": score,
            "action": action,
            "virus_flag": virus,
            "qid": row.get("qid"),
            "notified": bool(_int(row.get("notified"), 0)),
        })
    items.sort(key=lambda item: (item["created"] or "", _int(item["id"], 0)), reverse=True)
    return items


# name -> (mailcow endpoint, shaping of its body)
PARTS = {
    "containers": ("status/containers", _shape_containers),
    "storage": ("status/vmail", _shape_storage),
    "version": ("status/version", _shape_version),
    "domains": ("domain/all", _shape_counts),
    "mailboxes": ("mailbox/all", _shape_counts),
    "aliases": ("alias/all", _shape_counts),
    "queue": ("mailq/all", _shape_queue),
    "quarantine": ("quarantine/all", _shape_quarantine),
}
