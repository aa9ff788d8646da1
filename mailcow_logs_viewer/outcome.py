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

# The recipient statuses an answer can hold (README "Counting rules"); nothing else is stored.
# `discarded`: a Sieve rule of the mailbox stage threw an accepted, delivered copy away.
RECIPIENT_STATUSES = ("delivered", "discarded", "deferred", "bounced", "expired", "rejected", "pending")
DELIVERY_STATUS = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "expired"}
FINAL = frozenset({"delivered", "discarded", "bounced", "expired", "rejected"})
# Address verification probes end in these (PITFALLS 30); they are not mail.
PROBE_STATUSES = frozenset({"deliverable", "undeliverable"})
# A temporary refusal (greylisting) that no retry followed within this long is final
# (PITFALLS 35): the greylist window of minutes plus a grace period of hours, which covers
# Postfix's and other MTAs' retry schedules several times over.
REFUSAL_RETRY_SECONDS = 6 * 3600
REFUSALS = ("noqueue_reject", "reject", "milter_reject")


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
    refused: bool = False            # its last word was a temporary refusal, not a queue deferral
    folder: str | None = None                        # the mailbox step (mailbox_stage.apply)
    redirected_to: list = field(default_factory=list)
    auto_reply: str | None = None
    reason: str | None = None
    discarded: bool = False


@dataclass
class MessageResult:
    id: int
    server: str | None = None        # the entry server (entry_server); None: keep the stored one
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


def is_probe(kind: str, status: str | None, sender: str | None) -> bool:
    """A line of Postfix's own address verification (verify(8)): `double-bounce@` sender or a
    `status=deliverable/undeliverable` result."""
    return (kind == "delivery" and status in PROBE_STATUSES) or (
        sender is not None and sender.lower().startswith("double-bounce@"))


def _is_permanent(line: dict) -> bool:
    return (line["dsn"] or "")[:1] == "5" or (line["reply"] or "")[:1] == "5"


class _Outcomes:
    """Per-recipient outcomes as the lines come, in time order."""

    def __init__(self):
        self.by_key: dict[str, Outcome] = {}

    def get(self, recipient: str) -> Outcome:
        key = recipient.lower()
        if key not in self.by_key:
            self.by_key[key] = Outcome(recipient)
        return self.by_key[key]

    def settle(self, recipient: str, status: str, line: dict) -> None:
        outcome = self.get(recipient)
        outcome.attempts += 1
        outcome.status = status
        outcome.refused = False
        outcome.dsn = line["dsn"] or outcome.dsn
        outcome.reply = line["reply"]
        outcome.last_time = line["time"]
        if line["relay"] is not None:
            outcome.relay = line["relay"]
        if line["delay"] is not None:
            outcome.delay = line["delay"]

    def values(self):
        return self.by_key.values()


@dataclass
class _Refusals:
    """What the refusal lines say about the whole message."""
    permanent: bool = False          # refused for good (5xx, a lone NOQUEUE, Rspamd reject)
    reason: str | None = None
    last_temporary: int | None = None
    queued: bool = False             # some leg was accepted into the queue (qmgr took it)


def compute_message(facts: MessageFacts, local_domains, classify, unlinked_before: int | None = None,
                    now: int | None = None) -> MessageResult:
    """The message as an admin reading its lines would describe it, in named steps."""
    result = MessageResult(facts.id, related_ref=facts.notice_of, related_kind=facts.related_kind)
    outcomes = _Outcomes()
    refusals = _Refusals()
    _read_lines(facts, result, outcomes, refusals)
    _read_legs(facts, result)
    _read_verdict(facts, result, outcomes, refusals)
    _end_unretried_refusals(outcomes, refusals, now)
    _summarize(facts, result, outcomes, refusals, local_domains, classify)
    result.expired_unlinked = bool(unlinked_before is not None and result.has_rspamd and not result.has_postfix
                                   and result.first_seen < unlinked_before)
    return result


def _read_lines(facts: MessageFacts, result: MessageResult, outcomes: _Outcomes, refusals: _Refusals) -> None:
    own_queues = {leg["queue_id"] for leg in facts.legs}
    qmgr_sender = None
    for line in facts.lines:
        kind = line["kind"]
        if kind == "delivery" and line["recipient"] is not None:
            if line["linked_queue_id"] in own_queues and line["status"] == "sent":
                # The hand-off to a content filter is not a delivery: the next hop's lines say
                # what happened, and until they come the recipient waits.
                outcomes.get(line["recipient"])
                continue
            status = DELIVERY_STATUS.get(line["status"])
            if status is None:
                continue    # a probe's result or an unknown word: not a recipient outcome
            outcomes.settle(line["recipient"], status, line)
            if line["orig_to"] and line["orig_to"].lower() != line["recipient"].lower():
                outcomes.get(line["recipient"]).orig_to = line["orig_to"]
        elif kind == "expired":
            # qmgr gives up on the whole queue file: whoever is still waiting has expired.
            for outcome in outcomes.values():
                if outcome.status in ("deferred", "pending"):
                    outcome.status = "expired"
                    outcome.last_time = line["time"]
        elif kind in REFUSALS:
            _read_refusal(line, bool(facts.legs), outcomes, refusals)
        if kind in ("qmgr_from", "delivery"):
            refusals.queued = True
        if kind == "qmgr_from" and line["sender"] is not None and qmgr_sender is None:
            qmgr_sender = line["sender"]
        if line["sender"] is not None and result.sender is None and kind in (
                "pickup", "milter_reject", "noqueue_reject", "reject", "expired"):
            result.sender = line["sender"]
        if line["message_id"] and not result.message_id:
            result.message_id = line["message_id"]
    # qmgr's envelope sender is the qualified one (a pickup line names only the local user).
    result.sender = qmgr_sender if qmgr_sender is not None else result.sender


def _read_refusal(line: dict, has_legs: bool, outcomes: _Outcomes, refusals: _Refusals) -> None:
    """A lone NOQUEUE refuses the message whatever its code (a 454 relay denial is never retried
    into success). Inside a message that was accepted later, a 4xx NOQUEUE or end-of-data
    refusal was an earlier attempt: the recipient waits for the retry."""
    kind = line["kind"]
    permanent = _is_permanent(line) or (kind == "noqueue_reject" and not has_legs)
    if kind != "reject":
        refusals.permanent = refusals.permanent or permanent
        refusals.reason = line["reply"] or refusals.reason
    if not permanent:
        refusals.last_temporary = max(refusals.last_temporary or 0, line["time"])
    if line["recipient"]:
        outcomes.settle(line["recipient"], "rejected" if permanent else "deferred", line)
        outcomes.get(line["recipient"]).refused = not permanent


def entry_server(facts: MessageFacts) -> str | None:
    """Where the message entered our system, the server it is counted under: its first leg's
    (legs are in time order) but for a leg another of our servers handed over (role
    `relayed`, custody.py), else its NOQUEUE refusal's, else its Rspamd verdict's."""
    for leg in facts.legs:
        if leg["role"] != "relayed":
            return leg["server"]
    if facts.legs:
        return facts.legs[0]["server"]
    return next((line["server"] for line in facts.lines), None) or next((r["server"] for r in facts.rspamd), None)


def _read_legs(facts: MessageFacts, result: MessageResult) -> None:
    times = [t for leg in facts.legs for t in (leg["first_time"], leg["last_time"])]
    times += [line["time"] for line in facts.lines] + [row["time"] for row in facts.rspamd]
    if times:
        result.first_seen, result.last_seen = min(times), max(times)
    result.server = entry_server(facts)
    for leg in facts.legs:
        result.sender = result.sender if result.sender is not None else leg["sender"]
        result.size = result.size or leg["size"]
        result.user = result.user or leg["sasl_username"]
        result.ip = result.ip or (leg["client_ip"] if leg["client_ip"] not in ("127.0.0.1", "::1") else None)
        result.message_id = result.message_id or leg["message_id"]
    if not result.ip:
        result.ip = next((leg["client_ip"] for leg in facts.legs if leg["client_ip"]), None)
    if not result.ip:
        result.ip = next((line["client_ip"] for line in facts.lines if line["client_ip"]), None)
    if not result.user:
        result.user = next((line["sasl_username"] for line in facts.lines if line["sasl_username"]), None)


def _read_verdict(facts: MessageFacts, result: MessageResult, outcomes: _Outcomes, refusals: _Refusals) -> None:
    for row in facts.rspamd:
        covered = {o.orig_to.lower() for o in outcomes.values() if o.orig_to} | set(outcomes.by_key)
        for recipient in json.loads(row["recipients_smtp"] or "[]"):
            if recipient.lower() not in covered:
                outcomes.get(recipient)
        if row["action"] == "reject":
            refusals.permanent = True
    if not facts.rspamd:
        return
    verdict = facts.rspamd[-1]
    result.subject = verdict["subject"]
    result.is_spam = bool(verdict["is_spam"])
    result.spam_score = verdict["score"]
    result.user = result.user or verdict["user"]
    result.ip = result.ip or verdict["ip"]
    result.size = result.size or verdict["size"]
    if result.sender is None:
        result.sender = verdict["sender_smtp"]
    result.message_id = result.message_id or verdict["message_id"]
    if refusals.permanent:
        for outcome in outcomes.values():
            if outcome.status == "deferred":
                outcome.status = "rejected"


def _end_unretried_refusals(outcomes: _Outcomes, refusals: _Refusals, now: int | None) -> None:
    """Greylisted and never retried (PITFALLS 35): when no leg ever made it into the queue and
    REFUSAL_RETRY_SECONDS passed since the last temporary refusal, the refusal is final; the
    mail was never in our queue."""
    if (now is None or refusals.queued or refusals.last_temporary is None
            or now - refusals.last_temporary < REFUSAL_RETRY_SECONDS):
        return
    for outcome in outcomes.values():
        if outcome.status == "pending" or (outcome.status == "deferred" and outcome.refused):
            outcome.status = "rejected"
    refusals.permanent = True


def _status(statuses: list[str], rejected_whole: bool) -> str:
    accepted = [s for s in statuses if s != "rejected"]
    if rejected_whole and "delivered" not in statuses:
        return "rejected"
    if statuses and not accepted:
        return "rejected"
    if any(s in ("bounced", "expired") for s in accepted):
        return "bounced"
    if "deferred" in accepted:
        return "deferred"
    if accepted and all(s in ("delivered", "discarded") for s in accepted):
        # A Sieve discard was accepted and handled: the message is `discarded` only when
        # no recipient kept it.
        return "delivered" if "delivered" in accepted else "discarded"
    return "pending"


def _summarize(facts: MessageFacts, result: MessageResult, outcomes: _Outcomes, refusals: _Refusals,
               local_domains, classify) -> None:
    if refusals.permanent:
        for outcome in outcomes.values():
            if outcome.status == "pending":
                outcome.status = "rejected"
    mailbox_stage.apply(facts.dovecot, outcomes.by_key)   # the mailbox stage (issue 18): folder, discard, redirect
    ordered = sorted(outcomes.values(), key=lambda o: o.recipient.lower())
    statuses = [o.status for o in ordered]
    result.final_status = _status(statuses, refusals.permanent)
    # The refusal text explains a refusal, not a message that got through after greylisting.
    result.reject_reason = refusals.reason if result.final_status in ("rejected", "deferred") else None
    result.is_complete = result.final_status == "rejected" or (bool(statuses) and all(s in FINAL for s in statuses))
    result.outcomes = ordered
    result.recipients = ", ".join(o.recipient for o in ordered)
    result.recipient_count = len(ordered)
    result.queue_ids = " ".join(dict.fromkeys(leg["queue_id"] for leg in facts.legs))
    result.queue_id = facts.legs[0]["queue_id"] if facts.legs else None
    result.has_postfix = bool(facts.lines)
    result.has_rspamd = bool(facts.rspamd)
    authenticated = bool(result.user) or any(row["has_auth"] for row in facts.rspamd)
    locally_generated = bool(facts.legs) and not any(leg["client_ip"] for leg in facts.legs) and not facts.rspamd
    # A redirected copy or vacation reply is our own Sieve's mail, whichever client submitted it.
    locally_generated = locally_generated or facts.related_kind is not None
    result.direction = classify(authenticated, locally_generated, [o.recipient for o in ordered], local_domains)
