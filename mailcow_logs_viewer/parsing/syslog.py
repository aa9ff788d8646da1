"""Split plain syslog lines (mail.log files) into time, host, program, pid and message.

Two header forms are recognised:

* BSD: ``Jan 27 06:36:01 host prog[pid]: msg`` (no year: the caller supplies it, and the
  time zone the file was written in);
* RFC 3339: ``2021-01-27T06:36:01.123456+01:00 host prog[pid]: msg``.

Anything else (for instance the tail of a message that a broken writer split over two
lines) gives ``None``.  Pure, never raises for a ``str`` input.
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass

__all__ = ["SyslogLine", "parse_syslog_line", "is_postfix_program", "priority_of"]

UTC = datetime.timezone.utc

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_TAIL = r" (\S+) ([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)\Z"
_BSD_RE = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})" + _TAIL, re.S)
_RFC_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?" + _TAIL,
    re.S,
)

_POSTFIX_DAEMONS = frozenset((
    "anvil", "bounce", "cleanup", "discard", "dnsblog", "error", "flush", "local", "lmtp",
    "master", "oqmgr", "pickup", "pipe", "postscreen", "proxymap", "qmgr", "qmqpd",
    "scache", "showq", "smtp", "smtpd", "spawn", "tlsmgr", "tlsproxy", "trivial-rewrite",
    "verify", "virtual", "postdrop", "postqueue", "postsuper", "sendmail", "postmap",
    "postalias", "postfix-script", "postlog", "postconf", "postlogd",
))


@dataclass(slots=True)
class SyslogLine:
    time: int
    host: str
    program: str
    pid: int | None
    message: str
    priority: str


def priority_of(message: str) -> str:
    """Postfix writes its level into the text: warning:/error:/fatal:/panic:."""
    if message.startswith("warning:"):
        return "warning"
    if message.startswith("error:"):
        return "err"
    if message.startswith("fatal:") or message.startswith("panic:"):
        return "crit"
    return "info"


def is_postfix_program(program: str) -> bool:
    """True for Postfix syslog tags: 'postfix/x', 'postfix-<instance>/x', 'postfix/sub/x',
    and renamed services such as 'haproxy/postscreen' or 'enforced-tls-smtp/smtp'."""
    if not isinstance(program, str) or "/" not in program:
        return False
    if program.startswith("postfix/") or program.startswith("postfix-"):
        return True
    last = program.rsplit("/", 1)[1]
    return last in _POSTFIX_DAEMONS


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, tz: datetime.tzinfo) -> int:
    if tz is UTC:
        datetime.date(y, mo, d)  # validates (e.g. Feb 29 in a common year)
        if h > 23 or mi > 59 or s > 60:
            raise ValueError("bad time")
        return calendar.timegm((y, mo, d, h, mi, min(s, 59), 0, 0, 0))
    return int(datetime.datetime(y, mo, d, h, mi, min(s, 59), tzinfo=tz).timestamp())


def _zone(z: str | None, default: datetime.tzinfo) -> datetime.tzinfo:
    if z is None:
        return default
    if z in ("Z", "z"):
        return UTC
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    off = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
    if not off:
        return UTC
    return datetime.timezone(sign * off)


def parse_syslog_line(line: str, year: int, tz: datetime.tzinfo = UTC) -> SyslogLine | None:
    """Parse one syslog line; None if it is not one (or the date is impossible)."""
    try:
        if not isinstance(line, str):
            return None
        line = line.rstrip("\r\n")
        if not line:
            return None
        c = line[0]
        if "A" <= c <= "Z":
            m = _BSD_RE.match(line)
            if m is None:
                return None
            mon = _MONTHS.get(m.group(1))
            if mon is None:
                return None
            t = _epoch(year, mon, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                       int(m.group(5)), tz)
            host, prog, pid, msg = m.group(6, 7, 8, 9)
        elif "0" <= c <= "9":
            m = _RFC_RE.match(line)
            if m is None:
                return None
            zone = _zone(m.group(7), tz)
            t = _epoch(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                       int(m.group(5)), int(m.group(6)), zone)
            host, prog, pid, msg = m.group(8, 9, 10, 11)
        else:
            return None
        return SyslogLine(
            time=t,
            host=host,
            program=prog,
            pid=int(pid) if pid is not None else None,
            message=msg,
            priority=priority_of(msg),
        )
    except (ValueError, OverflowError, TypeError):
        return None
