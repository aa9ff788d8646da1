"""The messages list and the rows every message answer shares (list, activity, details)."""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from ..models import Message, Recipient
from ..reasons import FAILED, failing_first, reason_key, short_reason
from .counts import capped_count, hourly_counts, hourly_metric
from .filters import filtered_messages, searched_in_indexes_only
from .results import INLINE, iso, named_rows, page_of
from .scope import Scope

NEWEST_FIRST = (Message.first_seen.desc(), Message.id.desc())
WALK_PER_MATCH = 10


@dataclass
class MailboxStep:
    """What Dovecot did with a delivered recipient (the mailbox stage; null without a Dovecot line)."""
    folder: str | None
    redirected_to: list[str]
    auto_reply: str | None
    reason: str | None


def mailbox_step(outcome: Recipient) -> MailboxStep:
    return MailboxStep(outcome.folder, [a for a in (outcome.redirected_to or "").split(", ") if a],
                       outcome.auto_reply, outcome.reason)


@dataclass
class OutcomeBrief:
    recipient: str
    status: str
    dsn: str | None
    reply: str | None              # shortened, failed recipients only
    step: MailboxStep = field(metadata=INLINE)


@dataclass
class MessageSummary:
    correlation_key: str
    message_id: str | None
    queue_id: str | None
    sender: str | None
    recipient: str | None          # the first recipient
    subject: str | None
    direction: str
    final_status: str
    is_complete: bool
    first_seen: str
    last_seen: str
    spam_score: float | None
    is_spam: bool
    user: str | None
    ip: str | None
    recipients: list[str]
    recipient_count: int
    queue_ids: list[str]
    size: int | None
    reject_reason: str | None
    server: str                    # the mailcow server where it entered (README, counting rules)


@dataclass
class MessageListItem(MessageSummary):
    outcomes: list[OutcomeBrief]
    reason: str | None             # why it failed, shortened (reasons.short_reason)
    reason_key: str | None         # the normalised reason the reason= filter and top reasons use


@dataclass
class ExportedMessage(MessageListItem):
    """A messages CSV row: the list item and its first listed recipient's DSN and relay."""
    first_dsn: str | None
    first_relay: str | None


@dataclass
class Page:
    """One page of a list: `data` holds the rows, `total` all that match (capped for a search)."""
    total: int
    page: int
    limit: int
    pages: int
    data: list


def make_page(total: int, page: int, limit: int, data: list) -> Page:
    return Page(total, page, limit, (total + limit - 1) // limit if total else 0, data)


def recipients_of(message: Message, visible: frozenset[str] | None = None) -> list[str]:
    """The message's recipients; only those in `visible` (lower case) unless it is None."""
    return [r for r in (message.recipients or "").split(", ") if r and (visible is None or r.lower() in visible)]


def only_visible(outcomes: list[Recipient], visible: frozenset[str] | None) -> list[Recipient]:
    return outcomes if visible is None else [o for o in outcomes if o.recipient.lower() in visible]


def summary_fields(message: Message, visible: frozenset[str] | None = None) -> dict:
    """The fields every message answer shares; with `visible` (Scope.visible_recipients) the
    other recipients are left out and stay only in recipient_count."""
    recipients = recipients_of(message, visible)
    return dict(
        correlation_key=message.correlation_key, message_id=message.message_id, queue_id=message.queue_id,
        sender=message.sender, recipient=recipients[0] if recipients else None, subject=message.subject,
        direction=message.direction, final_status=message.final_status, is_complete=message.is_complete,
        first_seen=iso(message.first_seen), last_seen=iso(message.last_seen), spam_score=message.spam_score,
        is_spam=message.is_spam, user=message.user, ip=message.ip, recipients=recipients,
        recipient_count=message.recipient_count,
        queue_ids=message.queue_ids.split() if message.queue_ids else [], size=message.size,
        reject_reason=message.reject_reason, server=message.server)


def count_messages(scope: Scope, args: dict, cap: int | None = None) -> int:
    # The hourly counters count every message (per server): they answer only for a caller who sees all.
    metric = hourly_metric(args) if scope.is_admin else None
    if metric is not None:
        return hourly_counts(args.get("start_date"), args.get("end_date"), scope)[metric]
    return capped_count(filtered_messages(scope, args, (Message.id,)), cap)


def outcomes_by_message(message_ids: list[int]) -> dict[int, list[Recipient]]:
    """Per-recipient outcomes for a page of messages in one query."""
    result: dict[int, list[Recipient]] = {m: [] for m in message_ids}
    if message_ids:
        # Named tuples, not model instances: the answers only read the fields, and building a
        # Peewee model per row was most of a list page's Python time (issue 17).
        query = Recipient.select().where(Recipient.message_ref.in_(message_ids)).order_by(Recipient.id)
        for row in named_rows(query, Recipient):
            result[row.message_ref].append(row)
    return result


def list_item(scope: Scope, message: Message, outcomes: list[Recipient]) -> MessageListItem:
    """A message with its outcomes, failed recipients first (a bounce must never hide behind
    "+2 more"), and the reason of its first failure (or of the refusal before any recipient).
    The caller sees the outcomes of the recipients their scope shows."""
    visible = scope.visible_recipients(message.sender, outcomes)
    ordered = failing_first(only_visible(outcomes, visible))
    failed = next((o for o in ordered if o.status in FAILED), None)
    text = (failed.reply or message.reject_reason) if failed else (None if ordered else message.reject_reason)
    return MessageListItem(
        **summary_fields(message, visible),
        outcomes=[OutcomeBrief(o.recipient, o.status, o.dsn, short_reason(o.reply) if o.status in FAILED else None,
                               mailbox_step(o)) for o in ordered],
        reason=short_reason(text),
        reason_key=reason_key(failed.dsn if failed else None, text) if text else None)


def message_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    """GET /api/messages: a page of messages, newest first, with their per-recipient outcomes.

    A text search stops counting at `search_cap` (MAX_SEARCH_RESULTS): the page itself is
    found from the newest end, but an exact total would walk every match."""
    page, limit = args["page"], args["limit"]
    total = count_messages(scope, args, search_cap if args.get("search") else None)
    offset = (page - 1) * limit
    # The first page of a text search (what nearly every search shows) is looked for among the
    # newest messages first, as many as ten per match counted: walking an index entry costs
    # about a tenth of looking a match up, while the search is the only condition (any other
    # reads each message's row). Deeper pages would walk past too many.
    walk = ("message_first_seen", Message.first_seen, WALK_PER_MATCH * max(total, 1)) \
        if offset == 0 and searched_in_indexes_only(scope, args) else None
    rows = [] if offset >= total and not args.get("search") else \
        list(named_rows(page_of(filtered_messages(scope, args), NEWEST_FIRST, offset, limit, Message, walk,
                                trusted=scope.is_admin), Message))
    outcomes = outcomes_by_message([m.id for m in rows])
    data = [list_item(scope, m, outcomes[m.id]) for m in rows]
    return make_page(total, page, limit, data)


def messages_for_export(scope: Scope, args: dict, limit: int, chunk: int = 500):
    """The messages CSV: the list's filters and order, at most `limit` rows, streamed; the
    outcomes are read per chunk of messages, not per message."""
    query = named_rows(filtered_messages(scope, args).order_by(*NEWEST_FIRST).limit(limit), Message)
    while rows := list(islice(query, chunk)):
        outcomes = outcomes_by_message([m.id for m in rows])
        for m in rows:
            item = list_item(scope, m, outcomes[m.id])
            first = failing_first(only_visible(outcomes[m.id], scope.visible_recipients(m.sender, outcomes[m.id])))[:1]
            yield ExportedMessage(**vars(item), first_dsn=first[0].dsn if first else None,
                                  first_relay=first[0].relay if first else None)
