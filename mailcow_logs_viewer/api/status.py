"""GET /api/queue, /api/quarantine and /api/status/...: mailcow's live state, read through the API.

The reads, their cache and the shaping of mailcow's objects live in mailcow_live.py: a request
waits on mailcow for at most a couple of seconds and otherwise gets the last answer, marked
`"stale": true`, or a 502 with a one-line reason (never a 500, never a traceback, never the
API key). The release checks are read from runtime.version_checks, filled by the daily
background job (versions.py): a request never waits for GitHub.
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from .. import __version__
from ..auth import current_account, current_scope
from ..queries.servers import server_states
from ..mailcow_live import container_summary
from ..versions import is_newer
from . import live_servers
from .serialize import answer
from .params import QuerySchema, Text, iso, parse_args

bp = Blueprint("status", __name__)


class SearchSchema(QuerySchema):
    search = Text(load_default=None)


def _runtime():
    return current_app.extensions["runtime"]


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

def _listing(part: str, fields: tuple[str, ...], only=lambda items: items):
    args = parse_args(SearchSchema())
    answer = live_servers.read(part)
    reading, = answer.readings
    items = _search(only(reading.value), args["search"], fields)
    return jsonify(answer.marked({"total": len(items), "data": items, "fetched_at": iso(reading.fetched_at)}))


@bp.get("/queue")
def queue():
    return _listing("queue", ("sender", "recipients", "queue_id"))


@bp.get("/quarantine")
def quarantine():
    return _listing("quarantine", ("sender", "recipients", "qid", "subject"), current_scope().held_for_us)


# ------------------------------------------------------------------ status

@bp.get("/servers")
def servers():
    """Each mailcow server's reachability and fetch state (the Status page's Servers card)."""
    settings = current_app.config["SETTINGS"]
    reach = {name: server.state.as_dict() for name, server in _runtime().servers.items()}
    return answer({"servers": server_states(current_account(), settings.servers, reach, int(time.time()))})


@bp.get("/status/containers")
def containers():
    answer = live_servers.read("containers")
    reading, = answer.readings
    return jsonify(answer.marked({"containers": reading.value, "summary": container_summary(reading.value)}))


@bp.get("/status/storage")
def storage():
    answer = live_servers.read("storage")
    reading, = answer.readings
    body = dict(reading.value)
    if len(answer.by_server) > 1:
        body["servers"] = answer.by_server
    return jsonify(answer.marked(body))


@bp.get("/status/mailcow-info")
def mailcow_info():
    answer = live_servers.read("domains", "mailboxes", "aliases")
    domains, mailboxes, aliases = (reading.value for reading in answer.readings)
    return jsonify(answer.marked({"domains": domains, "mailboxes": mailboxes, "aliases": aliases}))


@bp.get("/status/summary")
def summary():
    # The five parts are asked for together, so a slow mailcow costs one wait, not five.
    answer = live_servers.read("containers", "storage", "domains", "mailboxes", "aliases")
    found, disk, domains, mailboxes, aliases = (reading.value for reading in answer.readings)
    return jsonify(answer.marked({
        "containers": container_summary(found),
        "storage": {"used_percent": disk["used_percent"], "used": disk["used"], "total": disk["total"]},
        "system": {"domains": domains["total"], "mailboxes": mailboxes["total"], "aliases": aliases["total"]},
    }))


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
    answer = live_servers.read("version")
    reading, = answer.readings
    body = _release_answer(reading.value, "mailcow")
    if len(answer.by_server) > 1:
        body["servers"] = {name: {"current_version": version, "update_available": is_newer(body["latest_version"], version)
                                  if body["latest_version"] and not body["error"] else False}
                           for name, version in answer.by_server.items()}
    return jsonify(answer.marked(body))


@bp.get("/status/app-version")
def app_version():
    return jsonify(_release_answer(__version__, "app"))
