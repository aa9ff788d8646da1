"""The security page's figures: authentication failures and bans by IP, by username and over
time. A failure is what the dashboard counts (statistics.is_auth_failure), a ban is a
netfilter `banned` line; both within the same filters as the netfilter list."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import reduce
from operator import and_

from peewee import SQL, fn

from ..models import NetfilterLine
from .filters import netfilter_filters
from .results import iso
from .scope import Scope
from .statistics import DAY, HOUR, is_auth_failure

VALUES_SHOWN = 10          # usernames of an IP, IPs of a username: the first few, and how many
HOURLY_UP_TO = 4 * DAY     # a longer range is shown per day


@dataclass
class IpFailures:
    ip: str
    failures: int
    bans: int
    usernames: list[str]
    username_count: int
    last_seen: str
    country_code: str | None = None     # the IP's place (geo.py), so the page needs no second request
    country: str | None = None
    as_name: str | None = None


@dataclass
class UsernameFailures:
    username: str
    failures: int
    ips: list[str]
    ip_count: int
    methods: list[str]
    last_seen: str


@dataclass
class FailureBucket:
    time: str
    failures: int
    bans: int


@dataclass
class AuthFailures:
    failures: int
    bans: int
    distinct_ips: int
    usernames: int
    by_ip: list[IpFailures]
    by_username: list[UsernameFailures]
    unit: str                  # "hour" | "day": the width of a timeline bucket
    timeline: list[FailureBucket]


def _banned():
    return NetfilterLine.action == "banned"


def _where(scope: Scope, args: dict) -> list:
    """The netfilter list's filters (range, ip, username), then failures, bans or both."""
    where = netfilter_filters(scope, {**args, "action": None})
    kind = {"auth_failure": is_auth_failure(), "banned": _banned()}
    where.append(kind[args["action"]] if args.get("action") else (is_auth_failure() | _banned()))
    return where


def _some(values_json: str | None) -> tuple[list[str], int]:
    values = sorted(v for v in json.loads(values_json or "[]") if v)
    return values[:VALUES_SHOWN], len(values)


def _distinct(field):
    """The distinct values as a JSON array: log text may hold any separator."""
    return fn.json_group_array(field.distinct())


def auth_failures(scope: Scope, args: dict, now: int, limit: int, place_of=None) -> AuthFailures:
    """The security page's counts; `place_of(ip)` (a geo.Place) adds each listed IP's country."""
    where = reduce(and_, _where(scope, args))
    failure = fn.SUM(is_auth_failure())
    ban = fn.SUM(_banned())
    failures, bans, ips, users = (NetfilterLine.select(
        fn.COALESCE(failure, 0), fn.COALESCE(ban, 0), fn.COUNT(NetfilterLine.ip.distinct()),
        fn.COUNT(fn.IIF(is_auth_failure(), NetfilterLine.username, None).distinct()))
        .where(where).tuples().get())

    by_ip = []
    for ip, ip_failures, ip_bans, names, last in (
            NetfilterLine.select(NetfilterLine.ip, failure, ban,
                                 _distinct(fn.IIF(is_auth_failure(), NetfilterLine.username, None)),
                                 fn.MAX(NetfilterLine.time))
            .where(where, NetfilterLine.ip.is_null(False)).group_by(NetfilterLine.ip)
            .order_by((failure + ban).desc(), fn.MAX(NetfilterLine.time).desc(), NetfilterLine.ip)
            .limit(limit).tuples()):
        shown, count = _some(names)
        by_ip.append(IpFailures(ip, ip_failures, ip_bans, shown, count, iso(last),
                                *(place_of(ip) if place_of else (None, None, None))))

    by_username = []
    for name, count, ip_list, methods, last in (
            NetfilterLine.select(NetfilterLine.username, fn.COUNT(NetfilterLine.id), _distinct(NetfilterLine.ip),
                                 _distinct(NetfilterLine.auth_method), fn.MAX(NetfilterLine.time))
            .where(where, is_auth_failure(), NetfilterLine.username.is_null(False))
            .group_by(NetfilterLine.username)
            .order_by(fn.COUNT(NetfilterLine.id).desc(), fn.MAX(NetfilterLine.time).desc(), NetfilterLine.username)
            .limit(limit).tuples()):
        shown, ip_count = _some(ip_list)
        by_username.append(UsernameFailures(name, count, shown, ip_count, _some(methods)[0], iso(last)))

    unit, timeline = _timeline(where, args, now)
    return AuthFailures(failures, bans, ips, users, by_ip, by_username, unit, timeline)


def _timeline(where, args: dict, now: int) -> tuple[str, list[FailureBucket]]:
    """Every hour (or day) from the first event in range (or the range's start, if later) to
    the range's end or now. Clamped to the events and now, so a range of centuries is not
    centuries of empty buckets."""
    oldest, newest = NetfilterLine.select(fn.MIN(NetfilterLine.time), fn.MAX(NetfilterLine.time)).where(where).tuples().get()
    if oldest is None:
        return "hour", []
    first = max(oldest, args["start_date"]) if args.get("start_date") is not None else oldest
    last = args["end_date"] if args.get("end_date") is not None else now
    last = max(min(last, max(now, newest)), first)
    step = HOUR if last - first <= HOURLY_UP_TO else DAY
    bucket = (NetfilterLine.time / step).alias("bucket")
    counts = {b: (f, n) for b, f, n in NetfilterLine.select(bucket, fn.SUM(is_auth_failure()), fn.SUM(_banned()))
              .where(where).group_by(SQL("bucket")).tuples()}
    buckets = [FailureBucket(iso(b * step), *counts.get(b, (0, 0))) for b in range(first // step, last // step + 1)]
    return ("hour" if step == HOUR else "day"), buckets
