"""Service rules: mailcow unreachable or refusing the key for N cycles, lines lost (gaps), a
container stopped, storage filling up, correlation lagging behind."""
from __future__ import annotations

from ..db import database
from ..metrics import correlation_backlog
from .findings import Finding, RuleContext, window_start


def mailcow_down(ctx: RuleContext, params) -> list[Finding]:
    if ctx.fetch_failures < params["cycles"]:
        return []
    what = "refuses the API key" if ctx.key_refused else "cannot be reached"
    return [Finding(key="mailcow", rule="mailcow_down", severity="critical", title=f"mailcow {what}",
                    detail=f"{ctx.fetch_failures} fetch cycles in a row failed: {ctx.fetch_error or 'no answer'}",
                    count=ctx.fetch_failures, link="/status")]


def gap(ctx: RuleContext, params) -> list[Finding]:
    since = window_start(ctx, params["window"])
    rows = database.execute_sql("SELECT source, COUNT(*), SUM(estimated_missed) FROM gap WHERE detected_at > ? "
                                "AND detected_at <= ? GROUP BY source", (since, ctx.now)).fetchall()
    return [Finding(key=f"gap:{source}", rule="gap", severity="warning",
                    title=f"About {missed} {source} lines were lost before they could be fetched",
                    detail=f"{gaps} gaps in the {source} log in the last {params['window']:g} minutes, about {missed} "
                           f"lines trimmed by mailcow before the fetch reached them", count=missed, link="/status")
            for source, gaps, missed in rows if (missed or 0) >= params["min"]]


def container(ctx: RuleContext, params) -> list[Finding] | None:
    containers = ctx.live.containers
    if containers is None:
        return None
    return [Finding(key=f"container:{info['name']}", rule="container", severity="critical",
                    title=f"Container {info['name']} is {info['state']}",
                    detail=f"mailcow reports {service} as {info['state']}", count=1, link="/status")
            for service, info in sorted(containers.items()) if info["state"] != "running"]


def storage(ctx: RuleContext, params) -> list[Finding] | None:
    disk = ctx.live.storage
    if disk is None:
        return None
    try:
        used = float(str(disk.get("used_percent", "")).rstrip("% "))
    except ValueError:
        return None
    if used < params["percent"]:
        return []
    return [Finding(key="storage", rule="storage", severity="critical" if used >= 98 else "warning",
                    title=f"mail storage {used:.0f}% full",
                    detail=f"{disk.get('disk') or 'vmail'}: {disk.get('used')} of {disk.get('total')} used "
                           f"(alert at {params['percent']:g}%)", count=int(used), link="/status")]


def correlation_lag(ctx: RuleContext, params) -> list[Finding]:
    lag, backlog = correlation_backlog()
    if lag < params["minutes"] * 60:
        return []
    return [Finding(key="correlation_lag", rule="correlation_lag", severity="warning",
                    title=f"Correlation is {lag // 60} minutes behind",
                    detail=f"{backlog} stored Postfix lines are not linked to messages yet; the newest correlated "
                           f"line is {lag // 60} minutes older than the newest stored one", count=backlog,
                    link="/status")]


