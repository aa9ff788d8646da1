"""GET /api/queue, /api/quarantine and /api/status/...: mailcow's live state, read through the API.

Every answer from mailcow is cached for STATUS_CACHE_SECONDS (runtime.cache), per mailcow
endpoint, so a dashboard refreshing every few seconds costs mailcow one call per endpoint and
period (a failure is remembered for a few seconds). When mailcow cannot be read the answer is 502 with a one-line reason: never a 500,
never a traceback, never the API key. The release checks are read from
runtime.version_checks, filled by the daily background job (versions.py): a request never
waits for GitHub.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify

from .. import __version__
from ..errors import ApiError
from ..mailcow import MailcowBadResponse, MailcowError, as_collection
from ..versions import is_newer
from .params import QuerySchema, Text, iso, parse_args

bp = Blueprint("status", __name__)

CACHE_PREFIX = "status:"


class SearchSchema(QuerySchema):
    search = Text(load_default=None)


# ------------------------------------------------------------------ reading mailcow, cached

def _runtime():
    return current_app.extensions["runtime"]


def _mailcow_failed(error: Exception) -> ApiError:
    reason = error.reason if isinstance(error, MailcowError) else str(error)
    key = current_app.config["SETTINGS"].mailcow_api_key
    if key:
        reason = reason.replace(key, "***")
    return ApiError(502, f"mailcow could not be reached: {reason}")


ERROR_TTL = 5   # seconds a failure is remembered (at most STATUS_CACHE_SECONDS)


def _fetch(endpoint: str, shape):
    """mailcow's /api/v1/get/<endpoint>, shaped by `shape(endpoint, raw)`, cached per endpoint.

    One request per endpoint asks mailcow at a time; concurrent requests wait for its answer
    instead of asking too. A failure is remembered for a few seconds, so a dashboard polling a
    broken mailcow does not hammer it (a 401 even counts toward a netfilter ban of this host);
    then the next request tries again. `shape` raises MailcowBadResponse for a body it cannot
    use (e.g. `null`).
    """
    runtime = _runtime()
    ttl = current_app.config["SETTINGS"].status_cache_seconds
    if ttl <= 0:
        return _ask(runtime, endpoint, shape)
    key = CACHE_PREFIX + endpoint
    with runtime.cache_lock:
        hit = runtime.cache.get(key)
        if hit is None or hit[0] <= time.monotonic():
            hit = None
            lock = runtime.cache.setdefault(CACHE_PREFIX + "lock:" + endpoint, threading.Lock())
    if hit is None:
        with lock:
            with runtime.cache_lock:
                hit = runtime.cache.get(key)
            if hit is None or hit[0] <= time.monotonic():
                try:
                    value = _ask(runtime, endpoint, shape)
                    hit = (time.monotonic() + ttl, value, time.time())
                except ApiError as error:
                    hit = (time.monotonic() + min(ttl, ERROR_TTL), error, time.time())
                with runtime.cache_lock:
                    runtime.cache[key] = hit
    if isinstance(hit[1], ApiError):
        raise ApiError(hit[1].status, hit[1].detail)
    return hit[1]


def _ask(runtime, endpoint: str, shape):
    try:
        value = shape(endpoint, runtime.client.get(endpoint))
    except MailcowError as error:
        runtime.note_mailcow(error)
        raise _mailcow_failed(error) from None
    runtime.note_mailcow(None)
    return value


def _fetched_at(endpoint: str) -> str | None:
    """When the (possibly cached) answer for `endpoint` was read from mailcow."""
    runtime = _runtime()
    with runtime.cache_lock:
        hit = runtime.cache.get(CACHE_PREFIX + endpoint)
    return iso(hit[2]) if hit is not None else iso(time.time())


def _as_object(endpoint: str, data) -> dict:
    if not isinstance(data, dict):
        what = "null" if data is None else type(data).__name__
        raise MailcowBadResponse(endpoint, f"expected an object, got {what} (mailcow's dockerapi may be down)")
    return data


_as_list = as_collection     # one reading of a collection, shared with the ingest side


# ------------------------------------------------------------------ shaping

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
    rows = _as_list(endpoint, data)
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
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def _shape_queue(endpoint: str, data) -> list:
    items = []
    for row in _as_list(endpoint, data):
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
            "arrival": iso(arrival),
        })
    items.sort(key=lambda item: (item["arrival_time"] or 0, str(item["queue_id"] or "")), reverse=True)
    return items


def _score_text(score) -> str:
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return f"{score:.2f}".rstrip("0").rstrip(".")
    return str(score)


def _shape_quarantine(endpoint: str, data) -> list:
    items = []
    for row in _as_list(endpoint, data):
        score = row.get("score")
        try:
            score = float(score) if score is not None else None
        except (TypeError, ValueError):
            score = None
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
            "created": iso(created),
            "reason": reason,
            "score": score,
            "action": action,
            "virus_flag": virus,
            "qid": row.get("qid"),
            "notified": bool(_int(row.get("notified"), 0)),
        })
    items.sort(key=lambda item: (item["created"] or "", _int(item["id"], 0)), reverse=True)
    return items


def _search(items: list, needle: str | None, fields: tuple[str, ...]) -> list:
    if not needle or not needle.strip():
        return items
    needle = needle.strip().casefold()

    def haystack(item):
        for name in fields:
            value = item.get(name)
            for part in (value if isinstance(value, list) else [value]):
                if part is not None and needle in str(part).casefold():
                    return True
        return False
    return [item for item in items if haystack(item)]


# ------------------------------------------------------------------ queue & quarantine

@bp.get("/queue")
def queue():
    args = parse_args(SearchSchema())
    items = _search(_fetch("mailq/all", _shape_queue), args["search"], ("sender", "recipients", "queue_id"))
    return jsonify({"total": len(items), "data": items, "fetched_at": _fetched_at("mailq/all")})


@bp.get("/quarantine")
def quarantine():
    args = parse_args(SearchSchema())
    items = _search(_fetch("quarantine/all", _shape_quarantine), args["search"],
                    ("sender", "recipients", "qid", "subject"))
    return jsonify({"total": len(items), "data": items, "fetched_at": _fetched_at("quarantine/all")})


# ------------------------------------------------------------------ status

@bp.get("/status/containers")
def containers():
    found = _fetch("status/containers", _shape_containers)
    return jsonify({"containers": found, "summary": container_summary(found)})


@bp.get("/status/storage")
def storage():
    return jsonify(_fetch("status/vmail", _shape_storage))


def _mailcow_info() -> dict:
    return {
        "domains": _fetch("domain/all", _shape_counts),
        "mailboxes": _fetch("mailbox/all", _shape_counts),
        "aliases": _fetch("alias/all", _shape_counts),
    }


@bp.get("/status/mailcow-info")
def mailcow_info():
    return jsonify(_mailcow_info())


@bp.get("/status/summary")
def summary():
    found = _fetch("status/containers", _shape_containers)
    disk = _fetch("status/vmail", _shape_storage)
    info = _mailcow_info()
    return jsonify({
        "containers": container_summary(found),
        "storage": {"used_percent": disk["used_percent"], "used": disk["used"], "total": disk["total"]},
        "system": {"domains": info["domains"]["total"], "mailboxes": info["mailboxes"]["total"],
                   "aliases": info["aliases"]["total"]},
    })


def _release_answer(current: str, key: str) -> dict:
    check = _runtime().version_checks.get(key)
    if not check:
        return {"current_version": current, "latest_version": None, "update_available": False, "changelog": None,
                "last_checked": None, "published_at": None, "release_url": None, "error": None}
    latest = check.get("latest_version")
    failed = check.get("error")
    return {
        "current_version": current,
        "latest_version": latest,
        "update_available": False if failed else is_newer(latest, current),
        "changelog": check.get("changelog"),
        "last_checked": iso(check.get("last_checked")),
        "published_at": check.get("published_at"),
        "release_url": check.get("release_url"),
        "error": failed,
    }


@bp.get("/status/version")
def mailcow_version():
    return jsonify(_release_answer(_fetch("status/version", _shape_version), "mailcow"))


@bp.get("/status/app-version")
def app_version():
    return jsonify(_release_answer(__version__, "app"))
