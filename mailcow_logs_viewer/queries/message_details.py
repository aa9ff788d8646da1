"""One message with every line that tells its story: GET /api/message/{key}/details."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..facts import load_facts
from ..models import Message, NetfilterLine
from .logs import NetfilterItem, RspamdVerdict, netfilter_item, rspamd_verdict
from .dovecot import DovecotStepLine, message_dovecot_lines
from .messages import (MailboxStep, MessageSummary, mailbox_step, only_visible, outcomes_by_message, recipients_of,
                       summary_fields)
from .results import INLINE, decode_json, iso
from .scope import Scope

NETFILTER_MARGIN = 3600     # netfilter lines of the message's client this long before and after it
NETFILTER_LINES = 500
RELATED_LIMIT = 50          # messages sharing a Message-ID listed in details (thousands exist)


@dataclass
class MessagePostfixLine:
    id: int
    time: str
    program: str
    priority: str
    message: str
    queue_id: str | None
    recipient: str | None
    status: str | None
    relay: str | None
    delay: float | None
    dsn: str | None


@dataclass
class Redirect:
    address: str
    correlation_key: str | None     # the forwarded copy, once its lines are seen


@dataclass
class Outcome:
    recipient: str
    orig_to: str | None
    status: str
    dsn: str | None
    relay: str | None
    delay: float | None
    reply: str | None
    attempts: int
    last_time: str | None
    step: MailboxStep = field(metadata=INLINE)
    redirects: list[Redirect] = field(default_factory=list)
    mailbox_lines: list[DovecotStepLine] = field(default_factory=list)


@dataclass
class LegItem:
    queue_id: str
    role: str
    first_seen: str
    last_seen: str
    removed: bool
    client_ip: str | None
    lines: list[MessagePostfixLine]
    server: str                     # a message relayed between our servers has a leg on each


@dataclass
class RelatedMessage:
    correlation_key: str
    relation: str
    sender: str | None
    subject: str | None
    final_status: str
    first_seen: str
    recipients: str


@dataclass
class SymbolScore:
    name: str
    score: float


@dataclass
class VerdictSummary:
    """What is kept of the Rspamd verdict once its rows are cleaned up (retention.py)."""
    score: float | None
    action: str | None
    symbols: list[SymbolScore]      # the strongest, by absolute score


@dataclass
class MessageDetails(MessageSummary):
    rspamd: RspamdVerdict | None = None
    rspamd_history: list[RspamdVerdict] = field(default_factory=list)
    postfix: list[MessagePostfixLine] = field(default_factory=list)
    postfix_by_recipient: dict[str, list[MessagePostfixLine]] = field(default_factory=dict)
    netfilter: list[NetfilterItem] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    dovecot: list[DovecotStepLine] = field(default_factory=list)
    legs: list[LegItem] = field(default_factory=list)
    related: list[RelatedMessage] = field(default_factory=list)
    # Issue 15: past RETENTION_DAYS the lines and rows above are gone; the message, its legs
    # and outcomes are kept as last computed, with this summary of the verdict.
    raw_lines_removed: bool = False
    verdict_summary: VerdictSummary | None = None


def _verdict_summary(message: Message) -> VerdictSummary | None:
    if not message.raw_lines_removed or not (message.has_rspamd or message.spam_action):
        return None
    symbols = [SymbolScore(str(name), float(score)) for name, score in decode_json(message.spam_symbols, [])]
    return VerdictSummary(message.spam_score, message.spam_action, symbols)


def _postfix_line(line: dict) -> MessagePostfixLine:
    return MessagePostfixLine(
        id=line["id"], time=iso(line["time"]), program=line["program"], priority=line["priority"],
        message=line["message"], queue_id=line["queue_id"], recipient=line["recipient"], status=line["status"],
        relay=line["relay"], delay=line["delay"], dsn=line["dsn"])


def _leg_role(leg: dict, message: Message, index: int) -> str:
    if leg["role"] != "primary":
        return leg["role"]
    if message.related_ref is not None:
        return "notice"
    return "primary" if index == 0 else "retry"


def _netfilter_around(scope: Scope, message: Message) -> list[NetfilterItem]:
    if not message.ip:
        return []
    rows = (NetfilterLine.select()
            .where(*scope.on_server(message.server).line_filter(NetfilterLine), NetfilterLine.ip == message.ip,
                   NetfilterLine.time.between(message.first_seen - NETFILTER_MARGIN, message.last_seen + NETFILTER_MARGIN))
            .order_by(NetfilterLine.time, NetfilterLine.id).limit(NETFILTER_LINES))
    return [netfilter_item(r) for r in rows]


# A redirected copy or a vacation reply was sent by the original's Sieve (mailbox_stage): the
# relation as seen from the copy (toward) and from the original (back), by the copy's related_kind.
_TOWARD = {None: "reports_on", "redirect": "redirect_of", "auto_reply": "auto_reply_to"}
_BACK = {None: "notice", "redirect": "redirected_copy", "auto_reply": "auto_reply"}


def _related(scope: Scope, message: Message) -> list[RelatedMessage]:
    related = []
    if message.related_ref is not None:
        original = Message.get_or_none(Message.id == message.related_ref, *scope.message_filter())
        if original is not None:
            related.append((_TOWARD.get(message.related_kind, "reports_on"), original))
    for notice in (Message.select().where(Message.related_ref == message.id, *scope.message_filter())
                   .order_by(Message.first_seen)):
        related.append((_BACK.get(notice.related_kind, "notice"), notice))
    # Other transactions that reused the Message-ID (a list copy, a BCC): messages of their own
    # (a redirected copy, which shares it, is listed once, as the copy).
    if message.message_id:
        listed = {m.id for _, m in related}
        for other in (Message.select().where(Message.message_id == message.message_id, Message.id != message.id,
                                             *scope.message_filter())
                      .order_by(Message.first_seen).limit(RELATED_LIMIT)):
            if other.id not in listed:
                related.append(("same_message_id", other))
    return [RelatedMessage(m.correlation_key, relation, m.sender, m.subject, m.final_status, iso(m.first_seen),
                           ", ".join(_related_recipients(scope, m))) for relation, m in related]


def _related_recipients(scope: Scope, message: Message) -> list[str]:
    if scope.owns(message.sender):
        return recipients_of(message)
    return [r for r in recipients_of(message) if scope.sees_recipient(r)]


def _visible_verdict(verdict: RspamdVerdict, visible: frozenset[str] | None) -> RspamdVerdict:
    """Rspamd lists every recipient (envelope and To/Cc): only the visible ones stay."""
    if visible is None:
        return verdict
    verdict.recipients_smtp = [r for r in verdict.recipients_smtp if r.lower() in visible]
    verdict.recipients_mime = [r for r in verdict.recipients_mime if r.lower() in visible]
    return verdict


def message_details(scope: Scope, correlation_key: str) -> MessageDetails | None:
    """The message with this key and all its lines, or None when there is none (for this caller)."""
    if len(correlation_key) > 128:
        return None
    # The key names one message on whichever server: a server picked for the lists does not hide it.
    scope = scope.on_server(None)
    message = Message.get_or_none(Message.correlation_key == correlation_key, *scope.message_filter())
    if message is None:
        return None
    # The same facts the status was computed from (leg_rule.line_in_leg, the one rule for which
    # lines are the message's), so the page can never disagree with the status.
    facts = load_facts([message.id], with_text=True)[message.id]
    legs, lines, rows = facts.legs, facts.lines, facts.rspamd
    everyone = outcomes_by_message([message.id])[message.id]
    visible = scope.visible_recipients(message.sender, everyone)
    outcomes = only_visible(everyone, visible)

    # Lines that name another recipient are that recipient's story, not this caller's.
    items = {line["id"]: _postfix_line(line) for line in lines
             if visible is None or not line["recipient"] or line["recipient"].lower() in visible}
    lines_by_leg: dict[int, list[dict]] = {}
    for line in (line for line in lines if line["id"] in items):
        lines_by_leg.setdefault(line["leg_id"], []).append(line)
    by_recipient: dict[str, list] = {o.recipient: [] for o in outcomes}
    by_recipient["_system"] = []
    for item in items.values():
        by_recipient.setdefault(item.recipient or "_system", []).append(item)
    verdicts = [_visible_verdict(rspamd_verdict(r), visible) for r in rows]
    dovecot = [(recipient, line) for recipient, line in message_dovecot_lines(message.id)
               if visible is None or (recipient or "").lower() in visible]
    related = _related(scope, message)
    return MessageDetails(
        **summary_fields(message, visible),
        rspamd=verdicts[-1] if verdicts else None,
        rspamd_history=verdicts,
        postfix=list(items.values()),
        postfix_by_recipient=by_recipient,
        netfilter=_netfilter_around(scope, message),
        outcomes=[_outcome(o, dovecot, related) for o in outcomes],
        dovecot=[line for _, line in dovecot],
        legs=[LegItem(leg["queue_id"], _leg_role(leg, message, i), iso(leg["first_time"]), iso(leg["last_time"]),
                      leg["removed"], leg["client_ip"], [items[line["id"]] for line in lines_by_leg.get(leg["id"], [])],
                      leg["server"])
              for i, leg in enumerate(legs)],
        related=related,
        raw_lines_removed=bool(message.raw_lines_removed),
        verdict_summary=_verdict_summary(message))


def _outcome(o, dovecot: list[tuple[str | None, DovecotStepLine]], related: list[RelatedMessage]) -> Outcome:
    """A recipient's outcome with its mailbox step, its Dovecot lines and, for each redirect,
    the forwarded copy's message."""
    step = mailbox_step(o)
    copies = {r.recipients.lower(): r.correlation_key for r in related if r.relation == "redirected_copy"}
    return Outcome(o.recipient, o.orig_to, o.status, o.dsn, o.relay, o.delay, o.reply, o.attempts, iso(o.last_time),
                   step, [Redirect(a, copies.get(a.lower())) for a in step.redirected_to],
                   [line for recipient, line in dovecot if (recipient or "").lower() == o.recipient.lower()])
