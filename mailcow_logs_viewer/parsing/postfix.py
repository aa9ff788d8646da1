"""Pure parser for the message part of Postfix log lines.

``parse_postfix(program, message)`` turns one Postfix log message (the text after
``tag[pid]: ``) into a :class:`PostfixEvent`.  It never raises, does no I/O and keeps
no state.  Dispatch is cheap: one anchored regex for the leading queue id, then a
``startswith`` on a keyword, then at most one or two precompiled regexes.
"""

from __future__ import annotations

import re

from .postfix_event import KINDS, PostfixEvent, _ip_or_none, _to_float, _to_int, _unbracket

__all__ = ["PostfixEvent", "KINDS", "parse_postfix", "is_queue_id"]

_QID = r"(?:[0-9A-F]{6,24}|[0-9A-Za-y]{10}z[0-9A-Za-y]{1,12})"
_QID_PREFIX_RE = re.compile(r"(NOQUEUE|" + _QID + r"): ")
_QID_FULL_RE = re.compile(_QID + r"\Z")
_QUEUED_AS_RE = re.compile(r"queued as ([0-9A-Za-z]+)")

# "to=<a>, orig_to=<b>, relay=x, delay=1, ..." and "from=<a> to=<b> proto=ESMTP helo=<h>"
_KV_RE = re.compile(r"([a-z_]+)=(<[^>]*>|[^\s,]*)")
# host[ip] with optional :port, as used after "from" in reject lines and client=
_HOST_IP_RE = re.compile(r"([^\s\[\]]*)\[([^\]\s]*)\](?::(\d+))?")
# "<STAGE> from host[ip][:port]: <rest>"
_REJECT_HEAD_RE = re.compile(r"([A-Za-z][A-Za-z-]*) from ([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)?: ?")
# "550 5.1.1 text" / "5.7.1 text" / "451 4.7.1 text" / "too many connections"
_REPLY_CODE_RE = re.compile(r"(?:(\d{3})[ -])?(?:(\d\.\d{1,3}\.\d{1,3}) )?")
_SASL_RE = re.compile(
    r"warning: ([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)?: SASL ([A-Za-z0-9_-]+) authentication failed:? ?(.*)",
    re.S,
)
_HEADER_FROM_RE = re.compile(r" from ([^\s\[\];]*)(?:\[([^\]\s]*)\](?::\d+)?)?; (?=from=)")
_CLIENT_FROM_RE = re.compile(r"\bfrom ([^\s\[\]]*)\[([^\]\s]*)\]")
_BRACKET_PORT_RE = re.compile(r"\[([0-9A-Fa-f:.]+)\]:\d+")

_ANVIL_RE = re.compile(r" for \((.*)\) at ")
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")
_IPV6_RE = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f.]{0,15}){2,8}\Z")


def _anvil_ip(ident: str) -> str | None:
    """anvil ident is 'service:address'; the service may itself contain ':'."""
    i = ident.find(":")
    while i >= 0:
        cand = ident[i + 1:]
        if _IPV4_RE.match(cand) or (":" in cand and _IPV6_RE.match(cand)):
            return cand
        i = ident.find(":", i + 1)
    return None


_NOTICE_KINDS = {
    "non-delivery": "non-delivery",
    "delay": "delay",
    "delivery status": "success",
    "success": "success",
}
_NOTICE_RE = re.compile(
    r"(?:sender|postmaster) (non-delivery|delay|delivery status|success) notification: (\S+)"
)

_STRIP = "<>"


def is_queue_id(value: str) -> bool:
    """True for a Postfix queue id (short hex or long form); 'NOQUEUE' is not one."""
    return bool(_QID_FULL_RE.match(value))


# --------------------------------------------------------------------------- pieces
def _parse_delivery(ev: PostfixEvent, rest: str) -> None:
    idx = rest.find(", status=")
    if idx >= 0:
        idx += 2
    else:
        idx = rest.find("status=")
    head = rest[:idx] if idx >= 0 else rest
    for m in _KV_RE.finditer(head):
        key, val = m.group(1), m.group(2)
        if key == "to":
            ev.recipient = _unbracket(val)
        elif key == "orig_to":
            ev.orig_to = _unbracket(val)
        elif key == "relay":
            # relay values never contain ', ' but may contain '[private/x]'
            ev.relay = val
        elif key == "delay":
            ev.delay = _to_float(val)
        elif key == "delays":
            ev.delays = val
        elif key == "dsn":
            ev.dsn = val
    if idx < 0:
        return
    tail = rest[idx + 7:]
    sp = tail.find(" ")
    if sp < 0:
        ev.status = tail.rstrip(",") or None
        return
    ev.status = tail[:sp].rstrip(",") or None
    more = tail[sp + 1:]
    if more.startswith("(") and more.endswith(")"):
        reply = more[1:-1]
    elif more.startswith("("):
        reply = more[1:]
    else:
        reply = more
    ev.reply = reply
    q = reply.rfind("queued as ")
    if q >= 0:
        m = _QUEUED_AS_RE.match(reply, q)
        if m:
            ev.linked_queue_id = m.group(1)


def _parse_reject(ev: PostfixEvent, rest: str) -> None:
    """rest = '<STAGE> from host[ip]: <reply>; from=<a> to=<b> proto=.. helo=<h>'."""
    m = _REJECT_HEAD_RE.match(rest)
    if m:
        ev.stage = m.group(1)
        host = m.group(2)
        ev.client_host = host or None
        ev.client_ip = _ip_or_none(m.group(3))
        body = rest[m.end():]
    else:
        # e.g. "END-OF-MESSAGE: 554 ...; from=<>" (proxy-reject) or unknown shape
        sp = rest.find(" ")
        head = rest[:sp] if sp > 0 else rest
        if head.endswith(":") and head[:-1].replace("-", "").isalpha():
            ev.stage = head[:-1]
            body = rest[sp + 1:] if sp > 0 else ""
        else:
            body = rest
    kv = ""
    for marker in ("; from=", "; to=", "; proto=", "; helo="):
        k = body.rfind(marker)
        if k >= 0:
            kv = body[k + 2:]
            body = body[:k]
            break
    cm = _REPLY_CODE_RE.match(body)
    if cm and cm.end():
        ev.reject_code = cm.group(1)
        ev.dsn = cm.group(2)
        body = body[cm.end():]
    ev.reply = body
    if kv:
        _parse_envelope_kv(ev, kv)


def _parse_envelope_kv(ev: PostfixEvent, kv: str) -> None:
    """'from=<a> to=<b> proto=ESMTP helo=<h>' (spaces or commas); first value wins and
    parsing stops after helo= (cleanup header lines append the header text after it)."""
    for km in _KV_RE.finditer(kv):
        key, val = km.group(1), km.group(2)
        if key == "from":
            if ev.sender is None:
                ev.sender = _unbracket(val)
        elif key == "to":
            if ev.recipient is None:
                ev.recipient = _unbracket(val)
        elif key == "proto":
            if ev.proto is None:
                ev.proto = val
        elif key == "helo":
            if ev.helo is None:
                ev.helo = _unbracket(val)
            return


def _parse_client(ev: PostfixEvent, rest: str) -> None:
    # rest = "client=host[ip][:port][, sasl_method=M, sasl_username=U][, orig_queue_id=..]"
    m = _HOST_IP_RE.match(rest, 7)
    if m:
        ev.client_host = m.group(1) or None
        ev.client_ip = _ip_or_none(m.group(2))
        pos = m.end()
    else:
        pos = 7
    if pos < len(rest):
        tail = rest[pos:]
        # A pre-queue proxy (PITFALLS 29) connects from localhost and names the real sender's
        # host: the client of the mail is that one.
        i = tail.find("orig_client=")
        if i >= 0:
            om = _HOST_IP_RE.match(tail, i + 12)
            if om and _ip_or_none(om.group(2)):
                ev.client_host = om.group(1) or None
                ev.client_ip = om.group(2)
        i = tail.find("sasl_method=")
        if i >= 0:
            j = tail.find(",", i)
            ev.sasl_method = tail[i + 12: j if j >= 0 else None].strip() or None
        i = tail.find("sasl_username=")
        if i >= 0:
            j = tail.find(", orig_", i)
            if j < 0:
                j = tail.find(", sasl_sender=", i)
            val = tail[i + 14: j if j >= 0 else None].strip()
            ev.sasl_username = val or None


def _parse_qmgr_from(ev: PostfixEvent, rest: str) -> None:
    for m in _KV_RE.finditer(rest):
        key, val = m.group(1), m.group(2)
        if key == "from":
            ev.sender = _unbracket(val)
        elif key == "size":
            ev.size = _to_int(val)
        elif key == "nrcpt":
            ev.nrcpt = _to_int(val)
        elif key == "status":
            ev.status = val


def _parse_sasl(ev: PostfixEvent, message: str) -> bool:
    m = _SASL_RE.match(message)
    if not m:
        return False
    ev.kind = "sasl_failure"
    ev.client_host = m.group(1) or None
    ev.client_ip = _ip_or_none(m.group(2))
    ev.sasl_method = m.group(3).upper()  # mechanism names are case-insensitive
    reason = m.group(4)
    k = reason.rfind(", sasl_username=")
    if k >= 0:
        user = reason[k + 16:].strip()
        reason = reason[:k]
        if user and user != "(unavailable)":
            ev.sasl_username = user
    ev.reply = reason or None
    return True


def _fill_client_generic(ev: PostfixEvent, message: str) -> None:
    """Client host/ip for connection-level lines (connect/disconnect/postscreen...)."""
    if "[" not in message:
        if message.startswith("statistics: max connection "):
            m = _ANVIL_RE.search(message)
            if m:
                ev.client_ip = _anvil_ip(m.group(1))
        elif message.startswith("addr ") and " listed by domain " in message:
            ev.client_ip = message[5:message.find(" ", 5)] or None
        return
    m = _CLIENT_FROM_RE.search(message)
    if m:
        ev.client_host = m.group(1) or None
        ev.client_ip = _ip_or_none(m.group(2))
        return
    c = message[:1]
    if "A" <= c <= "Z" and message.split(" ", 1)[0].isupper():
        # postscreen/tlsproxy: PASS NEW [ip]:port, DNSBL rank 3 for [ip]:port ...
        m = _BRACKET_PORT_RE.search(message)
        if m:
            ev.client_ip = m.group(1)


# --------------------------------------------------------------------------- main
def _parse(program: str, message: str) -> PostfixEvent:
    m = _QID_PREFIX_RE.match(message)
    if m is None:
        ev = PostfixEvent("other")
        if message.startswith("warning: "):
            if "authentication failed" in message and _parse_sasl(ev, message):
                return ev
            m2 = _QID_PREFIX_RE.match(message, 9)
            if m2 and m2.group(1) != "NOQUEUE":
                ev.queue_id = m2.group(1)
            elif message.startswith("non-SMTP command from ", 9):
                _fill_client_generic(ev, message)
            return ev
        if message.startswith("proxy-"):
            _parse_other_action(ev, message)
        else:
            _fill_client_generic(ev, message)
        return ev

    qid = m.group(1)
    rest = message[m.end():]
    if qid == "NOQUEUE":
        if rest.startswith("reject: "):
            ev = PostfixEvent("noqueue_reject")
            _parse_reject(ev, rest[8:])
        elif rest.startswith("milter-reject: "):
            ev = PostfixEvent("milter_reject")
            _parse_reject(ev, rest[15:])
        else:
            # filter:, discard:, reject_warning:, hold:, redirect: ... -> other,
            # with the same fields filled when the shape matches.
            ev = PostfixEvent("other")
            c = rest.find(": ")
            if c > 0 and " " not in rest[:c]:
                _parse_reject(ev, rest[c + 2:])
            else:  # "NOQUEUE: lost connection after CONNECT from unknown[ip]"
                _fill_client_generic(ev, rest)
        return ev

    c0 = rest[:1]
    if c0 == "t" and rest.startswith("to="):
        if "status=" in rest:
            ev = PostfixEvent("delivery", qid)
        else:
            ev = PostfixEvent("other", qid)
        _parse_delivery(ev, rest)
        return ev
    if c0 == "f" and rest.startswith("from="):
        ev = PostfixEvent("qmgr_from", qid)
        _parse_qmgr_from(ev, rest)
        if ev.status == "expired":
            ev.kind = "expired"
        elif ev.status is not None:
            ev.kind = "other"
        return ev
    if c0 == "m":
        if rest.startswith("message-id="):
            val = rest[11:]
            ev = PostfixEvent("message_id", qid)
            ev.message_id = None if val in ("", "<>") else val
            return ev
        if rest.startswith("milter-reject: "):
            ev = PostfixEvent("milter_reject", qid)
            _parse_reject(ev, rest[15:])
            return ev
    if c0 == "c" and rest.startswith("client="):
        ev = PostfixEvent("client", qid)
        _parse_client(ev, rest)
        return ev
    if c0 == "r":
        if rest.startswith("removed"):
            return PostfixEvent("removed", qid)
        if rest.startswith("reject: "):
            ev = PostfixEvent("reject", qid)
            _parse_reject(ev, rest[8:])
            return ev
        if rest.startswith("reject_warning: "):
            ev = PostfixEvent("other", qid)
            _parse_reject(ev, rest[16:])
            return ev
    if c0 == "s" or c0 == "p":
        nm = _NOTICE_RE.match(rest)
        if nm:
            ev = PostfixEvent("bounce_notice", qid)
            ev.notice_kind = _NOTICE_KINDS.get(nm.group(1))
            new = nm.group(2)
            ev.linked_queue_id = new
            return ev
    if c0 == "u" and rest.startswith("uid="):
        ev = PostfixEvent("pickup", qid)
        for km in _KV_RE.finditer(rest):
            key, val = km.group(1), km.group(2)
            if key == "uid":
                ev.uid = _to_int(val)
            elif key == "from":
                ev.sender = _unbracket(val)
        return ev
    ev = PostfixEvent("other", qid)
    _parse_other_action(ev, rest)
    return ev


_ACTIONS_WITH_REJECT_SHAPE = ("proxy-reject: ", "proxy-accept: ", "discard: ", "hold: ",
                              "redirect: ", "filter: ", "reject_warning: ")


def _parse_other_action(ev: PostfixEvent, rest: str) -> None:
    """Fill what is cheap to fill on 'other' lines that carry an envelope."""
    for a in _ACTIONS_WITH_REJECT_SHAPE:
        if rest.startswith(a):
            _parse_reject(ev, rest[len(a):])
            if a == "proxy-accept: " and ev.reply:
                q = ev.reply.rfind("queued as ")
                if q >= 0:
                    m = _QUEUED_AS_RE.match(ev.reply, q)
                    if m:
                        ev.linked_queue_id = m.group(1)
            return
    if "; from=" in rest:
        # cleanup header/body checks: "warning: header X: v from host[ip]; from=<> to=<> ..."
        m = _HEADER_FROM_RE.search(rest)
        if m:
            if m.group(2) is not None:  # "from local;" names no client
                ev.client_host = m.group(1) or None
                ev.client_ip = _ip_or_none(m.group(2))
            _parse_envelope_kv(ev, rest[m.end():])


def parse_postfix(program: str, message: str) -> PostfixEvent:
    """Parse one Postfix log message. Never raises; unknown shapes give kind 'other'."""
    try:
        if not isinstance(message, str):
            return PostfixEvent("other")
        return _parse(program, message)
    except Exception:  # pragma: no cover - defensive: the parser must never raise
        return PostfixEvent("other")
