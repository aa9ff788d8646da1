"""A message's state from its facts: per-recipient outcomes, status, direction, spam verdict.

Pure: the correlator loads the facts (legs, Postfix lines, Rspamd rows) and writes the
result. Statuses arrive over time (PITFALLS 13), so the result is always recomputed from all
lines, never patched: a late `sent` after `deferred` makes a recipient delivered, and a later
`expired` ends a deferral.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import mailbox_stage

DELIVERY_STATUS = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "expired"}
FINAL = frozenset({"delivered", "discarded", "bounced", "expired", "rejected"})


@dataclass
class MessageFacts:
    id: int
    legs: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    rspamd: list = field(default_factory=list)
    notice_of: int | None = None
    dovecot: list = field(default_factory=list)      # the mailbox stage's lines (mailbox_stage.load)
    related_kind: str | None = None                  # notice_of is the original of a redirect / auto_reply


@dataclass
class Outcome:
    recipient: str
    orig_to: str | None = None
    status: str = "pending"
    dsn: str | None = None
    relay: str | None = None
    delay: float | None = None
    reply: str | None = None
    attempts: int = 0
    last_time: int | None = None
    folder: str | None = None                        # the mailbox step (mailbox_stage.apply)
    redirected_to: list = field(default_factory=list)
    auto_reply: str | None = None
    reason: str | None = None
    discarded: bool = False


@dataclass
class MessageResult:
    id: int
    message_id: str | None = None
    queue_id: str | None = None
    queue_ids: str = ""
    sender: str | None = None
    recipients: str = ""
    recipient_count: int = 0
    subject: str | None = None
    direction: str = "unknown"
    final_status: str = "pending"
    is_complete: bool = False
    is_spam: bool = False
    spam_score: float | None = None
    user: str | None = None
    ip: str | None = None
    size: int | None = None
    reject_reason: str | None = None
    related_ref: int | None = None
    related_kind: str | None = None
    has_postfix: bool = False
    has_rspamd: bool = False
    expired_unlinked: bool = False
    first_seen: int = 0
    last_seen: int = 0
    outcomes: list = field(default_factory=list)


def _is_permanent(dsn: str | None) -> bool:
    return bool(dsn) and dsn.startswith("5")


def compute_message(facts: MessageFacts, local_domains, classify, unlinked_before: int | None = None) -> MessageResult:
    result = MessageResult(facts.id, related_ref=facts.notice_of, related_kind=facts.related_kind)
    outcomes: dict[str, Outcome] = {}
    rejected_whole = False
    times: list[int] = []

    def outcome_for(recipient: str) -> Outcome:
        key = recipient.lower()
        if key not in outcomes:
            outcomes[key] = Outcome(recipient)
        return outcomes[key]

    def settle(outcome: Outcome, status: str, line: dict) -> None:
        outcome.status = status
        outcome.dsn = line["dsn"] or outcome.dsn
        outcome.reply = line["reply"]
        outcome.last_time = line["time"]
        if line["relay"] is not None:
            outcome.relay = line["relay"]
        if line["delay"] is not None:
            outcome.delay = line["delay"]

    for line in facts.lines:
        times.append(line["time"])
        kind = line["kind"]
        if kind == "delivery" and line["recipient"] is not None:
            outcome = outcome_for(line["recipient"])
            outcome.attempts += 1
            if line["orig_to"] and line["orig_to"].lower() != line["recipient"].lower():
                outcome.orig_to = line["orig_to"]
            settle(outcome, DELIVERY_STATUS.get(line["status"], line["status"] or "pending"), line)
        elif kind == "expired":
            # qmgr gives up on the whole queue file: whoever is still waiting has expired.
            for outcome in outcomes.values():
                if outcome.status in ("deferred", "pending"):
                    outcome.status = "expired"
                    outcome.last_time = line["time"]
        elif kind in ("noqueue_reject", "reject", "milter_reject"):
            # A NOQUEUE reject refuses the message whatever its code (a 454 relay denial
            # is never retried into success); at end of data a 4xx (greylisting) is a deferral.
            permanent = kind == "noqueue_reject" or _is_permanent(line["dsn"]) or (line["reply"] or "")[:1] == "5"
            if kind != "reject":
                rejected_whole = rejected_whole or permanent
                result.reject_reason = line["reply"] or result.reject_reason
            if line["recipient"]:
                outcome = outcome_for(line["recipient"])
                outcome.attempts += 1
                settle(outcome, "rejected" if permanent else "deferred", line)
        if line["sender"] is not None and result.sender is None and kind in (
                "qmgr_from", "pickup", "milter_reject", "noqueue_reject", "reject", "expired"):
            result.sender = line["sender"]
        if line["message_id"] and not result.message_id:
            result.message_id = line["message_id"]

    legs = [leg for leg in facts.legs]
    for leg in legs:
        times += [leg["first_time"], leg["last_time"]]
        result.sender = result.sender if result.sender is not None else leg["sender"]
        result.size = result.size or leg["size"]
        result.user = result.user or leg["sasl_username"]
        result.ip = result.ip or (leg["client_ip"] if leg["client_ip"] not in ("127.0.0.1", "::1") else None)
        result.message_id = result.message_id or leg["message_id"]
    if not result.ip:
        result.ip = next((leg["client_ip"] for leg in legs if leg["client_ip"]), None)
    if not result.ip:
        result.ip = next((line["client_ip"] for line in facts.lines if line["client_ip"]), None)
    if not result.user:
        result.user = next((line["sasl_username"] for line in facts.lines if line["sasl_username"]), None)

    verdict = facts.rspamd[-1] if facts.rspamd else None
    for row in facts.rspamd:
        times.append(row["time"])
        covered = {o.orig_to.lower() for o in outcomes.values() if o.orig_to} | set(outcomes)
        for recipient in json.loads(row["recipients_smtp"] or "[]"):
            if recipient.lower() not in covered:
                outcome_for(recipient)
        if row["action"] == "reject":
            rejected_whole = True
    if verdict is not None:
        result.subject = verdict["subject"]
        result.is_spam = any(row["is_spam"] for row in facts.rspamd[-1:])
        result.spam_score = verdict["score"]
        result.user = result.user or verdict["user"]
        result.ip = result.ip or verdict["ip"]
        result.size = result.size or verdict["size"]
        if result.sender is None:
            result.sender = verdict["sender_smtp"]
        result.message_id = result.message_id or verdict["message_id"]
        if rejected_whole:
            for outcome in outcomes.values():
                if outcome.status in ("pending", "deferred"):
                    outcome.status = "rejected"

    if rejected_whole:
        for outcome in outcomes.values():
            if outcome.status == "pending":
                outcome.status = "rejected"

    mailbox_stage.apply(facts.dovecot, outcomes)     # the mailbox stage (issue 18): folder, discard, redirect
    ordered = sorted(outcomes.values(), key=lambda o: o.recipient.lower())
    statuses = [o.status for o in ordered]
    accepted = [s for s in statuses if s != "rejected"]
    if rejected_whole and "delivered" not in statuses:
        status = "rejected"
    elif statuses and not accepted:
        status = "rejected"
    elif any(s in ("bounced", "expired") for s in accepted):
        status = "bounced"
    elif "deferred" in accepted:
        status = "deferred"
    elif accepted and all(s in ("delivered", "discarded") for s in accepted):
        # A Sieve discard was accepted and handled: the message is `discarded` only when
        # no recipient kept it.
        status = "delivered" if "delivered" in accepted else "discarded"
    else:
        status = "pending"
    result.final_status = status
    result.is_complete = status == "rejected" or (bool(statuses) and all(s in FINAL for s in statuses))
    result.outcomes = ordered
    result.recipients = ", ".join(o.recipient for o in ordered)
    result.recipient_count = len(ordered)
    result.queue_ids = " ".join(dict.fromkeys(leg["queue_id"] for leg in legs))
    result.queue_id = legs[0]["queue_id"] if legs else None
    result.has_postfix = bool(facts.lines)
    result.has_rspamd = bool(facts.rspamd)

    authenticated = bool(result.user) or any(row["has_auth"] for row in facts.rspamd)
    locally_generated = bool(legs) and not any(leg["client_ip"] for leg in legs) and not facts.rspamd
    # A redirected copy or vacation reply is our own Sieve's mail, whichever client submitted it.
    locally_generated = locally_generated or facts.related_kind is not None
    result.direction = classify(authenticated, locally_generated, [o.recipient for o in ordered], local_domains)
    if times:
        result.first_seen, result.last_seen = min(times), max(times)
    result.expired_unlinked = bool(unlinked_before is not None and result.has_rspamd and not result.has_postfix
                                   and result.first_seen < unlinked_before)
    return result
