"""GET /api/export/{messages,postfix,rspamd,netfilter,dovecot,daily}/csv: the list filters, streamed as CSV.

At most CSV_EXPORT_LIMIT rows; cells that a spreadsheet would run as a formula are made
inert (PITFALLS 26); an empty result is a CSV with only the header.
"""
from __future__ import annotations

import csv
import io
import time

from flask import Blueprint, Response, current_app, request, stream_with_context

from ..auth import client_address, current_scope
from ..queries.daily import daily_rows_for_export
from ..queries.dovecot import dovecot_for_export
from ..queries.logs import netfilter_for_export, postfix_for_export, rspamd_for_export
from ..queries.messages import messages_for_export
from .daily import DailyFilterSchema
from .dovecot import DovecotFilterSchema
from .logs import NetfilterFilterSchema, PostfixFilterSchema, RspamdFilterSchema
from .messages import MessageFilterSchema
from .params import parse_args

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


def _top_symbols(symbols: dict, count: int = 5) -> str:
    ranked = sorted(symbols.items(), key=lambda item: -abs(item[1].get("score") or 0))[:count]
    return ", ".join(f"{name}({(data.get('score') or 0):g})" for name, data in ranked)


# Each file's columns: (header, the result field or how the cell is made from the result).
# Server comes last: a column added for several servers leaves older scripts' columns in place.
# The rows are the typed results the JSON answers serialize, so a field is defined once.
MESSAGE_COLUMNS = (("Time", "first_seen"), ("Sender", "sender"), ("Recipient", lambda m: ", ".join(m.recipients)),
                   ("Subject", "subject"), ("Direction", "direction"), ("Status", "final_status"),
                   ("Queue ID", "queue_id"), ("Message ID", "message_id"), ("Spam Score", lambda m: _rounded(m.spam_score)),
                   ("Is Spam", "is_spam"), ("User", "user"), ("IP", "ip"), ("Is Complete", "is_complete"),
                   # Reason/DSN/Relay: those of the first failed recipient (else the first one), as listed.
                   ("Reason", "reason"), ("DSN", "first_dsn"), ("Relay", "first_relay"), ("Server", "server"))
POSTFIX_COLUMNS = (("Time", "time"), ("Program", "program"), ("Priority", "priority"), ("Queue ID", "queue_id"),
                   ("Message ID", "message_id"), ("Sender", "sender"), ("Recipient", "recipient"),
                   ("Status", "status"), ("Relay", "relay"), ("Delay", "delay"), ("DSN", "dsn"),
                   ("Message", "message"), ("Server", "server"))
RSPAMD_COLUMNS = (("Time", "time"), ("Message ID", "message_id"), ("Subject", "subject"), ("Sender", "sender_smtp"),
                  ("Recipients", lambda r: ", ".join(r.recipients_smtp)), ("Score", lambda r: _rounded(r.score)),
                  ("Required Score", "required_score"), ("Action", "action"), ("Direction", "direction"),
                  ("Is Spam", "is_spam"), ("Has Auth", "has_auth"), ("User", "user"), ("IP", "ip"),
                  ("Size", "size"), ("Top Symbols", lambda r: _top_symbols(r.symbols)), ("Server", "server"))
NETFILTER_COLUMNS = (("Time", "time"), ("IP", "ip"), ("Username", "username"), ("Auth Method", "auth_method"),
                     ("Action", "action"), ("Attempts Left", "attempts_left"), ("Rule ID", "rule_id"),
                     ("Priority", "priority"), ("Message", "message"), ("Server", "server"))
DOVECOT_COLUMNS = (("Time", "time"), ("Priority", "priority"), ("Kind", "kind"), ("Service", "service"),
                   ("User", "user"), ("Session", "session"), ("Message ID", "message_id"), ("Action", "action"),
                   ("Folder", "folder"), ("Target", "target"), ("IP", "ip"), ("Message", "message"),
                   ("Server", "server"))

DAILY_COLUMNS = (("Date", "date"), ("Domain", "domain"), ("Mailbox", "mailbox"), ("Direction", "direction"),
                 ("Status", "status"), ("Messages", "messages"), ("Server", "server"))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _cell(row, column):
    return column(row) if callable(column) else getattr(row, column)


def _audit(name: str, args: dict) -> None:
    """Every export is in the audit log: who took which rows out (the filters, as given)."""
    scope = current_scope()
    filters = ", ".join(f"{key}={value}" for key, value in sorted(request.args.items()) if key in args)
    current_app.extensions["runtime"].audit.record(
        "export", username=scope.username, role=scope.role,
        client=client_address(current_app.config["SETTINGS"].trusted_proxies),
        detail=f"{name} CSV" + (f" ({filters})" if filters else ""))


def _stream(name: str, columns: tuple, rows, args: dict) -> Response:
    _audit(name, args)

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([header for header, _ in columns])
        count = 0
        for row in rows:
            writer.writerow([inert(_cell(row, column)) for _, column in columns])
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


def _export(name: str, columns: tuple, schema, rows_of) -> Response:
    args = parse_args(schema)
    return _stream(name, columns, rows_of(current_scope(), args, _limit()), args)


@bp.get("/export/messages/csv")
def messages_csv():
    return _export("messages", MESSAGE_COLUMNS, MessageFilterSchema(), messages_for_export)


@bp.get("/export/postfix/csv")
def postfix_csv():
    return _export("postfix", POSTFIX_COLUMNS, PostfixFilterSchema(), postfix_for_export)


@bp.get("/export/rspamd/csv")
def rspamd_csv():
    return _export("rspamd", RSPAMD_COLUMNS, RspamdFilterSchema(), rspamd_for_export)


@bp.get("/export/netfilter/csv")
def netfilter_csv():
    return _export("netfilter", NETFILTER_COLUMNS, NetfilterFilterSchema(), netfilter_for_export)


@bp.get("/export/dovecot/csv")
def dovecot_csv():
    return _export("dovecot", DOVECOT_COLUMNS, DovecotFilterSchema(), dovecot_for_export)


@bp.get("/export/daily/csv")
def daily_csv():
    return _export("daily", DAILY_COLUMNS, DailyFilterSchema(), daily_rows_for_export)
