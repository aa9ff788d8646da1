"""Abuse rules: a mailbox sending far above its own baseline, to many recipients or with many
bounces (a taken-over account); bursts of auth failures by IP or username; Rspamd rejecting
a local sender's outbound mail."""
from __future__ import annotations

from ..db import database
from ..sql_batches import chunks, marks
from .findings import Finding, RuleContext, message_keys_of_ids, percent, ui_link, window_start


def _per_user(sql: str, args) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in database.execute_sql(sql, args).fetchall()}


def mailbox(ctx: RuleContext, params) -> list[Finding]:
    since = window_start(ctx, params["window"])
    baseline_since = since - int(params["baseline_hours"] * 3600)
    now_counts = _per_user(
        "SELECT user, COUNT(*), SUM(final_status = 'bounced') FROM message WHERE user IS NOT NULL "
        "AND first_seen > ? AND first_seen <= ? GROUP BY user", (since, ctx.now))
    if not now_counts:
        return []
    # Only the users of the window: their baselines come from the (user, first_seen) index
    # alone, not from every message of the baseline hours (25 -> 2 ms at 200k messages a week).
    baseline = {}
    for users in chunks(sorted(now_counts)):
        baseline |= _per_user(f"SELECT user, COUNT(*) FROM message WHERE user IN ({marks(users)}) AND first_seen > ? "
                              "AND first_seen <= ? GROUP BY user", (*users, baseline_since, since))
    recipients = _per_user(
        "SELECT m.user, COUNT(DISTINCT r.recipient) FROM message m JOIN recipient r ON r.message_ref = m.id "
        "WHERE m.user IS NOT NULL AND m.first_seen > ? AND m.first_seen <= ? GROUP BY m.user", (since, ctx.now))
    windows_in_baseline = max(params["baseline_hours"] * 60 / params["window"], 1)
    found = []
    for user, (sent, bounced) in sorted(now_counts.items()):
        bounced = bounced or 0
        usual = baseline.get(user, (0,))[0] / windows_in_baseline
        distinct = recipients.get(user, (0,))[0]
        reasons = []
        if sent >= params["min"] and sent >= params["factor"] * max(usual, 1):
            reasons.append(f"{sent} messages in {params['window']:g} minutes (usually {usual:.1f})")
        if distinct >= params["recipients"]:
            reasons.append(f"{distinct} distinct recipients")
        if bounced >= params["bounce_min"] and percent(bounced, sent) >= params["bounce_rate"]:
            reasons.append(f"{bounced} of {sent} messages bounced")
        if not reasons:
            continue
        ids = [row[0] for row in database.execute_sql(
            "SELECT id FROM message WHERE user = ? AND first_seen > ? AND first_seen <= ? ORDER BY first_seen DESC "
            "LIMIT 20", (user, since, ctx.now)).fetchall()]
        found.append(Finding(
            key=f"mailbox:{user}", rule="mailbox", severity="critical",
            title=f"Mailbox {user} may be compromised",
            detail="; ".join(reasons), count=sent, link=ui_link("/messages", user=user),
            message_keys=message_keys_of_ids(ids)))
    return found


def _auth_rule(rule: str, column: str, what: str, ctx: RuleContext, params) -> list[Finding]:
    # The auth-failure rule of the dashboard: netfilter lines flagged auth_failure, each attempt once.
    since = window_start(ctx, params["window"])
    rows = database.execute_sql(
        f"SELECT {column}, COUNT(*), COUNT(DISTINCT {'username' if column == 'ip' else 'ip'}) FROM netfilter_line "
        f"WHERE auth_failure = 1 AND time > ? AND time <= ? AND {column} IS NOT NULL GROUP BY {column} "
        f"HAVING COUNT(*) >= ?", (since, ctx.now, params["min"])).fetchall()
    found = []
    for value, count, others in rows:
        spread = f" trying {others} usernames" if column == "ip" else f" from {others} IP addresses"
        found.append(Finding(
            key=f"{rule}:{value}", rule=rule, severity="warning",
            title=f"{count} failed logins {what} {value}",
            detail=f"{count} authentication failures {what} {value}{spread} in the last {params['window']:g} minutes "
                   f"(alert at {params['min']:g})",
            count=count, link=ui_link("/logs/netfilter", **({"ip": value} if column == "ip" else {"username": value}))))
    return found


def auth_ip(ctx: RuleContext, params) -> list[Finding]:
    return _auth_rule("auth_ip", "ip", "from", ctx, params)


def auth_user(ctx: RuleContext, params) -> list[Finding]:
    return _auth_rule("auth_user", "username", "for", ctx, params)


def outbound_reject(ctx: RuleContext, params) -> list[Finding]:
    since = window_start(ctx, params["window"])
    rows = database.execute_sql(
        "SELECT user, COUNT(*), GROUP_CONCAT(message_ref) FROM rspamd_row WHERE action = 'reject' AND user IS NOT NULL "
        "AND time > ? AND time <= ? GROUP BY user HAVING COUNT(*) >= ?", (since, ctx.now, params["min"])).fetchall()
    found = []
    for user, count, refs in rows:
        ids = [int(r) for r in (refs or "").split(",") if r][:20]
        found.append(Finding(
            key=f"outbound_reject:{user}", rule="outbound_reject", severity="warning",
            title=f"Rspamd rejected {count} messages from {user}",
            detail=f"Rspamd rejected {count} outbound messages of the local sender {user} in the last "
                   f"{params['window']:g} minutes (alert at {params['min']:g})",
            count=count, link=ui_link("/logs/rspamd", search=f"user:{user}"), message_keys=message_keys_of_ids(ids)))
    return found
