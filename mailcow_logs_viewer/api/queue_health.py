"""GET /api/queue/health: the live queue's size, oldest message and qshape-style groups."""
from __future__ import annotations

import time
from dataclasses import asdict

from flask import Blueprint, jsonify

from ..queue_health import queue_health
from .params import iso
from . import live_servers

bp = Blueprint("queue_health", __name__)


def current_queue_health():
    """The health of the queue as last read from mailcow (the live read /api/queue uses: cached,
    never waiting long on mailcow; 502 when it gave no answer yet) and that reading."""
    answer = live_servers.read("queue")
    return queue_health(answer.readings[0].value, time.time()), answer


@bp.get("/queue/health")
def health():
    found, answer = current_queue_health()
    body = asdict(found)
    body["buckets"] = list(body["buckets"])
    body["fetched_at"] = iso(answer.readings[0].fetched_at)
    return jsonify(answer.marked(body))
