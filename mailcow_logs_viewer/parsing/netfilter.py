"""Pure parser for mailcow netfilter (fail2ban-like) log messages.

See mailcow-api.md section 2.5 for the catalogue.  ``parse_netfilter`` never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NetfilterEvent", "parse_netfilter", "ACTIONS"]

ACTIONS = ("warning", "banned", "unbanned", "denylisted", "allowlisted", "info")


@dataclass(slots=True)
class NetfilterEvent:
    action: str
    ip: str | None = None
    network: str | None = None
    rule_id: int | None = None
    attempts_left: int | None = None
    ban_minutes: int | None = None
    username: str | None = None
    auth_method: str | None = None
    auth_failure: bool = False


# optional level prefix as some collectors write it ("CRIT: Banning ...")
_LEVEL_PREFIX_RE = re.compile(r"(?:CRIT|WARN|WARNING|INFO|ERROR|ERR|DEBUG|NOTICE): ")
_MATCHED_RE = re.compile(r"(\S+) matched rule id (\d+)(?: \((.*)\))?\s*\Z", re.S)
_MORE_RE = re.compile(r"(\d+) more attempts? in the next (\d+) seconds? until (\S+) is banned\b")
_BANNING_RE = re.compile(r"Banning (\S+)(?: for (\d+) minutes?)?\b")
_UNBANNING_RE = re.compile(r"Unbanning (\S+)")
_ADDED_RE = re.compile(r"Added host/network (\S+) to (?:denylist|blacklist)\b")
_REMOVED_RE = re.compile(r"Removed host/network (\S+) from (?:denylist|blacklist)\b")
_ALLOW_RE = re.compile(r"Address (\S+) is (?:allowlisted|whitelisted) by rule (\S+)")
_NOT_BANNED_RE = re.compile(r"(\S+) is not banned\b")

# triggering-message analysis
_SASL_RE = re.compile(r"SASL ([A-Za-z0-9_-]+) authentication failed")
_SASL_USER_RE = re.compile(r"sasl_username=([^\s,()]+)")
_DOVECOT_USER_RE = re.compile(r"user=<([^>]*)>")
_DOVECOT_TUPLE_RE = re.compile(r"\(([^,()<>\s]+),[0-9A-Fa-f:.]+(?:,<[^>]*>)?\)")
_UI_RE = re.compile(r"mailcow UI: Invalid password for (.+?) by \S+")
_SOGO_RE = re.compile(r"Login from '[^']*' for user '?([^'\s]+)'? might not have worked")
_DOVECOT_FAIL_RE = re.compile(
    r"Password mismatch|unknown user|auth failed|Authentication failed|Password verification failed"
)


def _ip_of(net: str) -> str:
    """'185.222.58.14/32' -> '185.222.58.14'; '[2001:db8::1]' -> '2001:db8::1'."""
    ip = net.split("/", 1)[0]
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    return ip


def _analyse_trigger(ev: NetfilterEvent, text: str) -> None:
    m = _SASL_RE.search(text)
    if m:
        ev.auth_method = "SASL " + m.group(1).upper()
        ev.auth_failure = True
        u = _SASL_USER_RE.search(text)
        if u and u.group(1) not in ("(unavailable)", "unavailable"):
            ev.username = u.group(1)
        return
    if "mailcow UI: Invalid password" in text:
        ev.auth_method = "mailcow UI"
        ev.auth_failure = True
        u = _UI_RE.search(text)
        if u:
            ev.username = u.group(1)
        return
    if "Rspamd UI: Invalid password" in text:
        ev.auth_method = "Rspamd UI"
        ev.auth_failure = True
        return
    if "might not have worked" in text and "Login from" in text:
        ev.auth_method = "SOGo"
        ev.auth_failure = True
        u = _SOGO_RE.search(text)
        if u:
            ev.username = u.group(1)
        return
    if _DOVECOT_FAIL_RE.search(text):
        ev.auth_failure = True
        low = text[:40]
        if "imap-login" in low:
            ev.auth_method = "IMAP"
        elif "pop3-login" in low:
            ev.auth_method = "POP3"
        elif "managesieve-login" in low:
            ev.auth_method = "ManageSieve"
        else:
            ev.auth_method = "dovecot"
        u = _DOVECOT_USER_RE.search(text)
        if u and u.group(1):
            ev.username = u.group(1)
        else:
            t = _DOVECOT_TUPLE_RE.search(text)
            if t:
                ev.username = t.group(1)
        return
    if "/SOGo" in text or "_SOGo" in text:
        ev.auth_method = "SOGo"


def _count(digits: str) -> int | None:
    """A rule id, attempt count or ban length; beyond SQLite's INTEGER it is bad data, not a count."""
    if len(digits) > 19:       # also keeps int() off its 4,300-digit limit
        return None
    value = int(digits)        # \d also matches other scripts' digits, which int() reads
    return value if value < 2**63 else None


def _parse(message: str) -> NetfilterEvent:
    msg = message.strip()
    m = _LEVEL_PREFIX_RE.match(msg)
    if m:
        msg = msg[m.end():]
    if " matched rule id " in msg:
        m = _MATCHED_RE.match(msg)
        if m:
            ev = NetfilterEvent("warning", ip=_ip_of(m.group(1)), rule_id=_count(m.group(2)))
            if m.group(3):
                _analyse_trigger(ev, m.group(3))
            return ev
    c = msg[:1]
    if c.isdigit() and " more attempt" in msg:
        m = _MORE_RE.match(msg)
        if m:
            net = m.group(3)
            return NetfilterEvent("warning", ip=_ip_of(net), network=net,
                                  attempts_left=_count(m.group(1)))
    if c == "B":
        m = _BANNING_RE.match(msg)
        if m:
            net = m.group(1)
            mins = m.group(2)
            return NetfilterEvent("banned", ip=_ip_of(net), network=net,
                                  ban_minutes=_count(mins) if mins else None)
    elif c == "U":
        m = _UNBANNING_RE.match(msg)
        if m:
            net = m.group(1)
            return NetfilterEvent("unbanned", ip=_ip_of(net), network=net)
    elif c == "A":
        m = _ADDED_RE.match(msg)
        if m:
            net = m.group(1)
            return NetfilterEvent("denylisted", ip=_ip_of(net), network=net)
        m = _ALLOW_RE.match(msg)
        if m:
            net = m.group(1)
            return NetfilterEvent("allowlisted", ip=_ip_of(net), network=net)
    elif c == "R":
        m = _REMOVED_RE.match(msg)
        if m:
            net = m.group(1)
            return NetfilterEvent("info", ip=_ip_of(net), network=net)
    if " is not banned" in msg:
        m = _NOT_BANNED_RE.match(msg)
        if m:
            net = m.group(1)
            return NetfilterEvent("info", ip=_ip_of(net), network=net)
    return NetfilterEvent("info")


def parse_netfilter(message: str, priority: str | None = None) -> NetfilterEvent:
    """Classify one netfilter log message.  ``priority`` is accepted for symmetry with
    the API entry; classification is decided from the text.  Never raises."""
    try:
        if not isinstance(message, str):
            return NetfilterEvent("info")
        return _parse(message)
    except Exception:  # pragma: no cover - defensive
        return NetfilterEvent("info")
