"""GET /api/stats/...: dashboard counters, timeline, top spam symbols, top blocked IPs, activity.

Definitions (also in the README, so numbers can be checked by hand):
- messages: messages by their own first time, in rolling windows ending now;
- spam: messages Rspamd judged spam (reject, add header, rewrite subject);
- failed deliveries: messages whose status is bounced (a bounce or an expiry); rejected ones
  are counted apart under `rejected`;
- discarded: messages with a recipient a Sieve rule discarded (the mailbox stage), apart
  from deliveries;
- auth failures: netfilter `matched rule id` lines whose trigger is a failed login (SASL,
  Dovecot, mailcow UI/API, SOGo), each attempt once.
"""
from __future__ import annotations

import time

from flask import Blueprint, jsonify
from marshmallow import fields, validate
from peewee import fn

from ..db import database
from ..models import Message, NetfilterLine
from ..queries import hourly_counts
from .messages import message_summary
from .params import QuerySchema, iso, parse_args

bp = Blueprint("stats", __name__)

HOUR, DAY = 3600, 86400


class TimelineSchema(QuerySchema):
    hours = fields.Integer(load_default=24, validate=validate.Range(min=1, max=720))


class LimitSchema(QuerySchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    hours = fields.Integer(load_default=168, validate=validate.Range(min=1, max=24 * 365))


class ActivitySchema(QuerySchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


@bp.get("/stats/dashboard")
def dashboard():
    now = int(time.time())
    day, week, month = (hourly_counts(now - days * DAY) for days in (1, 7, 30))

    def auth_failures(since: int) -> int:
        return NetfilterLine.select(NetfilterLine.id).where(NetfilterLine.auth_failure == True,  # noqa: E712
                                                            NetfilterLine.time >= since).count()

    def discarded(since: int) -> int:
        # From the partial index of discarded recipients: few rows, whatever the traffic.
        return database.execute_sql(
            "SELECT COUNT(DISTINCT recipient.message_ref) FROM recipient JOIN message ON message.id = "
            "recipient.message_ref WHERE recipient.status = 'discarded' AND message.first_seen >= ?",
            (since,)).fetchone()[0]

    return jsonify({
        "messages": {"24h": day["total"], "7d": week["total"], "30d": month["total"]},
        "discarded": {"24h": discarded(now - DAY), "7d": discarded(now - 7 * DAY)},
        "spam": {"24h": day["spam"], "7d": week["spam"],
                 "percentage_24h": round(100.0 * day["spam"] / day["total"], 2) if day["total"] else 0.0},
        "failed_deliveries": {"24h": day["bounced"], "7d": week["bounced"]},
        "rejected": {"24h": day["rejected"], "7d": week["rejected"]},
        "auth_failures": {"24h": auth_failures(now - DAY), "7d": auth_failures(now - 7 * DAY)},
        "direction": {"inbound_24h": day["inbound"], "outbound_24h": day["outbound"],
                      "internal_24h": day["internal"]},
    })


@bp.get("/stats/timeline")
def timeline():
    hours = parse_args(TimelineSchema())["hours"]
    last = int(time.time()) // HOUR
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
    since = int(time.time()) - args["hours"] * HOUR
    # Symbols that pushed spam towards its verdict (positive score), counted once per row.
    rows = database.execute_sql(
        "SELECT symbol.key, COUNT(*) AS n, ROUND(AVG(json_extract(symbol.value, '$.score')), 2) "
        "FROM rspamd_row, json_each(rspamd_row.symbols) AS symbol "
        "WHERE rspamd_row.is_spam = 1 AND rspamd_row.time >= ? AND json_extract(symbol.value, '$.score') > 0 "
        "GROUP BY symbol.key ORDER BY n DESC, symbol.key LIMIT ?", (since, args["limit"])).fetchall()
    return jsonify({"triggers": [{"symbol": s, "count": n, "average_score": avg} for s, n, avg in rows]})


@bp.get("/stats/top-blocked-ips")
def top_blocked_ips():
    args = parse_args(LimitSchema())
    since = int(time.time()) - args["hours"] * HOUR
    rows = (NetfilterLine.select(NetfilterLine.ip, fn.COUNT(NetfilterLine.id).alias("count"),
                                 fn.MAX(NetfilterLine.time).alias("last_seen"),
                                 fn.SUM(NetfilterLine.action == "banned").alias("bans"))
            .where(NetfilterLine.time >= since, NetfilterLine.ip.is_null(False),
                   (NetfilterLine.rule_id.is_null(False)) | (NetfilterLine.action == "banned"))
            .group_by(NetfilterLine.ip).order_by(fn.COUNT(NetfilterLine.id).desc(), NetfilterLine.ip)
            .limit(args["limit"]).tuples())
    return jsonify({"blocked_ips": [{"ip": ip, "count": count, "last_seen": iso(last), "bans": bans or 0}
                                    for ip, count, last, bans in rows]})


@bp.get("/stats/recent-activity")
def recent_activity():
    limit = parse_args(ActivitySchema())["limit"]
    rows = Message.select().order_by(Message.first_seen.desc(), Message.id.desc()).limit(limit)
    activity = []
    for message in rows:
        summary = message_summary(message)
        activity.append({"time": summary["first_seen"], "sender": summary["sender"],
                         "recipient": summary["recipient"], "subject": summary["subject"],
                         "direction": summary["direction"], "status": summary["final_status"],
                         "is_spam": summary["is_spam"], "correlation_key": summary["correlation_key"]})
    return jsonify({"activity": activity})
