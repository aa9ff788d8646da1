"""GET /api/stats/...: dashboard counters, timeline, top spam symbols, top blocked IPs, activity.

Definitions (also in the README, so numbers can be checked by hand):
- messages: messages by their own first time, in rolling windows ending now, or at `end`
  (every stats endpoint takes it: imported history can be looked at where it lies);
- spam: messages Rspamd judged spam (reject, add header, rewrite subject);
- failed deliveries: messages whose status is bounced (a bounce or an expiry); rejected ones
  are counted apart under `rejected`, split into permanent (a 5xx for some recipient) and
  temporary (4xx only: greylisting never retried, a lone 4xx NOQUEUE refusal);
- discarded: messages with a recipient a Sieve rule discarded (the mailbox stage), apart
  from deliveries;
- auth failures: netfilter `matched rule id` lines whose trigger is a failed login (SASL,
  Dovecot, mailcow UI/API, SOGo), each attempt once.
"""
from __future__ import annotations

import time

from flask import Blueprint, jsonify
from marshmallow import validate

from ..db import database
from ..errors import ApiError
from ..models import Message
from ..queries import auth_failure_count, blocked_ip_counts, hourly_counts
from .messages import message_summary
from .params import Integer, QuerySchema, Timestamp, iso, parse_args

bp = Blueprint("stats", __name__)

HOUR, DAY = 3600, 86400


class EndSchema(QuerySchema):
    # The windows end here instead of now (ISO 8601 or epoch seconds).
    end = Timestamp()


class TimelineSchema(EndSchema):
    hours = Integer(load_default=24, validate=validate.Range(min=1, max=720))


class LimitSchema(EndSchema):
    limit = Integer(load_default=10, validate=validate.Range(min=1, max=100))
    hours = Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365))


class ActivitySchema(EndSchema):
    limit = Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _end(args: dict) -> int:
    """The end of the windows: `end`, never later than now; epoch times only (from 1970 on)."""
    end = args.get("end", int(time.time()))
    if end < 30 * DAY:
        raise ApiError(400, "end: must be after 1970-01-31")
    return min(end, int(time.time()))


def _rejected(start: int, end: int) -> tuple[int, int]:
    """(permanent, temporary) refusals among the rejected messages first seen in the window."""
    permanent, total = database.execute_sql(
        "SELECT COALESCE(SUM(EXISTS (SELECT 1 FROM recipient r WHERE r.message_ref = m.id AND r.dsn LIKE '5%')), 0), "
        "COUNT(*) FROM message m WHERE m.final_status = 'rejected' AND m.first_seen BETWEEN ? AND ?",
        (start, end)).fetchone()
    return permanent, total - permanent


@bp.get("/stats/dashboard")
def dashboard():
    now = _end(parse_args(EndSchema()))
    day, week, month = (hourly_counts(now - days * DAY, now) for days in (1, 7, 30))
    permanent_day, temporary_day = _rejected(now - DAY, now)
    permanent_week, temporary_week = _rejected(now - 7 * DAY, now)
    first, last = database.execute_sql("SELECT MIN(first_seen), MAX(first_seen) FROM message").fetchone()

    def discarded(since: int) -> int:
        # From the partial index of discarded recipients: few rows, whatever the traffic.
        return database.execute_sql(
            "SELECT COUNT(DISTINCT recipient.message_ref) FROM recipient JOIN message ON message.id = "
            "recipient.message_ref WHERE recipient.status = 'discarded' AND message.first_seen BETWEEN ? AND ?",
            (since, now)).fetchone()[0]

    return jsonify({
        "messages": {"24h": day["total"], "7d": week["total"], "30d": month["total"]},
        "discarded": {"24h": discarded(now - DAY), "7d": discarded(now - 7 * DAY)},
        "spam": {"24h": day["spam"], "7d": week["spam"],
                 "percentage_24h": round(100.0 * day["spam"] / day["total"], 2) if day["total"] else 0.0},
        "failed_deliveries": {"24h": day["bounced"], "7d": week["bounced"]},
        "rejected": {"24h": day["rejected"], "7d": week["rejected"], "permanent_24h": permanent_day,
                     "temporary_24h": temporary_day, "permanent_7d": permanent_week, "temporary_7d": temporary_week},
        "auth_failures": {"24h": auth_failure_count(now - DAY, now), "7d": auth_failure_count(now - 7 * DAY, now)},
        "direction": {"inbound_24h": day["inbound"], "outbound_24h": day["outbound"],
                      "internal_24h": day["internal"]},
        "window_end": iso(now),
        "data_range": {"first": iso(first), "last": iso(last)},
    })


@bp.get("/stats/timeline")
def timeline():
    args = parse_args(TimelineSchema())
    hours = args["hours"]
    last = _end(args) // HOUR
    first = last - hours + 1
    rows = database.execute_sql("SELECT hour, total, spam, bounced, rejected FROM message_hour "
                                "WHERE hour BETWEEN ? AND ?", (first, last)).fetchall()
    by_hour = {hour: counts for hour, *counts in rows}
    buckets = []
    for hour in range(first, last + 1):
        total, spam, failed, rejected = by_hour.get(hour, (0, 0, 0, 0))
        buckets.append({"hour": iso(hour * HOUR), "total": total, "spam": spam, "clean": total - spam,
                        "failed": failed, "rejected": rejected})
    return jsonify({"timeline": buckets})


@bp.get("/stats/top-spam-triggers")
def top_spam_triggers():
    args = parse_args(LimitSchema())
    end = _end(args)
    since = end - args["hours"] * HOUR
    # Symbols that pushed spam towards its verdict (positive score), counted once per row.
    rows = database.execute_sql(
        "SELECT symbol.key, COUNT(*) AS n, ROUND(AVG(json_extract(symbol.value, '$.score')), 2) "
        "FROM rspamd_row, json_each(rspamd_row.symbols) AS symbol "
        "WHERE rspamd_row.is_spam = 1 AND rspamd_row.time BETWEEN ? AND ? AND json_extract(symbol.value, '$.score') > 0 "
        "GROUP BY symbol.key ORDER BY n DESC, symbol.key LIMIT ?", (since, end, args["limit"])).fetchall()
    return jsonify({"triggers": [{"symbol": s, "count": n, "average_score": avg} for s, n, avg in rows]})


@bp.get("/stats/top-blocked-ips")
def top_blocked_ips():
    args = parse_args(LimitSchema())
    end = _end(args)
    since = end - args["hours"] * HOUR
    rows = blocked_ip_counts(since, args["limit"], end)
    return jsonify({"blocked_ips": [{"ip": ip, "count": count, "last_seen": iso(last), "bans": bans or 0}
                                    for ip, count, last, bans in rows]})


@bp.get("/stats/recent-activity")
def recent_activity():
    args = parse_args(ActivitySchema())
    rows = (Message.select().where(Message.first_seen <= _end(args))
            .order_by(Message.first_seen.desc(), Message.id.desc()).limit(args["limit"]))
    activity = []
    for message in rows:
        summary = message_summary(message)
        activity.append({"time": summary["first_seen"], "sender": summary["sender"],
                         "recipient": summary["recipient"], "subject": summary["subject"],
                         "direction": summary["direction"], "status": summary["final_status"],
                         "is_spam": summary["is_spam"], "correlation_key": summary["correlation_key"]})
    return jsonify({"activity": activity})
