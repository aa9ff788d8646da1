"""GET /api/export/{messages,postfix,rspamd,netfilter,dovecot}/csv: the list filters, streamed as CSV.

At most CSV_EXPORT_LIMIT rows; cells that a spreadsheet would run as a formula are made
inert (PITFALLS 26); an empty result is a CSV with only the header.
"""
from __future__ import annotations

import csv
import io
import time
from itertools import islice

from flask import Blueprint, Response, current_app, stream_with_context

from ..models import DovecotLine, Message, NetfilterLine, PostfixLine, RspamdRow
from ..queries import (decode_json, dovecot_filters, filtered_messages, netfilter_filters, outcomes_by_message,
                       postfix_filters, rspamd_filters, select_where)
from ..reasons import FAILED, failing_first, short_reason
from .dovecot import DovecotFilterSchema
from .logs import NetfilterFilterSchema, PostfixFilterSchema, RspamdFilterSchema
from .messages import MessageFilterSchema
from .params import iso, parse_args

bp = Blueprint("export", __name__)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 500


def inert(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value      # a number is data, not a formula: -3.5 stays -3.5 (PITFALLS 26 is about text)
    text = str(value)
    # A leading quote makes spreadsheets show the text instead of evaluating it.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _stream(name: str, header: list[str], rows) -> Response:
    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        count = 0
        for row in rows:
            writer.writerow([inert(v) for v in row])
            count += 1
            if count % _ROWS_PER_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
                             "Cache-Control": "no-store"})


def _limit() -> int:
    return current_app.config["SETTINGS"].csv_export_limit


@bp.get("/export/messages/csv")
def messages_csv():
    args = parse_args(MessageFilterSchema())
    query = (filtered_messages(args).order_by(Message.first_seen.desc(), Message.id.desc())
             .limit(_limit()).iterator())
    return _stream("messages", ["Time", "Sender", "Recipient", "Subject", "Direction", "Status", "Queue ID",
                                "Message ID", "Spam Score", "Is Spam", "User", "IP", "Is Complete", "Reason", "DSN",
                                "Relay"], _message_rows(query))


def _message_rows(query):
    """One row per message; Reason/DSN/Relay are those of its first failed recipient (else its
    first recipient), as the list shows them. Outcomes are read per chunk, not per message."""
    while chunk := list(islice(query, _ROWS_PER_CHUNK)):
        outcomes = outcomes_by_message([m.id for m in chunk])
        for m in chunk:
            ordered = failing_first(outcomes[m.id])
            first = ordered[0] if ordered else None
            failed = first if first is not None and first.status in FAILED else None
            reason = short_reason((failed.reply if failed else None) or (m.reject_reason if failed or not first else None))
            score = round(m.spam_score, 2) if m.spam_score is not None else None
            yield (iso(m.first_seen), m.sender, m.recipients, m.subject, m.direction, m.final_status, m.queue_id,
                   m.message_id, score, m.is_spam, m.user, m.ip, m.is_complete, reason,
                   first.dsn if first else None, first.relay if first else None)


@bp.get("/export/postfix/csv")
def postfix_csv():
    args = parse_args(PostfixFilterSchema())
    query = (select_where(PostfixLine, postfix_filters(args)).order_by(PostfixLine.time.desc(), PostfixLine.id.desc())
             .limit(_limit()).tuples().iterator())
    columns = [f.name for f in PostfixLine._meta.sorted_fields]
    at = {name: i for i, name in enumerate(columns)}
    rows = ((iso(r[at["time"]]), r[at["program"]], r[at["priority"]], r[at["queue_id"]], r[at["message_id"]],
             r[at["sender"]], r[at["recipient"]], r[at["status"]], r[at["relay"]], r[at["delay"]], r[at["dsn"]],
             r[at["message"]]) for r in query)
    return _stream("postfix", ["Time", "Program", "Priority", "Queue ID", "Message ID", "Sender", "Recipient",
                               "Status", "Relay", "Delay", "DSN", "Message"], rows)


def _top_symbols(symbols_json: str | None, count: int = 5) -> str:
    symbols = decode_json(symbols_json, {})
    ranked = sorted(symbols.items(), key=lambda item: -abs(item[1].get("score") or 0))[:count]
    return ", ".join(f"{name}({(data.get('score') or 0):g})" for name, data in ranked)


@bp.get("/export/rspamd/csv")
def rspamd_csv():
    args = parse_args(RspamdFilterSchema())
    query = (select_where(RspamdRow, rspamd_filters(args)).order_by(RspamdRow.time.desc(), RspamdRow.id.desc())
             .limit(_limit()).iterator())
    rows = ((iso(r.time), r.message_id, r.subject, r.sender_smtp, ", ".join(decode_json(r.recipients_smtp, [])),
             None if r.score is None else round(r.score, 2), r.required_score, r.action, r.direction, r.is_spam,
             r.has_auth, r.user, r.ip, r.size,
             _top_symbols(r.symbols)) for r in query)
    return _stream("rspamd", ["Time", "Message ID", "Subject", "Sender", "Recipients", "Score", "Required Score",
                              "Action", "Direction", "Is Spam", "Has Auth", "User", "IP", "Size", "Top Symbols"], rows)


@bp.get("/export/netfilter/csv")
def netfilter_csv():
    args = parse_args(NetfilterFilterSchema())
    query = (select_where(NetfilterLine, netfilter_filters(args))
             .order_by(NetfilterLine.time.desc(), NetfilterLine.id.desc()).limit(_limit()).iterator())
    rows = ((iso(r.time), r.ip, r.username, r.auth_method, r.action, r.attempts_left, r.rule_id, r.priority,
             r.message) for r in query)
    return _stream("netfilter", ["Time", "IP", "Username", "Auth Method", "Action", "Attempts Left", "Rule ID",
                                 "Priority", "Message"], rows)


@bp.get("/export/dovecot/csv")
def dovecot_csv():
    args = parse_args(DovecotFilterSchema())
    query = (select_where(DovecotLine, dovecot_filters(args)).order_by(DovecotLine.time.desc(), DovecotLine.id.desc())
             .limit(_limit()).iterator())
    rows = ((iso(r.time), r.priority, r.kind, r.service, r.user, r.session, r.message_id, r.action, r.folder,
             r.target, r.ip, r.message) for r in query)
    return _stream("dovecot", ["Time", "Priority", "Kind", "Service", "User", "Session", "Message ID", "Action",
                               "Folder", "Target", "IP", "Message"], rows)
