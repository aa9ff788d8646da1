"""Delivery-health rules: bounce and deferral rates per destination domain, replies saying
that our IP or domain is blocklisted, and a stuck queue (mailcow's live queue)."""
from __future__ import annotations

import re

from ..db import database
from .findings import Finding, RuleContext, message_keys_of_queue_ids, percent, ui_link, window_start

# Remote delivery attempts only: postfix/smtp talks to other servers, postfix/lmtp to our mailboxes.
_ATTEMPTS_SQL = (
    "SELECT lower(substr(recipient, instr(recipient, '@') + 1)) AS domain, COUNT(*), "
    "SUM(status = 'bounced'), SUM(status = 'deferred') FROM postfix_line "
    "WHERE status IN ('sent', 'bounced', 'deferred') AND time > ? AND time <= ? AND program = 'postfix/smtp' "
    "AND recipient LIKE '%@%' GROUP BY domain")


def domain_attempts(since: int, until: int) -> dict[str, tuple[int, int, int]]:
    """Delivery attempts per destination domain: the digest's destination health uses it too."""
    return {domain: (total, bounced or 0, deferred or 0)
            for domain, total, bounced, deferred in database.execute_sql(_ATTEMPTS_SQL, (since, until)).fetchall()}


def _queue_ids(domain: str, status: str, since: int, until: int) -> list[str]:
    rows = database.execute_sql(
        "SELECT DISTINCT queue_id FROM postfix_line WHERE status = ? AND time > ? AND time <= ? "
        "AND program = 'postfix/smtp' AND lower(recipient) LIKE ? AND queue_id IS NOT NULL LIMIT 20",
        (status, since, until, f"%@{domain}")).fetchall()
    return [row[0] for row in rows]


def _rate_rule(rule: str, status: str, column: int, ctx: RuleContext, params) -> list[Finding]:
    since = window_start(ctx, params["window"])
    found = []
    for domain, counts in sorted(domain_attempts(since, ctx.now).items()):
        attempts, hits = counts[0], counts[column]
        rate = percent(hits, attempts)
        if hits < params["min"] or rate < params["rate"]:
            continue
        found.append(Finding(
            key=f"{rule}:{domain}", rule=rule, severity="critical" if status == "bounced" else "warning",
            title=f"{rate:.0f}% of deliveries to {domain} {status}",
            detail=f"{hits} of {attempts} delivery attempts to {domain} {status} in the last "
                   f"{params['window']:g} minutes (alert at {params['rate']:g}% and at least {params['min']:g})",
            count=hits, link=ui_link("/messages", search=f"to:@{domain} status:{status}"),
            message_keys=message_keys_of_queue_ids(_queue_ids(domain, status, since, ctx.now))))
    return found


def domain_bounce(ctx: RuleContext, params) -> list[Finding]:
    return _rate_rule("domain_bounce", "bounced", 1, ctx, params)


def domain_defer(ctx: RuleContext, params) -> list[Finding]:
    return _rate_rule("domain_defer", "deferred", 2, ctx, params)


# What a remote server says when it refuses us for our reputation. "not listed" (Lotus Domino's
# "User not listed in Domino Directory") is an unknown user, not a listing.
_LISTING = re.compile(r"blocked using|(?<!not )\blisted\b|\bblock ?list|\bblacklist|\bunsolicited|"
                      r"\b5\.7\.\d+\b.*\b(spamhaus|barracuda|spamcop|outlook|hotmail|microsoft|S3140|S3150)\b",
                      re.IGNORECASE)
_PROVIDERS = (("spamhaus", "Spamhaus"), ("barracuda", "Barracuda"), ("spamcop", "SpamCop"),
              ("outlook", "Microsoft"), ("hotmail", "Microsoft"), ("microsoft", "Microsoft"),
              ("S3140", "Microsoft"), ("S3150", "Microsoft"), ("unsolicited", "Gmail"), ("google", "Gmail"))


def listing_name(reply: str) -> str | None:
    """Which blocklist (or provider) a refusal names; None when the reply is no listing."""
    if not reply or not _LISTING.search(reply):
        return None
    lowered = reply.lower()
    for needle, name in _PROVIDERS:
        if needle.lower() in lowered:
            return name
    return "a blocklist"


def blocklist(ctx: RuleContext, params) -> list[Finding]:
    since = window_start(ctx, params["window"])
    rows = database.execute_sql(
        "SELECT queue_id, recipient, reply FROM postfix_line WHERE status IN ('bounced', 'deferred') "
        "AND time > ? AND time <= ? AND program = 'postfix/smtp' AND reply IS NOT NULL", (since, ctx.now)).fetchall()
    by_list: dict[str, list] = {}
    for queue_id, recipient, reply in rows:
        name = listing_name(reply)
        if name is not None:
            by_list.setdefault(name, []).append((queue_id, recipient, reply))
    found = []
    for name, hits in sorted(by_list.items()):
        if len(hits) < params["min"]:
            continue
        domains = sorted({(r or "").rpartition("@")[2].lower() for _, r, _ in hits})
        found.append(Finding(
            key=f"blocklist:{name.lower().replace(' ', '-')}", rule="blocklist", severity="critical",
            title=f"Our mail is refused as listed by {name}",
            detail=f"{len(hits)} refusals in the last {params['window']:g} minutes naming {name} "
                   f"(to {', '.join(domains[:5])}); latest reply: {hits[-1][2][:300]}",
            count=len(hits), link=ui_link("/logs/postfix", search=hits[-1][2][:60].split(";")[0]),
            message_keys=message_keys_of_queue_ids(sorted({q for q, _, _ in hits if q})[:20])))
    return found


def queue(ctx: RuleContext, params) -> list[Finding] | None:
    items = ctx.live.queue
    if items is None:
        return None                     # mailcow's queue could not be read: keep the alert as it is
    found = []
    deferred = [item for item in items if item.get("queue_name") == "deferred" and item.get("arrival_time")]
    if deferred:
        oldest = min(item["arrival_time"] for item in deferred)
        hours = (ctx.now - oldest) / 3600
        if hours >= params["age_hours"]:
            stale = sum(1 for item in deferred if ctx.now - item["arrival_time"] >= params["age_hours"] * 3600)
            found.append(Finding(
                key="queue:age", rule="queue", severity="warning",
                title=f"Deferred mail older than {params['age_hours']:g} hours in the queue",
                detail=f"the oldest deferred message has waited {hours:.1f} hours; {stale} waited longer than "
                       f"{params['age_hours']:g} hours", count=stale, link="/queue"))
    if len(items) >= params["size"]:
        found.append(Finding(key="queue:size", rule="queue", severity="warning",
                             title=f"{len(items)} messages in mailcow's queue",
                             detail=f"{len(items)} messages queued (alert at {params['size']:g})",
                             count=len(items), link="/queue"))
    return found
