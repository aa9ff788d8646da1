"""Message filters and searches as Peewee expressions, shared by the API and the CSV export.

Every filter maps onto an index: status, direction, user, ip and the time range use
(column, first_seen) indexes; sender, recipient and text search use the trigram FTS index,
so that `sender=` and `search=` stay fast at hundreds of thousands of messages and see
every recipient, not only the first.
"""
from __future__ import annotations

import json
from functools import reduce
from operator import and_, or_

from peewee import SQL, NodeList

from .db import database
from .models import DovecotLine, Leg, Message, NetfilterLine, PostfixLine, Recipient, RspamdRow
from .message_scopes import scope_filters
from .search import Term, fts_phrase, like_pattern, parse

MIN_TRIGRAM = 3
_FTS_COLUMN = {"from": "sender", "to": "recipients", "subject": "subject", "msgid": "message_id",
               "queue": "queue_ids", "user": "user", "ip": "ip"}
_TEXT_COLUMNS = ("sender", "recipients", "subject", "message_id", "queue_ids")
STATUSES = ("delivered", "discarded", "bounced", "deferred", "rejected", "pending", "spam")
DIRECTIONS = ("inbound", "outbound", "internal", "unknown")


def _fts(value: str, column: str | None = None):
    """message.id IN the FTS rows matching `value` (a substring, via trigrams)."""
    match = f"{column} : {fts_phrase(value)}" if column else fts_phrase(value)
    return Message.id.in_(SQL("(SELECT rowid FROM message_fts WHERE message_fts MATCH ?)", (match,)))


def _like(field, value: str):
    return NodeList((field, SQL("LIKE ? ESCAPE '\\'", (like_pattern(value),))))


def _substring(value: str, columns: tuple[str, ...]):
    return reduce(or_, [_like(getattr(Message, c), value) for c in columns])


def _text_match(value: str, column: str | None):
    # Trigrams need three characters; shorter values fall back to a scan, which is rare.
    if len(value) >= MIN_TRIGRAM:
        return _fts(value, column)
    return _substring(value, (column,) if column else _TEXT_COLUMNS)


def _address_match(value: str, column: str):
    """A whole address is looked up through an index (the common case, and trigrams of
    `@example.org` match nearly every message); a part of one is a substring search."""
    if "@" in value and "." in value.rsplit("@", 1)[-1]:
        addresses = {value, value.lower()}
        if column == "sender":
            return Message.sender.in_(addresses)
        # orig_to: the address the sender used when an alias rewrote it
        return Message.id.in_(Recipient.select(Recipient.message_ref).where(Recipient.recipient.in_(addresses))
                              | Recipient.select(Recipient.message_ref).where(Recipient.orig_to.in_(addresses)))
    return _text_match(value, column)


def _status_expr(value: str):
    value = value.lower()
    if value == "spam":
        return Message.is_spam == True  # noqa: E712
    if value == "discarded":
        # A Sieve discard of one recipient is worth finding even when others kept the message.
        return Message.id.in_(Recipient.select(Recipient.message_ref).where(Recipient.status == "discarded"))
    return Message.final_status == value


def _folder_expr(value: str):
    """folder:Junk -> messages with a recipient Dovecot stored in that folder (the mailbox stage)."""
    return Message.id.in_(Recipient.select(Recipient.message_ref).where(Recipient.folder.is_null(False),
                                                                         Recipient.folder == value))


def message_term(term: Term):
    if term.field == "status":
        expr = _status_expr(term.value)
    elif term.field == "folder":
        expr = _folder_expr(term.value)
    elif term.field in ("from", "to"):
        expr = _address_match(term.value, _FTS_COLUMN[term.field])
    elif term.field is None:
        expr = _text_match(term.value, None) | _beyond_fts(term.value)
    else:
        expr = _text_match(term.value, _FTS_COLUMN.get(term.field))
    return ~expr if term.negated else expr


def _beyond_fts(value: str):
    """A plain word also finds what an admin searches for outside the indexed columns: the
    address before alias rewriting, the refusal text and the remote server's reply
    (`spamhaus`, "User unknown", `greylisted`)."""
    return (_like(Message.reject_reason, value)
            | Message.id.in_(Recipient.select(Recipient.message_ref)
                             .where(_like(Recipient.orig_to, value) | _like(Recipient.reply, value))))


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


def message_filters(args: dict) -> list:
    where = search_and_dates(args, message_term, Message.first_seen)
    if args.get("sender"):
        where.append(_address_match(args["sender"], "sender"))
    if args.get("recipient"):
        where.append(_address_match(args["recipient"], "recipients"))
    if args.get("direction"):
        where.append(Message.direction == args["direction"])
    if args.get("status"):
        where.append(_status_expr(args["status"]))
    if args.get("user"):
        where.append(Message.user == args["user"])
    if args.get("ip"):
        where.append(Message.ip == args["ip"])
    return where + scope_filters(args)


def filtered_messages(args: dict, fields=None):
    query = Message.select(*(fields or ()))
    where = message_filters(args)
    if where:
        query = query.where(reduce(and_, where))
    return query


HOURLY_METRICS = ("total", "spam", "bounced", "rejected", "inbound", "outbound", "internal")
_ROW_SUMS = ("COUNT(*), SUM(is_spam), SUM(final_status = 'bounced'), SUM(final_status = 'rejected'), "
             "SUM(direction = 'inbound'), SUM(direction = 'outbound'), SUM(direction = 'internal')")
HOUR = 3600


def hourly_counts(start: int | None = None, end: int | None = None) -> dict[str, int]:
    """Messages whose first time is within [start, end], by metric: whole hours from the
    trigger-kept hourly counters, the parts of an hour at either edge counted exactly from
    the first_seen index. Cost grows with the hours in the range, not with the messages."""
    low = -(-start // HOUR) if start is not None else None       # first whole hour inside
    high = (end + 1) // HOUR if end is not None else None        # first hour past the last whole one
    if low is not None and high is not None and low >= high:
        return _row_counts(start, end)                           # no whole hour inside
    where = " AND ".join(c for c, v in (("hour >= ?", low), ("hour < ?", high)) if v is not None)
    sums = ", ".join(f"COALESCE(SUM({m}), 0)" for m in HOURLY_METRICS)
    row = database.execute_sql(f"SELECT {sums} FROM message_hour" + (f" WHERE {where}" if where else ""),
                               [v for v in (low, high) if v is not None]).fetchone()
    counts = dict(zip(HOURLY_METRICS, row))
    for edge in ((start, low * HOUR - 1) if low is not None else None, (high * HOUR, end) if high is not None else None):
        if edge is not None:
            for metric, value in _row_counts(*edge).items():
                counts[metric] += value
    return counts


def auth_failure_count(start: int, end: int | None = None) -> int:
    """Auth failures in [start, end]: netfilter lines whose trigger is a failed login, each
    attempt once. The dashboard, the digest and the auth alert rules count with this rule."""
    query = NetfilterLine.select(NetfilterLine.id).where(NetfilterLine.auth_failure == True,  # noqa: E712
                                                         NetfilterLine.time >= start)
    if end is not None:
        query = query.where(NetfilterLine.time <= end)
    return query.count()


def blocked_ip_counts(start: int, limit: int, end: int | None = None) -> list[tuple]:
    """(ip, matched or banned lines, last seen, bans) of the IPs netfilter warned or banned most."""
    from peewee import fn
    where = [NetfilterLine.time >= start, NetfilterLine.ip.is_null(False),
             (NetfilterLine.rule_id.is_null(False)) | (NetfilterLine.action == "banned")]
    if end is not None:
        where.append(NetfilterLine.time <= end)
    return list(NetfilterLine.select(NetfilterLine.ip, fn.COUNT(NetfilterLine.id).alias("count"),
                                     fn.MAX(NetfilterLine.time).alias("last_seen"),
                                     fn.SUM(NetfilterLine.action == "banned").alias("bans"))
                .where(*where).group_by(NetfilterLine.ip).order_by(fn.COUNT(NetfilterLine.id).desc(), NetfilterLine.ip)
                .limit(limit).tuples())


def _row_counts(start: int | None, end: int | None) -> dict[str, int]:
    where = " AND ".join(c for c, v in (("first_seen >= ?", start), ("first_seen <= ?", end)) if v is not None)
    row = database.execute_sql(f"SELECT {_ROW_SUMS} FROM message" + (f" WHERE {where}" if where else ""),
                               [v for v in (start, end) if v is not None]).fetchone()
    return {metric: value or 0 for metric, value in zip(HOURLY_METRICS, row)}


def _hourly_metric(args: dict) -> str | None:
    """The hourly counter that answers this filter's total, if one does: no filter, or only
    a date range with one direction or one status the counters track."""
    others = {k for k, v in args.items() if v not in (None, "") and k not in ("page", "limit", "start_date", "end_date")}
    if not others:
        return "total"
    if others == {"direction"} and args["direction"] in HOURLY_METRICS:
        return args["direction"]
    if others == {"status"} and args["status"] in HOURLY_METRICS:
        return args["status"]
    return None


def count_messages(args: dict, cap: int | None = None) -> int:
    metric = _hourly_metric(args)
    if metric is not None:
        return hourly_counts(args.get("start_date"), args.get("end_date"))[metric]
    return capped_count(filtered_messages(args, (Message.id,)), cap)


def list_messages(args: dict, offset: int, limit: int) -> list[Message]:
    return list(filtered_messages(args).order_by(Message.first_seen.desc(), Message.id.desc())
                .offset(offset).limit(limit))


def outcomes_by_message(message_ids: list[int]) -> dict[int, list[Recipient]]:
    """Per-recipient outcomes for a page of messages in one query."""
    result: dict[int, list[Recipient]] = {m: [] for m in message_ids}
    if message_ids:
        for row in Recipient.select().where(Recipient.message_ref.in_(message_ids)).order_by(Recipient.id):
            result[row.message_ref].append(row)
    return result


# --------------------------------------------------------------------------- log lists

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
        return ~expr if term.negated else expr
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


def dovecot_filters(args: dict) -> list:
    where = search_and_dates(args, dovecot_term, DovecotLine.time)
    for name, column in (("user", DovecotLine.user), ("message_id", DovecotLine.message_id),
                         ("session", DovecotLine.session), ("kind", DovecotLine.kind),
                         ("action", DovecotLine.action)):
        if args.get(name):
            where.append(column == (args[name].lower() if name == "user" else args[name]))
    return where


def dovecot_login_failures(start: int | None, end: int | None, limit: int) -> dict[str, list[dict]]:
    """Failed IMAP/POP3/ManageSieve logins by user and by IP: the attempts each login process
    reports when it disconnects (`auth failed, N attempts`), so each attempt counts once."""
    where = "kind = 'auth_failure'" + (" AND time >= ?" if start is not None else "") + \
        (" AND time <= ?" if end is not None else "")
    params = [v for v in (start, end) if v is not None]
    result = {}
    for name, column, other in (("by_user", "user", "ip"), ("by_ip", "ip", "user")):
        rows = database.execute_sql(
            f"SELECT {column}, SUM(COALESCE(attempts, 1)), COUNT(DISTINCT {other}), MAX(time) FROM dovecot_line "
            f"WHERE {where} AND {column} IS NOT NULL GROUP BY {column} ORDER BY 2 DESC, 4 DESC LIMIT ?",
            [*params, limit]).fetchall()
        result[name] = [{"key": key, "attempts": attempts, "distinct_others": others, "last_seen": last}
                        for key, attempts, others, last in rows]
    return result


def postfix_filters(args: dict) -> list:
    where = search_and_dates(args, postfix_term, PostfixLine.time)
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


def rspamd_filters(args: dict) -> list:
    where = search_and_dates(args, rspamd_term, RspamdRow.time)
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


def netfilter_filters(args: dict) -> list:
    where = search_and_dates(args, netfilter_term, NetfilterLine.time)
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


_counts: dict[str, tuple[tuple, int]] = {}


def row_count(model) -> int:
    """COUNT(*) of a whole table, recounted only when its first or last id moved.

    Counting millions of lines on every page view grows with the data; rows are added at
    the end (new ids) and removed from the start (retention), so an unchanged MIN(id) and
    MAX(id) mean an unchanged count. (A blacklist purge, which deletes in the middle, is
    picked up by the next insert.)
    """
    table = model._meta.table_name
    # Two statements: SQLite answers a lone MIN or MAX of the rowid from the b-tree's edge,
    # but both in one SELECT make it scan the table.
    bounds = tuple(database.execute_sql(f"SELECT {edge}(id) FROM {table}").fetchone()[0] for edge in ("MIN", "MAX"))
    cached = _counts.get(table)
    if cached is None or cached[0] != bounds:
        cached = (bounds, model.select(model.id).count())
        _counts[table] = cached
    return cached[1]


def capped_count(query, cap: int | None) -> int:
    """COUNT(*) that stops at `cap`: a text search over millions of lines must not scan them all
    just to print a total (MAX_SEARCH_RESULTS)."""
    if cap is None:
        return query.count()
    return query.limit(cap).count()


def decode_json(text: str | None, default):
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
