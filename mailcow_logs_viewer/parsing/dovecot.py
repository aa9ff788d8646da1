"""Pure parser for Dovecot log messages as mailcow serves them (`program: "dovecot"`).

The sub-process is inside the message (mailcow-api.md 2.3): `lmtp(user)<pid><session>: ...`
for deliveries (with Pigeonhole Sieve's verdict), `imap-login: ...` for logins, `auth...:`
for the password checks. Formats are those real Dovecot 2.3 + Pigeonhole 0.5 writes (see
the realmail-dovecot-sample corpus). `parse_dovecot` never raises: a message it does not
know is `parsed=False` and kept raw by the caller.
"""
from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["DovecotEvent", "parse_dovecot", "ACTIONS", "VACATION_NOT_SENT"]

# What a delivery line says happened to the message in this mailbox (never reorder: stored).
ACTIONS = ("stored", "fileinto", "discard", "redirect", "vacation", "vacation_skipped", "store_failed",
           "script_failed")


class DovecotEvent(NamedTuple):
    parsed: bool
    kind: str | None = None          # lmtp | session | login | auth_failure | auth_check | other
    service: str | None = None       # lmtp, imap-login, imap, auth-worker, ...
    user: str | None = None          # the mailbox (lmtp) or the login name
    session: str | None = None       # lmtp session id, with its :R2 suffix for later recipients
    message_id: str | None = None    # with <>; None for `msgid=unspecified`
    action: str | None = None        # one of ACTIONS for lmtp lines
    folder: str | None = None
    target: str | None = None        # redirect / vacation address
    detail: str | None = None        # why (vacation not sent, store failure)
    ip: str | None = None            # rip= of a login, the client of an auth check
    attempts: int | None = None      # failed attempts a login process reports on disconnect
    priority: str | None = None      # a level Dovecot wrote into the text (`Info:`, `Error:`)


UNPARSED = DovecotEvent(False)

_LEVEL = re.compile(r"(Info|Warning|Error|Fatal|Panic|Debug): ")
_LMTP = re.compile(r"lmtp\(([^()]*)\)<(\d+)><([^<>]+)>: (.*)\Z", re.S)
_PROCESS = re.compile(r"([a-z][a-z0-9-]*)(?:\(([^()]*)\))?(?:<\d+>)?(?:<[^<>]*>)?: (.*)\Z", re.S)
_MSGID = re.compile(r"(?:sieve: )?msgid=(<[^<>]*>|unspecified|\S+?): (.*)\Z", re.S)
_STORED = re.compile(r"stored mail into mailbox '((?:[^']|'')*)'\Z")
_SAVED = re.compile(r"saved mail to (.+)\Z")
_FAILED = re.compile(r"failed to store into mailbox '((?:[^']|'')*)': (.*)\Z", re.S)
_REDIRECT = re.compile(r"forwarded to <([^<>]*)>")
_VACATION_SENT = re.compile(r"sent vacation response to <([^<>]*)>")
_ADDRESS = re.compile(r"<([^<>]*)>")
# Why Pigeonhole did not answer (the text it writes -> plain words).
VACATION_NOT_SENT = (
    ("discarded duplicate vacation response", "already replied"),
    ("auto-submitted message", "the message was automatic (Auto-Submitted)"),
    ("mailinglist recipient", "mailing list"),
    ("precedence=bulk", "bulk mail (Precedence: bulk)"),
    ("implicitly delivered message", "not addressed to the mailbox explicitly"),
    ("discarding vacation response", "not sent"),
)
_LOGIN_FAILED = re.compile(r"(?:Disconnected|Aborted login)[^(]*\((?:[^()]*?; )?auth failed, (\d+) attempts?")
_LOGIN_OK = re.compile(r"Login: user=<([^<>]*)>")
_FIELD_USER = re.compile(r"user=<([^<>]*)>")
_FIELD_RIP = re.compile(r"rip=([0-9A-Fa-f.:]+)")
# auth-worker(231): lua(admin@example.org,185.222.58.14,<Xb3k...>): Password mismatch (...)
_AUTH_CHECK = re.compile(r"([a-z-]+)\(([^,()]*),([0-9A-Fa-f.:]+)(?:,<[^<>]*>)?\): (.*)\Z", re.S)
_AUTH_FAILED = re.compile(r"Password mismatch|unknown user|Password verification failed|Authentication failed")


def _unquote(folder: str) -> str:
    return folder.replace("''", "'")


def _lmtp(user: str, session: str, rest: str, level: str | None) -> DovecotEvent:
    base = dict(parsed=True, kind="lmtp", service="lmtp", user=user.lower() or None, session=session,
                priority=level)
    if rest.startswith("sieve: Execution of script") and "failed" in rest:
        return DovecotEvent(**base, action="script_failed", detail=rest[len("sieve: "):])
    match = _MSGID.match(rest)
    if match is None:
        return DovecotEvent(**base)
    msgid, what = match.groups()
    base["message_id"] = msgid if msgid.startswith("<") else None
    action, _, text = what.partition(" action: ") if " action: " in what else (None, "", what)
    if (found := _STORED.match(text)) or (found := _SAVED.match(text)):
        folder = _unquote(found.group(1)).strip()
        return DovecotEvent(**base, action="fileinto" if action == "fileinto" else "stored", folder=folder)
    if found := _FAILED.match(text):
        return DovecotEvent(**base, action="store_failed", folder=_unquote(found.group(1)), detail=found.group(2))
    if action == "discard":
        return DovecotEvent(**base, action="discard")
    if action == "redirect" and (found := _REDIRECT.search(text)):
        return DovecotEvent(**base, action="redirect", target=found.group(1).lower())
    if action == "vacation":
        if found := _VACATION_SENT.search(text):
            return DovecotEvent(**base, action="vacation", target=found.group(1).lower())
        reason = next((plain for needle, plain in VACATION_NOT_SENT if needle in text), "not sent")
        address = _ADDRESS.search(text)
        return DovecotEvent(**base, action="vacation_skipped", detail=reason,
                            target=address.group(1).lower() if address else None)
    return DovecotEvent(**base)


def _login(service: str, rest: str, level: str | None) -> DovecotEvent:
    user = _FIELD_USER.search(rest)
    rip = _FIELD_RIP.search(rest)
    fields = dict(parsed=True, service=service, user=(user.group(1) or None) if user else None,
                  ip=rip.group(1) if rip else None, priority=level)
    if found := _LOGIN_FAILED.search(rest):
        return DovecotEvent(**fields, kind="auth_failure", attempts=int(found.group(1)))
    if _LOGIN_OK.match(rest):
        return DovecotEvent(**fields, kind="login")
    return DovecotEvent(**fields, kind="other")


def parse_dovecot(message) -> DovecotEvent:
    """One Dovecot log message -> DovecotEvent; UNPARSED for anything unknown."""
    try:
        if not isinstance(message, str):
            return UNPARSED
        text = message.strip()
        level = None
        if found := _LEVEL.match(text):       # a level in front of the process (syslog-less writers)
            level, text = found.group(1).lower(), text[found.end():]
        if found := _LMTP.match(text):
            user, _pid, session, rest = found.groups()
            if found_level := _LEVEL.match(rest):
                level, rest = found_level.group(1).lower(), rest[found_level.end():]
            return _lmtp(user, session, rest, level)
        found = _PROCESS.match(text)
        if found is None:
            return UNPARSED
        service, inner, rest = found.groups()
        if found_level := _LEVEL.match(rest):
            level, rest = found_level.group(1).lower(), rest[found_level.end():]
        if service.endswith("-login"):
            return _login(service, rest, level)
        if service.startswith("auth"):
            if (check := _AUTH_CHECK.match(rest)) and _AUTH_FAILED.search(check.group(4)):
                return DovecotEvent(True, "auth_check", service, check.group(2) or None, ip=check.group(3),
                                    detail=check.group(4), priority=level)
            return DovecotEvent(True, "other", service, priority=level)
        if service == "lmtp" and (rest.startswith("Connect from") or rest.startswith("Disconnect from")):
            return DovecotEvent(True, "session", "lmtp", priority=level)
        return DovecotEvent(True, "other", service, user=(inner or None) if inner and "@" in inner else None,
                            priority=level)
    except Exception:   # a parser never stops an ingest; the line is kept raw
        return UNPARSED
