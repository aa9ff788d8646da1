"""GET /api/queue/health: the live queue's size, oldest message and qshape-style groups."""
from __future__ import annotations

import time
from dataclasses import asdict

from flask import Blueprint, jsonify

from ..queue_health import queue_health
from .status import _fetch, _fetched_at, _shape_queue

bp = Blueprint("queue_health", __name__)


def current_queue_health():
    """The health of the queue as last read from mailcow (cached like /api/queue; 502 when unreadable)."""
    return queue_health(_fetch("mailq/all", _shape_queue), time.time())


@bp.get("/queue/health")
def health():
    body = asdict(current_queue_health())
    body["buckets"] = list(body["buckets"])
    body["fetched_at"] = _fetched_at("mailq/all")
    return jsonify(body)
