"""Map one Rspamd history row (mailcow ``/api/v1/get/logs/rspamd-history``) to a record.

Pure.  ``map_rspamd_row`` raises :class:`RspamdRowError` only when the row is not a dict
or has no usable integer ``unix_time``; everything else is tolerated (missing keys, legacy
v1 rows with ``symbols`` as a string, numbers given as strings, ``"unknown"`` values).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["RspamdRecord", "RspamdRowError", "map_rspamd_row", "SPAM_ACTIONS"]

SPAM_ACTIONS = frozenset(("reject", "add header", "rewrite subject", "quarantine", "discard"))
_NONE_WORDS = ("unknown", "")


class RspamdRowError(ValueError):
    """The row cannot be stored: not an object, or no integer unix_time."""


@dataclass(slots=True)
class RspamdRecord:
    time: int
    message_id: str | None
    subject: str | None
    size: int | None
    sender_smtp: str | None
    sender_mime: str | None
    rcpt_smtp: list[str]
    rcpt_mime: list[str]
    score: float
    required_score: float | None
    action: str
    symbols: dict
    ip: str | None
    user: str | None
    is_spam: bool
    has_auth: bool
    passthrough_module: str | None
    thresholds: dict | None


_INT64 = 2**63 - 1


def _num(v: object) -> float | None:
    # Fast paths for what Rspamd sends (scores as JSON numbers): the same answers as below.
    kind = type(v)
    if kind is float:
        return v if v - v == 0.0 else None      # NaN and infinities give NaN
    if kind is int:
        try:
            return float(v)
        except OverflowError:
            return None
    if isinstance(v, bool):
        return None
    if not isinstance(v, (int, float, str)):
        return None
    try:
        f = float(v.strip() if isinstance(v, str) else v)
    except (ValueError, OverflowError):     # not a number, or an int beyond a double
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return f


def _int(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -_INT64 <= v <= _INT64 else None     # beyond SQLite's INTEGER
    f = _num(v)
    if f is None or f != int(f):
        return None
    return int(f)


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _known(v: object) -> str | None:
    """'unknown' (and missing) -> None; '' stays '' (null sender)."""
    s = _text(v)
    if s is None or s == "unknown":
        return None
    return s


def _str_list(v: object) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v] if v else []
    if isinstance(v, (list, tuple)):
        return [s for s in (_text(x) for x in v) if s is not None]
    return []


_LEGACY_SYM_RE = re.compile(r"([A-Z0-9_]+)(?:\(([-+0-9.eE]+)\))?(?:\{([^}]*)\})?")


def _symbol(name: str, v: object) -> dict:
    if type(v) is dict:     # what Rspamd sends; the keys keep their order (the stored JSON)
        s = _num(v.get("score"))
        out: dict = {"score": s if s is not None else 0.0, "metric_score": _num(v.get("metric_score"))}
        d = v.get("description")
        if isinstance(d, str):
            out["description"] = d
        o = v.get("options")
        if o is not None:
            out["options"] = _str_list(o)
        return out
    out = {"score": 0.0, "metric_score": None}
    if isinstance(v, dict):
        s = _num(v.get("score"))
        out["score"] = s if s is not None else 0.0
        out["metric_score"] = _num(v.get("metric_score"))
        d = v.get("description")
        if isinstance(d, str):
            out["description"] = d
        o = v.get("options")
        if o is not None:
            opts = _str_list(o)
            out["options"] = opts
    else:
        s = _num(v)
        if s is not None:
            out["score"] = s
    return out


def _symbols(v: object) -> dict:
    res: dict = {}
    if isinstance(v, dict):
        for name, val in v.items():
            if isinstance(name, str) and name:
                res[name] = _symbol(name, val)
    elif isinstance(v, list):
        for item in v:
            if isinstance(item, dict):
                name = item.get("name")
                if isinstance(name, str) and name:
                    res[name] = _symbol(name, item)
            elif isinstance(item, str) and item:
                for m in _LEGACY_SYM_RE.finditer(item):
                    res[m.group(1)] = _symbol(m.group(1), m.group(2))
    elif isinstance(v, str):
        # legacy v1: "SYM_A(1.5),SYM_B(0){opt1;opt2}" or "SYM_A, SYM_B"
        for m in _LEGACY_SYM_RE.finditer(v):
            entry = _symbol(m.group(1), m.group(2))
            if m.group(3):
                entry["options"] = [o for o in m.group(3).split(";") if o]
            res[m.group(1)] = entry
    return res


def _thresholds(v: object) -> dict | None:
    if not isinstance(v, dict):
        return None
    out = {}
    for k, val in v.items():
        f = _num(val)
        if isinstance(k, str) and f is not None:
            out[k] = f
    return out


def _message_id(v: object) -> str | None:
    s = _text(v)
    if s is None:
        return None
    s = s.strip()
    if len(s) >= 2 and s[0] == "<" and s[-1] == ">":
        s = s[1:-1].strip()
    if not s or s == "undef":
        return None
    return s


def map_rspamd_row(row: object) -> RspamdRecord:
    if not isinstance(row, dict):
        raise RspamdRowError(f"row is {type(row).__name__}, not an object")
    t = _int(row.get("unix_time"))
    if t is None:
        raise RspamdRowError("no integer unix_time")

    mid = row["message-id"] if "message-id" in row else row.get("id")
    symbols = _symbols(row.get("symbols"))
    action = _text(row.get("action")) or ""
    score = _num(row.get("score"))
    user = _known(row.get("user"))
    if user == "":
        user = None
    ip = _known(row.get("ip"))
    if ip == "":
        ip = None
    sender_smtp = _known(row["sender_smtp"] if "sender_smtp" in row else row.get("from"))
    rcpt_smtp = row["rcpt_smtp"] if "rcpt_smtp" in row else row.get("rcpt")
    pm = row.get("passthrough_module")

    return RspamdRecord(
        time=t,
        message_id=_message_id(mid),
        subject=_text(row.get("subject")),
        size=_int(row.get("size")),
        sender_smtp=sender_smtp,
        sender_mime=_known(row.get("sender_mime")),
        rcpt_smtp=_str_list(rcpt_smtp),
        rcpt_mime=_str_list(row.get("rcpt_mime")),
        score=score if score is not None else 0.0,
        required_score=_num(row.get("required_score")),
        action=action,
        symbols=symbols,
        ip=ip,
        user=user,
        is_spam=action in SPAM_ACTIONS,
        has_auth=("MAILCOW_AUTH" in symbols) or user is not None,
        passthrough_module=pm if isinstance(pm, str) and pm else None,
        thresholds=_thresholds(row.get("thresholds")),
    )
