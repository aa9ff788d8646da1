"""Message filters by who a message involves or why it failed: `domain=`, `mailbox=`, `reason=`.

They are the links behind every count on the insights and top-reasons tables, so they use
the same definitions as queries/insights.py: a message involves a mailbox when it is the envelope
sender or one of the final recipients, and a domain likewise (by the part after the `@`);
a message failed for a reason when one of its failed recipients (or, refused before any
recipient, the message itself) has that `reasons.reason_key`.
"""
from __future__ import annotations

from peewee import SQL, NodeList, fn

from .models import Message, Recipient
from .reasons import FAILED
from .search import fts_phrase


def _like_suffix(field, value: str):
    pattern = "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return NodeList((field, SQL("LIKE ? ESCAPE '\\'", (pattern,))))


def _some_recipient(condition):
    return fn.EXISTS(Recipient.select(SQL("1")).where((Recipient.message_ref == Message.id) & condition))


def domain_expr(domain: str, some_recipient=_some_recipient, role: str | None = None):
    """Sent by or to `domain`; with role "sender" (or "recipients") only sent by (or only to) it:
    the insights' sent and received counts, behind `sender=@domain` and `recipient=@domain`."""
    domain = "@" + domain.strip().lstrip("@").lower()
    sent = _like_suffix(Message.sender, domain)
    received = some_recipient(_like_suffix(Recipient.recipient, domain))
    exact = sent if role == "sender" else received if role == "recipients" else sent | received
    if len(domain) < 3:
        return exact
    # The trigram index narrows to messages mentioning "@domain" before the exact suffix test.
    columns = role or "{sender recipients}"
    narrowed = Message.id.in_(SQL("(SELECT rowid FROM message_fts WHERE message_fts MATCH ?)",
                                  (f"{columns} : " + fts_phrase(domain),)))
    return narrowed & exact


def mailbox_expr(address: str, some_recipient=_some_recipient):
    forms = list({address.strip(), address.strip().lower()})
    return Message.sender.in_(forms) | some_recipient(Recipient.recipient.in_(forms))


def reason_expr(reason: str, some_recipient=_some_recipient):
    failed = some_recipient(Recipient.status.in_(FAILED)
                             & (fn.reason_key(Recipient.dsn, fn.COALESCE(Recipient.reply, Message.reject_reason)) == reason))
    refused = (Message.recipient_count == 0) & (Message.final_status == "rejected") & (fn.reason_key(None, Message.reject_reason) == reason)
    return failed | refused


def scope_filters(args: dict, some_recipient=_some_recipient) -> list:
    """`some_recipient(condition)`: how a recipient is matched; the caller's Scope passes its own
    (only the recipients that caller may see count)."""
    return [expr(args[name], some_recipient) for name, expr in (("domain", domain_expr), ("mailbox", mailbox_expr),
                                                                ("reason", reason_expr)) if args.get(name)]
