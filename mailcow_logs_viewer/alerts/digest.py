"""The digest: what happened in a range, as numbers an admin can check against the dashboard.

Every count comes from the function the dashboard and the lists use (hourly_counts for
messages, auth_failure_count, blocked_ip_counts, the destination-health query of the
delivery rules), so the digest for the last 24 hours equals the dashboard's 24-hour figures.
It prints with `python run.py report --since 24h [--html]` and is sent daily at DIGEST_HOUR
(and weekly on Mondays with DIGEST_WEEKLY) by e-mail and the webhook.
"""
from __future__ import annotations

import html
import time
from datetime import datetime

from ..db import database
from ..models import Alert, Gap
from ..queries import auth_failure_count, blocked_ip_counts, hourly_counts
from .delivery import domain_attempts
from .findings import percent

TOP = 10


def _top(sql: str, args) -> list[tuple[str, int]]:
    return [(value, count) for value, count in database.execute_sql(sql, args).fetchall()]


def build_report(since: int, until: int, queue: list | None = None, public_url: str = "") -> dict:
    counts = hourly_counts(since, until)
    statuses = dict(database.execute_sql("SELECT final_status, COUNT(*) FROM message WHERE first_seen >= ? "
                                         "AND first_seen <= ? GROUP BY final_status", (since, until)).fetchall())
    in_range = "first_seen >= ? AND first_seen <= ?"
    destinations = sorted(domain_attempts(since - 1, until).items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP]
    base = public_url.rstrip("/")
    return {
        "since": since, "until": until,
        "messages": {"total": counts["total"], "spam": counts["spam"], "failed_deliveries": counts["bounced"],
                     "rejected": counts["rejected"]},
        "by_status": {s: statuses.get(s, 0)
                      for s in ("delivered", "discarded", "bounced", "deferred", "rejected", "pending")},
        "by_direction": {d: counts[d] for d in ("inbound", "outbound", "internal")},
        "top_senders": _top(f"SELECT sender, COUNT(*) FROM message WHERE {in_range} AND sender IS NOT NULL "
                            f"AND sender != '' GROUP BY sender ORDER BY 2 DESC, 1 LIMIT {TOP}", (since, until)),
        "top_recipients": _top(f"SELECT r.recipient, COUNT(*) FROM recipient r JOIN message m ON m.id = r.message_ref "
                               f"WHERE m.{in_range.replace(' AND ', ' AND m.')} GROUP BY r.recipient "
                               f"ORDER BY 2 DESC, 1 LIMIT {TOP}", (since, until)),
        "top_reasons": {
            status: _top(f"SELECT substr(r.reply, 1, 160), COUNT(*) FROM recipient r JOIN message m "
                         f"ON m.id = r.message_ref WHERE r.status = ? AND m.{in_range.replace(' AND ', ' AND m.')} "
                         f"AND r.reply IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP}", (status, since, until))
            for status in ("bounced", "deferred")},
        "top_reject_reasons": _top(f"SELECT substr(reject_reason, 1, 160), COUNT(*) FROM message WHERE {in_range} "
                                   f"AND final_status = 'rejected' AND reject_reason IS NOT NULL GROUP BY 1 "
                                   f"ORDER BY 2 DESC, 1 LIMIT {TOP}", (since, until)),
        "destinations": [{"domain": d, "attempts": a, "bounced": b, "deferred": f,
                          "bounce_rate": round(percent(b, a), 1), "defer_rate": round(percent(f, a), 1)}
                         for d, (a, b, f) in destinations],
        "blocked_ips": [{"ip": ip, "count": n, "bans": bans or 0} for ip, n, _, bans in blocked_ip_counts(since, TOP, until)],
        "auth_failures": auth_failure_count(since, until),
        "queue": None if queue is None else {"total": len(queue), "deferred": sum(1 for q in queue if q.get("queue_name") == "deferred")},
        "gaps": [{"source": g.source, "estimated_missed": g.estimated_missed, "detected_at": g.detected_at}
                 for g in Gap.select().where(Gap.detected_at >= since, Gap.detected_at <= until).order_by(Gap.detected_at)],
        "open_alerts": [{"title": a.title, "rule": a.rule, "opened_at": a.opened_at}
                        for a in Alert.select().where(Alert.state == "open").order_by(Alert.opened_at)],
        "links": {"dashboard": f"{base}/", "bounced": f"{base}/messages?status=bounced", "alerts": f"{base}/alerts"}
        if base else {},
    }


def _when(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _sections(report: dict) -> list[tuple[str, list[str]]]:
    """(heading, lines) in the order both renderings use."""
    m = report["messages"]
    sections = [
        ("Messages", [f"total {m['total']}, spam {m['spam']}, failed deliveries {m['failed_deliveries']}, "
                      f"rejected {m['rejected']}",
                      "by status: " + ", ".join(f"{k} {v}" for k, v in report["by_status"].items()),
                      "by direction: " + ", ".join(f"{k} {v}" for k, v in report["by_direction"].items())]),
        ("Top senders", [f"{n:>6}  {v}" for v, n in report["top_senders"]]),
        ("Top recipients", [f"{n:>6}  {v}" for v, n in report["top_recipients"]]),
        ("Top bounce reasons", [f"{n:>6}  {v}" for v, n in report["top_reasons"]["bounced"]]),
        ("Top deferral reasons", [f"{n:>6}  {v}" for v, n in report["top_reasons"]["deferred"]]),
        ("Top reject reasons", [f"{n:>6}  {v}" for v, n in report["top_reject_reasons"]]),
        ("Destination health", [f"{d['domain']}: {d['attempts']} attempts, {d['bounce_rate']}% bounced, "
                                f"{d['defer_rate']}% deferred" for d in report["destinations"]]),
        ("Top blocked IPs", [f"{b['count']:>6}  {b['ip']} ({b['bans']} bans)" for b in report["blocked_ips"]]),
        ("Auth failures", [str(report["auth_failures"])]),
        ("Queue", ["not read" if report["queue"] is None else
                   f"{report['queue']['total']} queued, {report['queue']['deferred']} deferred"]),
        ("Gaps", [f"{_when(g['detected_at'])}: {g['source']}, about {g['estimated_missed']} lines lost"
                  for g in report["gaps"]]),
        ("Open alerts", [f"{a['title']} (since {_when(a['opened_at'])})" for a in report["open_alerts"]]),
    ]
    if report["links"]:
        sections.append(("Links", [f"{k}: {v}" for k, v in report["links"].items()]))
    return sections


def title(report: dict) -> str:
    return f"Mail digest {_when(report['since'])} to {_when(report['until'])}"


def render_text(report: dict) -> str:
    out = [title(report), ""]
    for heading, lines in _sections(report):
        out.append(heading)
        out.extend(f"  {line}" for line in (lines or ["none"]))
        out.append("")
    return "\n".join(out)


def render_html(report: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{e(title(report))}</title></head><body>",
             f"<h1>{e(title(report))}</h1>"]
    for heading, lines in _sections(report):
        parts.append(f"<h2>{e(heading)}</h2><ul>")
        for line in lines or ["none"]:
            if heading == "Links":
                name, _, url = line.partition(": ")
                parts.append(f'<li><a href="{e(url, quote=True)}">{e(name)}</a></li>')
            else:
                parts.append(f"<li>{e(line.strip())}</li>")
        parts.append("</ul>")
    return "".join(parts) + "</body></html>"


def digest_note(report: dict) -> dict:
    return {"event": "digest", "title": title(report), "text": render_text(report), "html": render_html(report),
            "report": report, "severity": "warning"}


def send_digest(runtime, now: float | None = None) -> dict:
    """The daily job (weekly too on Mondays with DIGEST_WEEKLY): queue digests for e-mail and the webhook."""
    from .engine import read_live

    now = int(time.time() if now is None else now)
    alerts = runtime.settings.alerts
    queue = read_live(runtime.client).queue
    spans = [86400]
    if alerts.digest_weekly and datetime.fromtimestamp(now, runtime.settings.tzinfo).weekday() == 0:
        spans.append(7 * 86400)
    notes = [(None, "digest", digest_note(build_report(now - span, now, queue, alerts.public_url))) for span in spans]
    return {"queued": runtime.alerts.enqueue(notes, digest=True)}
