"""The tables. Times are INTEGER epoch seconds in UTC: compact, index-friendly, zone-free.

Log tables keep every line mailcow sent (parsed fields beside the raw text); messages,
legs and recipients are derived by the correlator and can always be rebuilt from them.
"""
from peewee import BooleanField, CharField, CompositeKey, FloatField, IntegerField, Model, SQL, TextField

from .db import database


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class PostfixLine(BaseModel):
    line_key = IntegerField()                 # 64-bit hash of time, program, message and occurrence
    time = IntegerField()
    program = CharField()
    priority = CharField()
    message = TextField()
    parsed = BooleanField(default=True)       # False: the entry was malformed and is kept raw
    kind = CharField(null=True)
    queue_id = CharField(null=True)
    message_id = CharField(null=True)
    sender = CharField(null=True)
    recipient = CharField(null=True)
    orig_to = CharField(null=True)
    status = CharField(null=True)
    relay = CharField(null=True)
    delay = FloatField(null=True)
    dsn = CharField(null=True)
    reply = TextField(null=True)
    client_ip = CharField(null=True)
    client_host = CharField(null=True)
    sasl_username = CharField(null=True)
    size = IntegerField(null=True)
    nrcpt = IntegerField(null=True)
    linked_queue_id = CharField(null=True)
    message_ref = IntegerField(null=True)     # Message.id of a NOQUEUE reject; queue lines belong to legs
    server = CharField()                      # the mailcow server that logged it (last: migration 10 appends it)

    class Meta:
        # The unique key leads with the time: new lines append at the end of the index
        # instead of landing at random places in it (half the insert cost), and it serves
        # every time-ordered list. Columns that most lines leave empty get partial indexes.
        # Two servers may log the very same line in the same second: the server is in the key.
        indexes = (
            (("time", "line_key", "server"), True),
            (("queue_id", "time"), False),
        )


def _partial_index(model, *fields):
    model.add_index(model.index(*fields).where(fields[0].is_null(False)))


for _fields in ((PostfixLine.message_ref,), (PostfixLine.linked_queue_id,), (PostfixLine.sender, PostfixLine.time),
                (PostfixLine.recipient, PostfixLine.time), (PostfixLine.status, PostfixLine.time)):
    _partial_index(PostfixLine, *_fields)
# The NOQUEUE refusals by time: every correlation pass looks for the temporary ones its new legs
# retried (custody.retried_refusals), over hours of lines of which few are refusals.
PostfixLine.add_index(PostfixLine.index(PostfixLine.time, name="postfix_line_noqueue_time")
                      .where(PostfixLine.kind == "noqueue_reject"))


class RspamdRow(BaseModel):
    row_key = IntegerField()
    time = IntegerField()
    parsed = BooleanField(default=True)
    raw = TextField(null=True)                # the original row as JSON, when it could not be mapped
    message_id = CharField(null=True)         # with <> like Postfix logs it; None for "undef"
    subject = TextField(null=True)
    size = IntegerField(null=True)
    sender_smtp = CharField(null=True)
    sender_mime = CharField(null=True)
    recipients_smtp = TextField(null=True)    # JSON array
    recipients_mime = TextField(null=True)    # JSON array
    score = FloatField(null=True)
    required_score = FloatField(null=True)
    action = CharField(null=True)
    symbols = TextField(null=True)            # JSON object name -> {score, description?, options?}
    ip = CharField(null=True)
    user = CharField(null=True)
    is_spam = BooleanField(default=False)
    has_auth = BooleanField(default=False)
    direction = CharField(default="unknown")
    message_ref = IntegerField(null=True)
    server = CharField()

    class Meta:
        indexes = (
            (("time", "row_key", "server"), True),
            (("message_id",), False),
            (("sender_smtp", "time"), False),
            (("message_ref",), False),
        )


class NetfilterLine(BaseModel):
    line_key = IntegerField()
    time = IntegerField()
    priority = CharField()
    message = TextField()
    parsed = BooleanField(default=True)
    action = CharField(null=True)
    ip = CharField(null=True)
    network = CharField(null=True)
    rule_id = IntegerField(null=True)
    attempts_left = IntegerField(null=True)
    ban_minutes = IntegerField(null=True)
    username = CharField(null=True)
    auth_method = CharField(null=True)
    auth_failure = BooleanField(default=False)
    server = CharField()

    class Meta:
        indexes = (
            (("time", "line_key", "server"), True),
            (("ip", "time"), False),
            (("username", "time"), False),
            (("action", "time"), False),
            (("auth_failure", "time"), False),
        )


class DovecotLine(BaseModel):
    """A Dovecot line: LMTP deliveries with their Sieve verdict, logins, password checks."""
    line_key = IntegerField()
    time = IntegerField()
    priority = CharField()
    message = TextField()
    parsed = BooleanField(default=True)
    kind = CharField(null=True)               # lmtp | session | login | auth_failure | auth_check | other
    service = CharField(null=True)
    user = CharField(null=True)
    session = CharField(null=True)            # LMTP session id as Postfix's "250 2.0.0 <rcpt> ID Saved" names it
    message_id = CharField(null=True)
    action = CharField(null=True)
    folder = CharField(null=True)
    target = CharField(null=True)
    detail = TextField(null=True)
    ip = CharField(null=True)
    attempts = IntegerField(null=True)
    message_ref = IntegerField(null=True)     # the message delivered in this LMTP step (mailbox_stage)
    recipient = CharField(null=True)          # ... and its recipient as Postfix logged it (to=)
    linked_ref = IntegerField(null=True)      # the redirected copy or vacation reply this line sent
    server = CharField()

    class Meta:
        indexes = (
            (("time", "line_key", "server"), True),
            (("message_ref",), False),
            (("kind", "time"), False),
        )


for _fields in ((DovecotLine.session,), (DovecotLine.message_id, DovecotLine.time), (DovecotLine.user, DovecotLine.time),
                (DovecotLine.linked_ref,), (DovecotLine.ip, DovecotLine.time)):
    _partial_index(DovecotLine, *_fields)


class Message(BaseModel):
    correlation_key = CharField(unique=True)
    message_id = CharField(null=True)
    queue_id = CharField(null=True)           # the first queue id that carried it
    queue_ids = TextField(default="")         # every queue id, space separated (search, display)
    sender = CharField(null=True)
    recipients = TextField(default="")        # every known recipient, comma separated
    recipient_count = IntegerField(default=0)
    subject = TextField(null=True)
    direction = CharField(default="unknown")
    final_status = CharField(default="pending")
    is_complete = BooleanField(default=False)
    is_spam = BooleanField(default=False)
    spam_score = FloatField(null=True)
    user = CharField(null=True)
    ip = CharField(null=True)
    size = IntegerField(null=True)
    reject_reason = TextField(null=True)
    related_ref = IntegerField(null=True)     # for a non-delivery notice: the message it reports on
    related_kind = CharField(null=True)       # None: a notice; redirect | auto_reply: sent by the original's Sieve
    has_postfix = BooleanField(default=False)
    has_rspamd = BooleanField(default=False)
    expired_unlinked = BooleanField(default=False)
    first_seen = IntegerField()
    last_seen = IntegerField()
    updated_at = IntegerField()
    # The tiers (retention.py): once its raw lines are cleaned up a message is kept as computed,
    # with the Rspamd verdict's action and top symbols copied here before the rows went.
    # SQL defaults: the correlator creates messages with a raw INSERT that names older columns only.
    raw_lines_removed = BooleanField(default=False, constraints=[SQL("DEFAULT 0")])
    spam_action = CharField(null=True)
    spam_symbols = TextField(null=True)       # JSON array of [name, score], strongest first
    counted = BooleanField(default=False, constraints=[SQL("DEFAULT 0")])     # its outcome is in daily_count (daily_counts.py)
    # Where it entered our system: its first leg's server (or its NOQUEUE refusal's). Counted once, there.
    server = CharField()

    class Meta:
        indexes = (
            # Covers the hourly timeline (GROUP BY hour, SUM spam and failures) without table reads.
            (("first_seen", "is_spam", "final_status"), False),
            # The list's order (first_seen, then id): a deep page skips along this index alone.
            (("first_seen",), False),
            (("sender", "first_seen"), False),
            (("final_status", "first_seen"), False),
            (("direction", "first_seen"), False),
            (("user", "first_seen"), False),
            (("ip", "first_seen"), False),
            (("is_spam", "first_seen"), False),
            (("message_id",), False),
            (("related_ref",), False),
            (("is_complete", "first_seen"), False),
            (("server", "first_seen"), False),
        )


class Leg(BaseModel):
    """One use of a Postfix queue id: a message's hop through the queue."""
    queue_id = CharField()
    message_ref = IntegerField(null=True)
    role = CharField(default="primary")       # primary | retry | reinjected | relayed (from another of ours) | notice
    message_id = CharField(null=True)
    sender = CharField(null=True)
    client_ip = CharField(null=True)
    client_host = CharField(null=True)
    sasl_username = CharField(null=True)
    size = IntegerField(null=True)
    nrcpt = IntegerField(null=True)
    parent_queue_id = CharField(null=True)    # the queue id whose delivery said "queued as" this one
    notice_for = CharField(null=True)         # the queue id this non-delivery notice reports on
    removed = BooleanField(default=False)
    first_time = IntegerField()
    last_time = IntegerField()
    server = CharField()                      # queue ids are unique per server only

    class Meta:
        indexes = (
            (("queue_id", "first_time"), False),
            (("message_ref", "last_time"), False),
            (("message_id",), False),
            (("sender",), False),
        )


class Recipient(BaseModel):
    """One outcome per recipient of a message, the last status across all its legs."""
    message_ref = IntegerField()
    recipient = CharField()
    orig_to = CharField(null=True)
    status = CharField(default="pending")
    dsn = CharField(null=True)
    relay = CharField(null=True)
    delay = FloatField(null=True)
    reply = TextField(null=True)
    attempts = IntegerField(default=0)
    last_time = IntegerField(null=True)
    folder = CharField(null=True)             # the mailbox step (mailbox_stage): where Dovecot stored it
    redirected_to = TextField(null=True)      # comma separated addresses a Sieve redirect sent it to
    auto_reply = TextField(null=True)         # "sent to x" or "not sent: why"
    reason = TextField(null=True)             # plain words for a mailbox refusal (over quota, no such mailbox)

    class Meta:
        indexes = (
            (("message_ref", "recipient"), True),
            (("recipient", "message_ref"), False),
        )


_partial_index(Recipient, Recipient.orig_to, Recipient.message_ref)
_partial_index(Recipient, Recipient.folder, Recipient.message_ref)
Recipient.add_index(Recipient.index(Recipient.message_ref).where(Recipient.status == "discarded"))
# The recipients refused or bounced with a permanent code: the dashboard splits the week's
# refusals into permanent and temporary with one probe per refused message into this small
# index, not a read of its recipient rows (queries/statistics.py, `LIKE '5%'` as written here).
Recipient.add_index(Recipient.index(Recipient.message_ref, name="recipient_permanent_dsn")
                    .where(Recipient.dsn.startswith("5")))
# The messages the next clean-up marks (retention.py): a few days' worth, not the whole tier.
Message.add_index(Message.index(Message.first_seen, name="message_with_raw_lines")
                  .where(Message.raw_lines_removed == False))  # noqa: E712
# The delivery delays of insights (queries/insights.py) from the index alone (status in it
# too: SQLite reads the row to test a condition the partial index already implies).
Recipient.add_index(Recipient.index(Recipient.message_ref, Recipient.recipient, Recipient.delay, Recipient.status)
                    .where((Recipient.status == "delivered") & Recipient.delay.is_null(False)))
Message.add_index(Message.index(Message.expired_unlinked).where(Message.expired_unlinked == True))  # noqa: E712
# The messages no Postfix line has reached yet (an Rspamd scan alone, or just created): what
# the correlator looks at every cycle (never computed, expiry), a few rows, not the table.
Message.add_index(Message.index(Message.first_seen, name="message_without_postfix")
                  .where(Message.has_postfix == False))  # noqa: E712


class DailyCount(BaseModel):
    """Messages per UTC day, server and local party, kept after the messages (daily_counts.py).
    The key's columns are the dimensions."""
    day = IntegerField()                      # days since 1970-01-01 (UTC) of the message's first_seen
    server = CharField()                      # the message's entry server
    domain = CharField()
    mailbox = CharField()
    direction = CharField()
    status = CharField()
    messages = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("day", "server", "domain", "mailbox", "direction", "status")
        # The key alone: a filter by domain or mailbox reads the key over the days asked for;
        # an index per column would triple the bytes per row (bench/storage_tiers.py).
        without_rowid = True


class ImportState(BaseModel):
    server = CharField()
    source = CharField()                      # postfix | rspamd | netfilter | dovecot
    last_import = IntegerField(null=True)     # last time a fetch stored at least one new line
    last_fetch_run = IntegerField(null=True)
    last_error = TextField(null=True)
    unparsed = IntegerField(default=0)
    fetched = IntegerField(default=0)
    stored = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("server", "source")


class Gap(BaseModel):
    """Lines mailcow trimmed before we could fetch them."""
    source = CharField()
    start_time = IntegerField()
    end_time = IntegerField()
    estimated_missed = IntegerField()
    detected_at = IntegerField()
    server = CharField()


class LocalDomain(BaseModel):
    domain = CharField(primary_key=True)
    kind = CharField(default="domain")        # domain | alias
    updated_at = IntegerField()


class State(BaseModel):
    key = CharField(primary_key=True)
    value = TextField()


class Alert(BaseModel):
    """One alert: opened once per key, updated while its condition holds, resolved after it cleared."""
    key = CharField()                         # dedupe key, e.g. "domain_bounce:gmail.com"
    rule = CharField()
    severity = CharField(default="warning")   # warning | critical
    state = CharField(default="open")         # open | resolved
    title = TextField()
    detail = TextField(default="")
    count = IntegerField(default=0)           # the measured volume at the last evaluation
    peak = IntegerField(default=0)
    updates = IntegerField(default=0)         # evaluations that saw the condition while open
    message_keys = TextField(default="")      # correlation keys behind it, space separated (at most 20)
    link = TextField(default="")              # path into the UI showing what is behind it
    opened_at = IntegerField()
    last_seen = IntegerField()
    clear_since = IntegerField(null=True)     # first evaluation that no longer saw it (grace period)
    resolved_at = IntegerField(null=True)

    class Meta:
        indexes = ((("state", "key"), False), (("opened_at",), False))


class AlertNotification(BaseModel):
    """The outbox: one row per event and channel, written by the writer, sent by the sender threads."""
    alert_ref = IntegerField(null=True)       # None for digests
    event = CharField()                       # opened | resolved | digest
    channel = CharField()
    payload = TextField()                     # JSON: what the channel formats
    status = CharField(default="pending")     # pending | delivered | failed
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    created_at = IntegerField()
    delivered_at = IntegerField(null=True)

    class Meta:
        indexes = ((("status", "created_at"), False), (("alert_ref",), False))


class AuditEvent(BaseModel):
    """Who signed in (or failed to) and what they exported: the admin's audit log (audit.py)."""
    time = IntegerField()
    event = CharField()                       # sign_in | sign_in_failed | sign_out | export
    username = CharField(default="")          # the admin's name or the mailbox; "" when unknown
    role = CharField(default="")              # admin | domain_admin | mailbox
    method = CharField(default="")            # password | mailcow
    client = CharField(default="")            # the client address (auth.client_address)
    detail = TextField(default="")            # what was exported with which filters, why a sign-in failed

    class Meta:
        indexes = ((("time",), False),)


LOG_TABLES = (PostfixLine, RspamdRow, NetfilterLine, DovecotLine)
ALERT_TABLES = (Alert, AlertNotification)
ALL_TABLES = (PostfixLine, RspamdRow, NetfilterLine, DovecotLine, Message, Leg, Recipient, ImportState, Gap, LocalDomain,
              State, *ALERT_TABLES, DailyCount, AuditEvent)
