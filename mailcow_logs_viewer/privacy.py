"""Privacy controls: REDACT_SUBJECTS and ANONYMIZE_IPS_AFTER_DAYS (`forget` is in forget.py).

Subjects are redacted before a row is stored (the ingestor hands every page through
`SubjectRedactor`) and, for rows stored before the setting was on or imported from files, by
`scrub_subjects`, which walks each table once by id. Client IPs older than the setting are
truncated (IPv4 to its /24, IPv6 to its /48) by a nightly pass over time slices, each written
in bounded transactions; in raw text every address is truncated, since a line's text does not
say which address is the client's.
"""
from __future__ import annotations

import ipaddress
import json
import re
import time

from .db import database
from .models import State
from .sql_batches import chunks, marks, through_temp

REDACTED = "[redacted]"
BATCH = 2000
SLICE_SECONDS = 3600

# Where a subject can appear in log text: Postfix's header_checks warnings and Dovecot's mail_log.
_TEXT_SUBJECTS = (re.compile(r"(header Subject: ).*?(?=( from \S*\[[^\]]*\];)|$)"),
                  re.compile(r"(\bsubject=).*?(?=(, \w+=)|$)"))


def redact_text(text: str | None) -> str | None:
    if not text:
        return text
    for pattern in _TEXT_SUBJECTS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_raw_json(raw: str | None) -> str | None:
    """An Rspamd row kept raw (it could not be mapped) loses its subject too."""
    if not raw:
        return raw
    try:
        entry = json.loads(raw)
    except ValueError:
        return re.sub(r"""(['"]subject['"]\s*:\s*)(['"]).*?(?<!\\)\2""", lambda m: f"{m.group(1)}\"{REDACTED}\"", raw)
    if isinstance(entry, dict) and entry.get("subject") is not None:
        entry["subject"] = REDACTED
        return json.dumps(entry, sort_keys=True)
    return raw


class SubjectRedactor:
    """Applied by the ingestor to each page of rows before they are staged."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def rows(self, source: str, rows: list) -> list:
        if not self.enabled:
            return rows
        if source == "rspamd":
            return [row._replace(subject=REDACTED if row.subject is not None else None, raw=redact_raw_json(row.raw))
                    for row in rows]
        if source in ("postfix", "dovecot"):
            return [row._replace(message=redact_text(row.message)) for row in rows]
        return rows


# table -> {column: how to redact it}
_SUBJECT_COLUMNS = {
    "rspamd_row": {"subject": lambda v: REDACTED if v is not None else None, "raw": redact_raw_json},
    "message": {"subject": lambda v: REDACTED if v is not None else None},
    "postfix_line": {"message": redact_text},
    "dovecot_line": {"message": redact_text},
}


def _cursor(key: str) -> int:
    row = State.get_or_none(State.key == key)
    return int(row.value) if row else 0


def _set_cursor(key: str, value: int) -> None:
    State.insert(key=key, value=str(value)).on_conflict_replace().execute()


def _rewrite(table: str, rows: list[tuple], columns: dict) -> int:
    """Rows (id, *values) rewritten by `columns`' functions; only the changed ones are written."""
    changed = []
    for row_id, *values in rows:
        new = [fix(value) for fix, value in zip(columns.values(), values)]
        if new != values:
            changed.append((row_id, *new))
    if changed:
        # One statement for the batch: the message and recipient tables' search index
        # triggers make a statement per row costly (sql_batches.through_temp).
        sets = ", ".join(f"{c} = r.{c}" for c in columns)
        through_temp(f"{table}_rewrite", ("id INTEGER PRIMARY KEY", *columns), changed,
                     f"UPDATE {table} SET {sets} FROM temp.{table}_rewrite AS r WHERE {table}.id = r.id")
    return len(changed)


def scrub_subjects(enabled: bool) -> dict:
    """Redact the subjects of rows stored before REDACT_SUBJECTS was on (or imported), a batch
    of ids at a time; each table is walked once, later rows from where the last run stopped."""
    if not enabled:
        return {}
    result = {}
    for table, columns in _SUBJECT_COLUMNS.items():
        key = f"subjects_redacted_{table}"
        cursor, total = _cursor(key), 0
        while True:
            with database.atomic("IMMEDIATE"):
                rows = database.execute_sql(f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > ? ORDER BY id "
                                            f"LIMIT {BATCH}", (cursor,)).fetchall()
                if not rows:
                    break
                total += _rewrite(table, rows, columns)
                cursor = rows[-1][0]
                _set_cursor(key, cursor)
        result[table] = total
    return result


# ------------------------------------------------------------------ IP addresses

_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*[0-9A-Fa-f:]")
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")


def _v6(match: re.Match) -> str:
    candidate = match.group(0)
    for trimmed in (candidate, candidate.rstrip(":.")):
        try:
            address = ipaddress.IPv6Address(trimmed)
        except ValueError:
            continue
        network = ipaddress.IPv6Network(f"{address}/48", strict=False).network_address
        return str(network) + candidate[len(trimmed):]
    return candidate


def _v4(match: re.Match) -> str:
    octets = match.groups()
    if any(int(o) > 255 for o in octets):
        return match.group(0)
    return ".".join(octets[:3]) + ".0"


def truncate_ips_in_text(text: str | None) -> str | None:
    """Every IPv4 address to its /24, every IPv6 address to its /48; the rest unchanged."""
    if not text:
        return text
    return _IPV4.sub(_v4, _IPV6.sub(_v6, text))


# table -> (time column, columns holding addresses or text with addresses); recipients and
# legs go with their message (their own times are not indexed).
_IP_TABLES = {
    "postfix_line": ("time", ("client_ip", "message", "reply")),
    "rspamd_row": ("time", ("ip", "raw", "symbols")),
    "netfilter_line": ("time", ("ip", "network", "message")),
    "dovecot_line": ("time", ("ip", "message", "detail")),
    "message": ("first_seen", ("ip", "reject_reason")),
    "alert": ("opened_at", ("title", "detail")),
    "alert_notification": ("created_at", ("payload", "last_error")),
}
_WITH_MESSAGE = {"leg": ("client_ip",), "recipient": ("reply",)}
_ANONYMIZED_KEY = "ips_anonymized_until"


def _anonymize_rows(table: str, columns: tuple[str, ...], where: str, params) -> list[int]:
    """Rewrite the rows matching `where`, BATCH at a time; returns their ids."""
    rows = database.execute_sql(f"SELECT id, {', '.join(columns)} FROM {table} WHERE {where}", params).fetchall()
    fixes = {column: truncate_ips_in_text for column in columns}
    for start in range(0, len(rows), BATCH):
        with database.atomic("IMMEDIATE"):
            _rewrite(table, rows[start:start + BATCH], fixes)
    return [row[0] for row in rows]


def anonymize_ips(after_days: int | None, now: float | None = None) -> dict:
    """Truncate client IPs in rows older than `after_days`: from where the last run stopped to
    the new cutoff, an hour of rows at a time (the first run starts at each table's oldest row)."""
    if after_days is None:
        return {}
    cutoff = int((now or time.time()) - after_days * 86400)
    since = _cursor(_ANONYMIZED_KEY)
    result: dict[str, int] = {}
    for table, (column, columns) in _IP_TABLES.items():
        start = database.execute_sql(f"SELECT MIN({column}) FROM {table} WHERE {column} >= ?", (since,)).fetchone()[0]
        count = 0
        while start is not None and start < cutoff:
            end = min(start + SLICE_SECONDS, cutoff)
            ids = _anonymize_rows(table, columns, f"{column} >= ? AND {column} < ?", (start, end))
            count += len(ids)
            if table == "message":
                for part in chunks(ids):
                    for other, other_columns in _WITH_MESSAGE.items():
                        result[other] = result.get(other, 0) + len(
                            _anonymize_rows(other, other_columns, f"message_ref IN ({marks(part)})", part))
            start = database.execute_sql(f"SELECT MIN({column}) FROM {table} WHERE {column} >= ?", (end,)).fetchone()[0]
        result[table] = count
    # Legs without a message (aborted sessions) have no message to go with: all old ones, each run.
    result["leg"] = result.get("leg", 0) + len(_anonymize_rows(
        "leg", ("client_ip",), "message_ref IS NULL AND last_time < ?", (cutoff,)))
    with database.atomic("IMMEDIATE"):
        _set_cursor(_ANONYMIZED_KEY, cutoff)
    return result


def rewind_anonymized(start: int) -> None:
    """Rows imported from before the last cutoff are looked at again by the next run."""
    if _cursor(_ANONYMIZED_KEY) > start:
        with database.atomic("IMMEDIATE"):
            _set_cursor(_ANONYMIZED_KEY, start)
