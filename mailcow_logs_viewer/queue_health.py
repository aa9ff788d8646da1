"""Is the queue stuck? Age, the oldest message, and Postfix's `qshape` view of mailcow's queue.

Pure: the queue items as /api/queue shapes them (api/status.py, read live from mailcow and
cached) and the time now in, a QueueHealth out. Ages are bucketed like `qshape`: minutes
0-5, 5-10, 10-20, ... doubling, so a stuck destination shows as a row whose counts sit in
the right-hand columns. A message counts once per destination domain it still waits for,
and once per normalised reason (reasons.reason_key of mailq's delay reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .reasons import reason_key

# Upper bounds of the age buckets in minutes (qshape's defaults); the last bucket is open.
BUCKET_MINUTES = (5, 10, 20, 40, 80, 160, 320, 640, 1280)
BUCKET_LABELS = tuple(f"{low}-{high} min" for low, high in zip((0, *BUCKET_MINUTES), BUCKET_MINUTES)) + (
    f"{BUCKET_MINUTES[-1]}+ min",)
MAX_GROUPS = 50


@dataclass
class QueueGroup:
    key: str
    messages: int = 0
    oldest_age_seconds: int | None = None
    ages: list = field(default_factory=lambda: [0] * len(BUCKET_LABELS))
    example: str | None = None


@dataclass
class QueueHealth:
    size: int
    oldest_age_seconds: int | None
    oldest_queue_id: str | None
    buckets: tuple = BUCKET_LABELS
    ages: list = field(default_factory=lambda: [0] * len(BUCKET_LABELS))
    by_domain: list = field(default_factory=list)
    by_reason: list = field(default_factory=list)


def bucket_of(age_seconds: int) -> int:
    minutes = age_seconds / 60
    return next((i for i, high in enumerate(BUCKET_MINUTES) if minutes < high), len(BUCKET_MINUTES))


def _add(groups: dict, key: str, age: int | None, example: str | None = None) -> None:
    group = groups.setdefault(key, QueueGroup(key, example=example))
    group.messages += 1
    if age is not None:
        group.ages[bucket_of(age)] += 1
        group.oldest_age_seconds = max(group.oldest_age_seconds or 0, age)


def _ordered(groups: dict) -> list:
    return sorted(groups.values(), key=lambda g: (-g.messages, -(g.oldest_age_seconds or 0), g.key))[:MAX_GROUPS]


def queue_health(items: list[dict], now: float) -> QueueHealth:
    ages = [(max(0, int(now - item["arrival_time"])) if item.get("arrival_time") else None, item) for item in items]
    known = [(age, item) for age, item in ages if age is not None]
    oldest = max(known, key=lambda pair: pair[0], default=(None, {}))
    health = QueueHealth(size=len(items), oldest_age_seconds=oldest[0], oldest_queue_id=oldest[1].get("queue_id"))
    domains: dict[str, QueueGroup] = {}
    reasons: dict[str, QueueGroup] = {}
    for age, item in ages:
        if age is not None:
            health.ages[bucket_of(age)] += 1
        recipients = item.get("recipients_parsed") or []
        for domain in sorted({r["address"].rsplit("@", 1)[-1].lower() for r in recipients if "@" in r["address"]}):
            _add(domains, domain, age)
        said: dict[str, str | None] = {}
        for recipient in recipients:
            said.setdefault(reason_key(None, recipient["reason"]) or "(no reason given)", recipient["reason"])
        for key, example in (said or {"(no recipients listed)": None}).items():
            _add(reasons, key, age, example)
    health.by_domain = _ordered(domains)
    health.by_reason = _ordered(reasons)
    return health
