"""GET /api/queue/health: the live queue's size, oldest message and qshape-style groups."""
from __future__ import annotations

import time
from dataclasses import asdict

from flask import Blueprint, jsonify

from ..queue_health import queue_health
from .params import iso
from .status import _marked, _read

bp = Blueprint("queue_health", __name__)


def current_queue_health():
    """The health of the queue as last read from mailcow (the live read /api/queue uses: cached,
    never waiting long on mailcow; 502 when it gave no answer yet) and that reading."""
    reading, = _read("queue")
    return queue_health(reading.value, time.time()), reading


@bp.get("/queue/health")
def health():
    found, reading = current_queue_health()
    body = asdict(found)
    body["buckets"] = list(body["buckets"])
    body["fetched_at"] = iso(reading.fetched_at)
    return jsonify(_marked(body, reading))
