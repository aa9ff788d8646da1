"""Shapes of the messages, message details and log list answers."""
from __future__ import annotations

from marshmallow import fields

from .base import Bool, Int, Many, MapOf, Num, One, Response, Str, StrList, Time, _f  # noqa: F401


# ------------------------------------------------------------------ messages

class PageEnvelope(Response):
    total = Int()
    page = Int()
    limit = Int()
    pages = Int()


RECIPIENT_STATUSES = ["delivered", "discarded", "bounced", "expired", "deferred", "rejected", "pending"]


class MailboxStepFields(Response):
    """What Dovecot did with a delivered recipient (the mailbox stage; null without a Dovecot line)."""
    folder = Str(nullable=True, metadata={"description": "Where Dovecot stored it (INBOX, Junk, ...)"})
    redirected_to = StrList(metadata={"description": "Addresses a Sieve redirect forwarded it to"})
    auto_reply = Str(nullable=True, metadata={"description": "Vacation reply: 'sent to x' or 'not sent: why'"})
    reason = Str(nullable=True, metadata={"description": "A mailbox refusal in plain words (over quota, ...)"})


class OutcomeBriefSchema(MailboxStepFields):
    recipient = Str()
    status = Str(metadata={"enum": RECIPIENT_STATUSES})
    dsn = Str(nullable=True, optional=True)
    reply = Str(nullable=True, optional=True, metadata={"description": "The remote reply or our refusal, when it failed"})


class MessageSummaryFields(Response):
    correlation_key = Str()
    message_id = Str(nullable=True)
    queue_id = Str(nullable=True)
    sender = Str(nullable=True)
    recipient = Str(nullable=True, metadata={"description": "The first recipient"})
    subject = Str(nullable=True)
    direction = Str()
    final_status = Str()
    is_complete = Bool()
    first_seen = Time()
    last_seen = Time()
    spam_score = Num(nullable=True)
    is_spam = Bool()
    user = Str(nullable=True)
    ip = Str(nullable=True)
    recipients = StrList()
    recipient_count = Int()
    queue_ids = StrList()
    size = Int(nullable=True)
    reject_reason = Str(nullable=True)
    server = Str(metadata={"description": "The mailcow server where the message entered (README, counting rules)"})


class MessageSummarySchema(MessageSummaryFields):
    outcomes = Many(OutcomeBriefSchema)
    reason = Str(nullable=True, optional=True, metadata={"description": "Why it failed: its first failed recipient's reply"})
    reason_key = Str(nullable=True, optional=True,
                     metadata={"description": "That reply normalised, as on the top reasons (the `reason=` filter)"})


class MessageListResponseSchema(PageEnvelope):
    data = Many(MessageSummarySchema)


class SymbolSchema(Response):
    score = Num(nullable=True)
    metric_score = Num(optional=True, nullable=True)
    description = Str(optional=True, nullable=True)
    options = StrList(optional=True, nullable=True)


class RspamdVerdictSchema(Response):
    time = Time()
    message_id = Str(nullable=True)
    subject = Str(nullable=True)
    score = Num(nullable=True)
    required_score = Num(nullable=True)
    action = Str(nullable=True)
    symbols = MapOf(fields.Nested(SymbolSchema))
    is_spam = Bool()
    direction = Str()
    ip = Str(nullable=True)
    user = Str(nullable=True)
    has_auth = Bool()
    size = Int(nullable=True)
    sender_smtp = Str(nullable=True)
    sender_mime = Str(nullable=True)
    recipients_smtp = StrList()
    recipients_mime = StrList()
    server = Str(metadata={"description": "The mailcow server whose Rspamd scanned it"})


class MessagePostfixLineSchema(Response):
    id = Int()
    time = Time()
    program = Str()
    priority = Str()
    message = Str()
    queue_id = Str(nullable=True)
    recipient = Str(nullable=True)
    status = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    dsn = Str(nullable=True)


class NetfilterItemSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    ip = Str(nullable=True)
    rule_id = Int(nullable=True)
    attempts_left = Int(nullable=True)
    username = Str(nullable=True)
    auth_method = Str(nullable=True)
    action = Str(nullable=True)
    server = Str(metadata={"description": "The mailcow server that logged it"})


class RedirectSchema(Response):
    address = Str()
    correlation_key = Str(nullable=True, metadata={"description": "The forwarded copy, once its lines are seen"})


class DovecotStepLineSchema(Response):
    id = Int()
    time = Time()
    priority = Str()
    message = Str()
    action = Str(nullable=True)
    folder = Str(nullable=True)
    session = Str(nullable=True)


class OutcomeSchema(MailboxStepFields):
    recipient = Str()
    orig_to = Str(nullable=True)
    status = Str(metadata={"enum": RECIPIENT_STATUSES})
    redirects = Many(RedirectSchema)
    mailbox_lines = Many(DovecotStepLineSchema, metadata={"description": "This recipient's Dovecot lines"})
    dsn = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    reply = Str(nullable=True)
    attempts = Int()
    last_time = Time(nullable=True)


class LegSchema(Response):
    queue_id = Str()
    role = Str(metadata={"enum": ["primary", "retry", "reinjected", "relayed", "notice"]})
    first_seen = Time()
    last_seen = Time()
    removed = Bool()
    client_ip = Str(nullable=True)
    lines = Many(MessagePostfixLineSchema)
    server = Str(metadata={"description": "The mailcow server of this queue id: a message relayed between our servers has a leg on each"})


class RelatedMessageSchema(Response):
    correlation_key = Str()
    relation = Str(metadata={"enum": ["reports_on", "notice", "same_message_id", "redirect_of", "redirected_copy",
                                      "auto_reply_to", "auto_reply"]})
    sender = Str(nullable=True)
    subject = Str(nullable=True)
    final_status = Str()
    first_seen = Time()
    recipients = Str(metadata={"description": "Comma separated"})


class SymbolScoreSchema(Response):
    name = Str()
    score = Num()


class VerdictSummarySchema(Response):
    score = Num(nullable=True)
    action = Str(nullable=True)
    symbols = Many(SymbolScoreSchema)


class MessageDetailsSchema(MessageSummaryFields):
    rspamd = One(RspamdVerdictSchema, nullable=True, metadata={"description": "The latest Rspamd verdict"})
    rspamd_history = Many(RspamdVerdictSchema)
    postfix = Many(MessagePostfixLineSchema)
    postfix_by_recipient = MapOf(fields.List(fields.Nested(MessagePostfixLineSchema)),
                                 metadata={"description": "Lines per recipient; `_system` holds the others"})
    netfilter = Many(NetfilterItemSchema)
    outcomes = Many(OutcomeSchema)
    legs = Many(LegSchema)
    related = Many(RelatedMessageSchema)
    dovecot = Many(DovecotStepLineSchema, metadata={"description": "Raw Dovecot lines of this message"})
    raw_lines_removed = Bool(metadata={"description": "Its raw lines are past RETENTION_DAYS and were cleaned up: "
                                                      "the lists above are empty, the message and outcomes are kept"})
    verdict_summary = One(VerdictSummarySchema, nullable=True,
                          metadata={"description": "The Rspamd verdict kept after its rows were cleaned up"})


# ------------------------------------------------------------------ logs

class PostfixLogSchema(Response):
    id = Int()
    time = Time()
    program = Str()
    priority = Str()
    message = Str()
    queue_id = Str(nullable=True)
    message_id = Str(nullable=True)
    sender = Str(nullable=True)
    recipient = Str(nullable=True)
    status = Str(nullable=True)
    relay = Str(nullable=True)
    delay = Num(nullable=True)
    dsn = Str(nullable=True)
    kind = Str(nullable=True)
    parsed = Bool()
    correlation_key = Str(nullable=True)
    server = Str(metadata={"description": "The mailcow server that logged it"})


class PostfixLogListSchema(PageEnvelope):
    data = Many(PostfixLogSchema)


class PostfixByQueueSchema(Response):
    queue_id = Str()
    correlation_key = Str(nullable=True)
    rspamd = One(RspamdVerdictSchema, nullable=True)
    logs = Many(PostfixLogSchema)


class RspamdLogSchema(RspamdVerdictSchema):
    id = Int()
    correlation_key = Str(nullable=True)
    parsed = Bool()
    raw = _f(fields.Raw, optional=True, nullable=True,
             metadata={"description": "The original row, only when it could not be parsed"})


class RspamdLogListSchema(PageEnvelope):
    data = Many(RspamdLogSchema)


class NetfilterLogListSchema(PageEnvelope):
    data = Many(NetfilterItemSchema)
