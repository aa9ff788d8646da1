"""Why a recipient failed, as a short key an admin can group by.

A remote reply ("host mx.example.net[198.51.100.7] said: 550 5.1.1 <bob@example.net>:
Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO
command)") differs per recipient, host and queue id, so counting replies as they are gives
one group per message. `reason_key` keeps what they share: the DSN class (or the SMTP code), and
either a known phrase (`5.1.1 user unknown`, `blocked using zen.spamhaus.org`, `greylisted`) or the
reply with addresses, hosts, ids and numbers masked.

The same function runs inside SQLite (registered on every connection), so the list's
`reason=` filter and the top-reasons table ask one rule and cannot disagree.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .db import database

FAILED = ("bounced", "expired", "deferred", "rejected")
# Which recipient a list shows first: the one that explains the message's status.
_RANK = {"bounced": 0, "expired": 0, "rejected": 1, "deferred": 2}


def failing_first(outcomes: list) -> list:
    """Recipients (anything with a `status`) with the worst outcome first, otherwise in order."""
    return sorted(outcomes, key=lambda o: _RANK.get(o.status, 3))

_SAID = re.compile(r"^host \S+ said:\s*", re.IGNORECASE)
_IN_REPLY = re.compile(r" ?\(in reply to [^)]*\)\s*$")
_CODE = re.compile(r"^(?P<code>[245]\d\d)(?:[ -]+(?P<dsn>[245]\.\d{1,3}\.\d{1,3}))?\b[ -]*")
_BLOCKED = re.compile(r"blocked using (?P<list>[a-z0-9.-]+)", re.IGNORECASE)
# Known phrases, first match wins: the wording differs between servers, the meaning does not.
# Plain substrings of the lower-cased reply: a case-insensitive regex per reply cost ten times more.
_PHRASES = (
    ("greylisted", ("greylist",)),
    ("user unknown", ("user unknown", "unknown user", "no such user", "mailbox unavailable", "does not exist",
                      "recipient address rejected: user")),
    ("mailbox full", ("quota", "mailbox full", "mailbox is full", "insufficient storage")),
    ("relay access denied", ("relay access denied", "relaying denied")),
    ("connection timed out", ("connection timed out", "timed out while")),
    ("connection refused", ("connection refused",)),
    ("domain not found", ("host not found", "name service error", "domain not found")),
    ("rejected as spam", ("spam message rejected", "message rejected as spam", "gtube")),
)
_MASKS = (
    (re.compile(r"<[^<>\s]*@[^<>\s]*>|[\w.+=-]+@[\w.-]+"), "<address>"),
    (re.compile(r"\[[0-9a-f.:]+\](:\d+)?", re.IGNORECASE), "[ip]"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b"), "ip"),
    (re.compile(r"\b[0-9A-F]{10,}\b"), "<id>"),
    (re.compile(r"\b(?=[\w-]*\d)[\w-]{12,}\b"), "<id>"),
    (re.compile(r"\d+"), "N"),
    (re.compile(r"\s+"), " "),
)
MAX_KEY = 80


@lru_cache(maxsize=16384)     # the same refusal text comes back thousands of times
def reason_key(dsn: str | None, reply: str | None) -> str | None:
    """`5.1.1 user unknown`, `greylisted`, ... or None when nothing was said."""
    text = (reply or "").strip()
    if not text and not dsn:
        return None
    text = _unwrap(text)
    code = _CODE.match(text)
    smtp_code = None
    if code:
        smtp_code, dsn = code["code"], code["dsn"] or dsn
        text = text[code.end():]
    # The DSN class when there is one, else the SMTP code: Postfix logs a NOQUEUE reject's reply
    # without its "550", and a bounce with it; both are the same "5.1.1 user unknown".
    prefix = [dsn or smtp_code] if dsn or smtp_code else []
    blocked = _BLOCKED.search(text)
    if blocked:
        return f"blocked using {blocked['list'].lower()}"
    lower = text.lower()
    phrase = next((name for name, needles in _PHRASES if any(n in lower for n in needles)), None)
    if phrase == "greylisted":
        return phrase       # 450, 451, 4.7.1, 4.2.0: all the same "come back later"
    if phrase is None:
        for pattern, mask in _MASKS:
            text = pattern.sub(mask, text)
        phrase = text.strip(" ;:.,").lower()[:MAX_KEY].rstrip()
    return " ".join(prefix + ([phrase] if phrase else [])) or None


def _unwrap(text: str) -> str:
    if text.startswith("host "):
        text = _SAID.sub("", text)
    return _IN_REPLY.sub("", text) if "(in reply to " in text else text


def short_reason(reply: str | None) -> str | None:
    """The reply without the "host ... said:" and "(in reply to ...)" wrapping, for a list cell."""
    if not reply:
        return None
    return _unwrap(reply.strip()) or None


database.func("reason_key", deterministic=True)(reason_key)
