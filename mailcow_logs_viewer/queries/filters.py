"""Filters and searches as Peewee expressions: every list, its total and its CSV ask these.

Every message filter maps onto an index: status, direction, user, ip and the time range use
(column, first_seen) indexes; sender, recipient and text search use the trigram FTS index,
so that `sender=` and `search=` stay fast at hundreds of thousands of messages and see
every recipient, not only the first. The caller's scope joins the conditions here.
"""
from __future__ import annotations

import json
from functools import reduce
from operator import and_, or_

from peewee import SQL, NodeList, fn

from ..message_scopes import domain_expr, scope_filters
from ..models import DovecotLine, Leg, Message, NetfilterLine, PostfixLine, Recipient, RspamdRow
from ..search import Term, fts_phrase, like_pattern, parse
from .scope import ADMIN, Scope

MIN_TRIGRAM = 3
_FTS_COLUMN = {"from": "sender", "to": "recipients", "subject": "subject", "msgid": "message_id",
               "queue": "queue_ids", "user": "user", "ip": "ip"}
_TEXT_COLUMNS = ("sender", "recipients", "subject", "message_id", "queue_ids", "reject_reason")
# Every indexed column but the recipients (an FTS5 column filter): what a caller who may not
# see every recipient searches as text.
_OTHER_COLUMNS_LIST = ("sender", "subject", "message_id", "queue_ids", "user", "ip", "reject_reason")
_OTHER_COLUMNS = "{" + " ".join(_OTHER_COLUMNS_LIST) + "}"


def _fts(value: str, column: str | None = None):
    """message.id IN the FTS rows matching `value` (a substring, via trigrams)."""
    match = f"{column} : {fts_phrase(value)}" if column else fts_phrase(value)
    return Message.id.in_(SQL("(SELECT rowid FROM message_fts WHERE message_fts MATCH ?)", (match,)))


def _negated(expr):
    """NOT expr, where a NULL column counts as not matching: `-from:alice` lists the lines and
    messages without a sender too (plain NOT would drop them with the NULL it yields)."""
    return ~fn.COALESCE(expr, False)


def _like(field, value: str):
    return NodeList((field, SQL("LIKE ? ESCAPE '\\'", (like_pattern(value),))))


def _substring(value: str, columns: tuple[str, ...]):
    return reduce(or_, [_like(getattr(Message, c), value) for c in columns])


def _some_recipient(condition, scope: Scope):
    """Messages with a recipient meeting `condition`: for the admin through the recipient
    index; for anyone else only the recipients their scope shows count (Scope.recipient_exists)."""
    if scope.is_admin:
        return Message.id.in_(Recipient.select(Recipient.message_ref).where(condition))
    return scope.recipient_exists(condition)


def _text_match(value: str, column: str | None, scope: Scope = ADMIN):
    if not scope.is_admin and column in (None, "recipients"):
        # The recipients column holds every recipient: others' addresses are matched row by row.
        others = _some_recipient(_like(Recipient.recipient, value), scope)
        return others if column else _text_match(value, _OTHER_COLUMNS) | others
    # Trigrams need three characters; shorter values fall back to a scan, which is rare.
    if len(value) >= MIN_TRIGRAM:
        return _fts(value, column)
    columns = _TEXT_COLUMNS if column is None else _OTHER_COLUMNS_LIST if column == _OTHER_COLUMNS else (column,)
    return _substring(value, columns)


def _address_match(value: str, column: str, scope: Scope = ADMIN):
    """A whole address is looked up through an index (the common case, and trigrams of
    `@example.org` match nearly every message); a part of one is a substring search."""
    if "@" in value and "." in value.rsplit("@", 1)[-1]:
        addresses = {value, value.lower()}
        if column == "sender":
            return Message.sender.in_(addresses)
        # orig_to: the address the sender used when an alias rewrote it
        if not scope.is_admin:
            return _some_recipient(Recipient.recipient.in_(addresses) | Recipient.orig_to.in_(addresses), scope)
        return Message.id.in_(Recipient.select(Recipient.message_ref).where(Recipient.recipient.in_(addresses))
                              | Recipient.select(Recipient.message_ref).where(Recipient.orig_to.in_(addresses)))
    return _text_match(value, column, scope)


def _address_filter(value: str, column: str, scope: Scope = ADMIN):
    """`sender=` and `recipient=`: `@example.org` alone is that domain (a final recipient's, for
    `recipients`), the insights' sent and received links; the search's `from:` keeps "contains"."""
    if value.startswith("@") and value.count("@") == 1 and "." in value:
        if scope.is_admin:
            return domain_expr(value, role=column)
        return domain_expr(value, lambda condition: _some_recipient(condition, scope), role=column)
    return _address_match(value, column, scope)


def _status_expr(value: str, scope: Scope = ADMIN):
    value = value.lower()
    if value == "spam":
        return Message.is_spam == True  # noqa: E712
    if value == "discarded":
        # A Sieve discard of one recipient is worth finding even when others kept the message.
        return _some_recipient(Recipient.status == "discarded", scope)
    return Message.final_status == value


def _folder_expr(value: str, scope: Scope = ADMIN):
    """folder:Junk -> messages with a recipient Dovecot stored in that folder (the mailbox stage)."""
    return _some_recipient(Recipient.folder.is_null(False) & (Recipient.folder == value), scope)


def message_term(term: Term, scope: Scope = ADMIN):
    if term.field == "status":
        expr = _status_expr(term.value, scope)
    elif term.field == "folder":
        expr = _folder_expr(term.value, scope)
    elif term.field in ("from", "to"):
        expr = _address_match(term.value, _FTS_COLUMN[term.field], scope)
    elif term.field is None:
        expr = _text_match(term.value, None, scope) | _beyond_fts(term.value, scope)
    else:
        expr = _text_match(term.value, _FTS_COLUMN.get(term.field), scope)
    return _negated(expr) if term.negated else expr


def _beyond_fts(value: str, scope: Scope = ADMIN):
    """A plain word also finds what an admin searches for in the recipients' outcomes: the
    remote server's reply ("User unknown", `greylisted`, the remote queue id) and the address
    before alias rewriting, through their own trigram index (db.RECIPIENT_FTS_COLUMNS); the
    refusal text is in the messages' index."""
    if len(value) >= MIN_TRIGRAM:
        matching = SQL("(SELECT rowid FROM recipient_fts WHERE recipient_fts MATCH ?)", (fts_phrase(value),))
        return _some_recipient(Recipient.id.in_(matching), scope)
    return _some_recipient(_like(Recipient.orig_to, value) | _like(Recipient.reply, value), scope)


def compile_search(query: str, term_expr):
    """The whole search as one expression (None when empty) using `term_expr` per term."""
    clauses = [reduce(or_, [term_expr(t) for t in clause]) for clause in parse(query)]
    return reduce(and_, clauses) if clauses else None


def search_and_dates(args: dict, term_expr, time_field) -> list:
    """What every list shares: the search syntax and the date range on its time column."""
    where = []
    if args.get("search"):
        expr = compile_search(args["search"], term_expr)
        if expr is not None:
            where.append(expr)
    if args.get("start_date") is not None:
        where.append(time_field >= args["start_date"])
    if args.get("end_date") is not None:
        where.append(time_field <= args["end_date"])
    return where


def message_filters(scope: Scope, args: dict) -> list:
    where = scope.message_filter() + search_and_dates(args, lambda term: message_term(term, scope), Message.first_seen)
    if args.get("sender"):
        where.append(_address_filter(args["sender"], "sender", scope))
    if args.get("recipient"):
        where.append(_address_filter(args["recipient"], "recipients", scope))
    if args.get("direction"):
        where.append(Message.direction == args["direction"])
    if args.get("status"):
        where.append(_status_expr(args["status"], scope))
    if args.get("user"):
        where.append(Message.user == args["user"])
    if args.get("ip"):
        where.append(Message.ip == args["ip"])
    return where + (scope_filters(args) if scope.is_admin else
                    scope_filters(args, lambda condition: _some_recipient(condition, scope)))


# The search fields an admin's term is answered for from the trigram indexes alone.
_INDEX_ONLY_FIELDS = {None, "subject", "msgid", "queue", "user", "ip"}


def searched_in_indexes_only(scope: Scope, args: dict) -> bool:
    """Whether the messages' only condition is an admin's text search whose every term the
    trigram indexes answer, so testing a message against it reads no message row (what the
    first search page's walk along the list's index relies on: queries/results.page_of)."""
    clauses = parse(args["search"]) if scope.is_admin and args.get("search") else []
    # A search of no terms (`OR`) is no condition: the one left would be another filter's.
    if not clauses or len(message_filters(scope, args)) != 1:
        return False
    return all(term.field in _INDEX_ONLY_FIELDS and len(term.value) >= MIN_TRIGRAM for clause in clauses for term in clause)


def filtered_messages(scope: Scope, args: dict, fields=None):
    query = Message.select(*(fields or ()))
    where = message_filters(scope, args)
    if where:
        query = query.where(reduce(and_, where))
    return query



# ------------------------------------------------------------------ log lists

def _log_term(fields: dict, anywhere: tuple, exact: tuple = ()):
    """The search-term compiler of a log table: `field:value` looks in that field's column
    (whole values for the fields in `exact`), a plain word in any of the `anywhere` columns."""
    def term_expr(term: Term):
        column = fields.get(term.field)
        if column is None:
            expr = reduce(or_, [_like(c, term.value) for c in anywhere])
        elif term.field in exact:
            expr = column == term.value
        else:
            expr = _like(column, term.value)
        return _negated(expr) if term.negated else expr
    return term_expr


postfix_term = _log_term(
    {"from": PostfixLine.sender, "to": PostfixLine.recipient, "queue": PostfixLine.queue_id,
     "msgid": PostfixLine.message_id, "ip": PostfixLine.client_ip, "user": PostfixLine.sasl_username,
     "status": PostfixLine.status}, (PostfixLine.message, PostfixLine.program), exact=("status",))
rspamd_term = _log_term(
    {"from": RspamdRow.sender_smtp, "to": RspamdRow.recipients_smtp, "subject": RspamdRow.subject,
     "msgid": RspamdRow.message_id, "ip": RspamdRow.ip, "user": RspamdRow.user, "status": RspamdRow.action},
    (RspamdRow.subject, RspamdRow.sender_smtp, RspamdRow.message_id, RspamdRow.recipients_smtp))
netfilter_term = _log_term(
    {"ip": NetfilterLine.ip, "user": NetfilterLine.username, "status": NetfilterLine.action},
    (NetfilterLine.message, NetfilterLine.ip, NetfilterLine.username))


dovecot_term = _log_term(
    {"user": DovecotLine.user, "msgid": DovecotLine.message_id, "ip": DovecotLine.ip, "folder": DovecotLine.folder,
     "status": DovecotLine.action}, (DovecotLine.message,), exact=("status", "folder"))


def dovecot_filters(scope: Scope, args: dict) -> list:
    where = scope.line_filter(DovecotLine) + search_and_dates(args, dovecot_term, DovecotLine.time)
    for name, column in (("user", DovecotLine.user), ("message_id", DovecotLine.message_id),
                         ("session", DovecotLine.session), ("kind", DovecotLine.kind),
                         ("action", DovecotLine.action)):
        if args.get(name):
            where.append(column == (args[name].lower() if name == "user" else args[name]))
    return where


def postfix_filters(scope: Scope, args: dict) -> list:
    where = scope.line_filter(PostfixLine) + search_and_dates(args, postfix_term, PostfixLine.time)
    if args.get("sender"):
        queues = Leg.select(Leg.queue_id).where(Leg.sender == args["sender"])
        where.append((PostfixLine.sender == args["sender"]) | PostfixLine.queue_id.in_(queues))
    if args.get("recipient"):
        where.append((PostfixLine.recipient == args["recipient"]) | (PostfixLine.orig_to == args["recipient"]))
    if args.get("status"):
        if args["status"] == "rejected":
            where.append(PostfixLine.kind.in_(("noqueue_reject", "reject", "milter_reject")))
        else:
            where.append(PostfixLine.status == args["status"])
    if args.get("queue_id"):
        where.append(PostfixLine.queue_id == args["queue_id"])
    if args.get("program"):
        program = args["program"].strip()
        where.append(PostfixLine.program.in_({program, "postfix/" + program}))
    return where


def rspamd_filters(scope: Scope, args: dict) -> list:
    where = scope.line_filter(RspamdRow) + search_and_dates(args, rspamd_term, RspamdRow.time)
    if args.get("sender"):
        where.append(RspamdRow.sender_smtp == args["sender"])
    if args.get("direction"):
        where.append(RspamdRow.direction == args["direction"])
    if args.get("min_score") is not None:
        where.append(RspamdRow.score >= args["min_score"])
    if args.get("max_score") is not None:
        where.append(RspamdRow.score <= args["max_score"])
    if args.get("action"):
        where.append(RspamdRow.action == args["action"])
    if args.get("is_spam") is not None:
        where.append(RspamdRow.is_spam == args["is_spam"])
    if args.get("symbol"):
        # symbols is a JSON object keyed by name: the quoted name followed by its colon is that key.
        where.append(_like(RspamdRow.symbols, json.dumps(args["symbol"]) + ":"))
    return where


def netfilter_filters(scope: Scope, args: dict) -> list:
    where = scope.line_filter(NetfilterLine) + search_and_dates(args, netfilter_term, NetfilterLine.time)
    if args.get("ip"):
        where.append(NetfilterLine.ip == args["ip"])
    if args.get("username"):
        where.append(NetfilterLine.username == args["username"])
    if args.get("action"):
        if args["action"] == "auth_failure":
            where.append(NetfilterLine.auth_failure == True)  # noqa: E712
        else:
            where.append(NetfilterLine.action == args["action"])
    return where


def select_where(model, where: list, *fields):
    query = model.select(*fields)
    return query.where(reduce(and_, where)) if where else query
