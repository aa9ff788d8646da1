"""The messages list and the rows every message answer shares (list, activity, details)."""
from __future__ import annotations

from dataclasses import dataclass

from ..models import Message, Recipient
from .counts import capped_count, hourly_counts, hourly_metric
from .filters import filtered_messages
from .results import iso, page_of
from .scope import Scope

NEWEST_FIRST = (Message.first_seen.desc(), Message.id.desc())


@dataclass
class OutcomeBrief:
    recipient: str
    status: str


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


@dataclass
class MessageListItem(MessageSummary):
    outcomes: list[OutcomeBrief]


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


def recipients_of(message: Message) -> list[str]:
    return [r for r in (message.recipients or "").split(", ") if r]


def summary_fields(message: Message) -> dict:
    recipients = recipients_of(message)
    return dict(
        correlation_key=message.correlation_key, message_id=message.message_id, queue_id=message.queue_id,
        sender=message.sender, recipient=recipients[0] if recipients else None, subject=message.subject,
        direction=message.direction, final_status=message.final_status, is_complete=message.is_complete,
        first_seen=iso(message.first_seen), last_seen=iso(message.last_seen), spam_score=message.spam_score,
        is_spam=message.is_spam, user=message.user, ip=message.ip, recipients=recipients,
        recipient_count=message.recipient_count,
        queue_ids=message.queue_ids.split() if message.queue_ids else [], size=message.size,
        reject_reason=message.reject_reason)


def message_summary(message: Message) -> MessageSummary:
    return MessageSummary(**summary_fields(message))


def count_messages(scope: Scope, args: dict, cap: int | None = None) -> int:
    # The hourly counters count every message: they answer only for a caller who sees all.
    metric = hourly_metric(args) if not scope.message_filter() else None
    if metric is not None:
        return hourly_counts(args.get("start_date"), args.get("end_date"))[metric]
    return capped_count(filtered_messages(scope, args, (Message.id,)), cap)


def outcomes_by_message(message_ids: list[int]) -> dict[int, list[Recipient]]:
    """Per-recipient outcomes for a page of messages in one query."""
    result: dict[int, list[Recipient]] = {m: [] for m in message_ids}
    if message_ids:
        for row in Recipient.select().where(Recipient.message_ref.in_(message_ids)).order_by(Recipient.id):
            result[row.message_ref].append(row)
    return result


def message_page(scope: Scope, args: dict, search_cap: int | None) -> Page:
    """GET /api/messages: a page of messages, newest first, with their per-recipient outcomes.

    A text search stops counting at `search_cap` (MAX_SEARCH_RESULTS): the page itself is
    found from the newest end, but an exact total would walk every match."""
    page, limit = args["page"], args["limit"]
    total = count_messages(scope, args, search_cap if args.get("search") else None)
    offset = (page - 1) * limit
    rows = [] if offset >= total and not args.get("search") else \
        list(page_of(filtered_messages(scope, args), NEWEST_FIRST, offset, limit, Message))
    outcomes = outcomes_by_message([m.id for m in rows])
    data = [MessageListItem(**summary_fields(m), outcomes=[OutcomeBrief(o.recipient, o.status) for o in outcomes[m.id]])
            for m in rows]
    return make_page(total, page, limit, data)


def messages_for_export(scope: Scope, args: dict, limit: int):
    """The messages CSV: the list's filters and order, at most `limit` rows, streamed."""
    return (message_summary(m) for m in
            filtered_messages(scope, args).order_by(*NEWEST_FIRST).limit(limit).iterator())
