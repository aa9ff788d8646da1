"""The mailbox stage: what Dovecot did with each recipient Postfix handed it over LMTP.

For Postfix a message given to Dovecot is `status=sent ... Saved`, whatever Sieve did next:
filed into Junk, discarded, redirected, refused over quota. This module links Dovecot's
`lmtp(...)` lines to the Postfix delivery line of the same recipient and turns them into
the recipient's mailbox step (folder, discarded, redirected to, vacation reply).

Linking, exact first:
1. Postfix's LMTP reply `250 2.0.0 <rcpt> SESSION Saved` names Dovecot's session id; later
   recipients of one transaction carry `:R2`, `:R3` in both logs.
2. A refusal carries no session id: the line of that Message-ID whose recipient is the
   mailbox (`+detail` removed), closest in time.
3. A Sieve redirect submits a copy with the same Message-ID through Postfix, and a vacation
   reply a new `<dovecot-sieve-...>` message: each becomes its own message, related to the
   original both ways (dovecot_line.linked_ref).

Every link stays on one server: Dovecot hands over to its own Postfix, whose queue ids and
session ids mean nothing on another server.

Lines arrive in any order across fetches (the copy is often logged before the original's
`sent`; a Dovecot fetch may run before or after the Postfix one), so lines not linked yet
are tried again on every pass while they are younger than LINK_WINDOW before the newest
Dovecot line. The correlator calls `link` once per pass and `load` for the messages it
recomputes; `outcome.compute_message` calls `apply`.
"""
from __future__ import annotations

import re
from typing import Callable

from .db import database
from .leg_rule import LINE_IN_LEG_SQL
from .sql_batches import chunks as _chunks, dicts as _dicts, marks as _marks

LINK_WINDOW = 86400         # how long an unlinked LMTP line is tried again
CHUNK = 2000                # Dovecot lines linked per query
BEFORE, AFTER = 300, 3600   # Postfix writes its delivery line after Dovecot's verdict, seconds to minutes later
COPY_WINDOW = 300           # a redirected copy or vacation reply is submitted within seconds of the verdict
_SESSION_REPLY = re.compile(r"\A2\d\d [0-9.]+ <[^<>]*> (\S+) Saved\b")
_SENT_MAIL = ("redirect", "vacation")
_DELIVERY_FIELDS = ("postfix_line.id, postfix_line.time, postfix_line.recipient, postfix_line.orig_to, "
                    "postfix_line.reply, leg.id, leg.message_ref, leg.server")
QUOTA_REASON = "mailbox full (over quota)"
UNKNOWN_REASON = "no such mailbox"


def mailbox_of(address: str | None) -> str:
    """`alice+tag@x` -> `alice@x`: Dovecot's lmtp(user) names the mailbox, not the detail."""
    if not address:
        return ""
    local, at, domain = address.lower().rpartition("@")
    if not at:
        return domain
    return f"{local.split('+', 1)[0]}@{domain}"


def session_of(reply: str | None) -> str | None:
    match = _SESSION_REPLY.match(reply or "")
    return match.group(1) if match else None


# ---------------------------------------------------------------- linking (correlator, writer thread)

def link(messages_for_keys: Callable[[dict[str, int]], dict[str, int]], split_key: Callable[[dict], str]) -> set[int]:
    """Link Dovecot lines to messages; returns the messages whose mailbox step changed.
    `split_key` is the correlator's key of a distinct transaction reusing a Message-ID
    (custody.derived_key): what a redirected copy becomes."""
    newest = database.execute_sql("SELECT MAX(time) FROM dovecot_line").fetchone()[0]
    if newest is None:
        return set()
    since = newest - LINK_WINDOW
    touched: set[int] = set()
    last_id = 0
    while True:
        rows = database.execute_sql(
            "SELECT id, time, user, session, message_id, server FROM dovecot_line WHERE message_ref IS NULL "
            "AND kind = 'lmtp' AND time > ? AND id > ? ORDER BY id LIMIT ?", (since, last_id, CHUNK)).fetchall()
        if not rows:
            break
        with database.atomic("IMMEDIATE"):
            touched |= _link_deliveries(rows)
        last_id = rows[-1][0]
    with database.atomic("IMMEDIATE"):
        touched |= _link_sent_mail(since, messages_for_keys, split_key)
    return touched


def _link_deliveries(rows: list[tuple]) -> set[int]:
    conn = database.connection()
    low, high = min(r[1] for r in rows) - BEFORE, max(r[1] for r in rows) + AFTER
    by_session: dict[tuple[str, str], tuple] = {}
    for line in conn.execute(
            f"SELECT {_DELIVERY_FIELDS} FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
            "WHERE postfix_line.status = 'sent' AND postfix_line.time BETWEEN ? AND ? "
            "AND leg.message_ref IS NOT NULL", (low, high)):
        session = session_of(line[4])
        if session:
            by_session[(line[7], session)] = line
    links: dict[int, tuple[int, str]] = {}
    unmatched = []
    for line_id, when, user, session, message_id, server in rows:
        found = by_session.get((server, session))
        if found is not None:
            links[line_id] = (found[6], found[2])
        else:
            unmatched.append((line_id, when, user, session, message_id, server))
    _link_by_message_id(unmatched, links)
    # A line without a Message-ID of its own (the script failure after a refused store)
    # follows the linked line of its session.
    sessions = sorted({r[3] for r in unmatched if r[0] not in links and r[3]})
    known = {}
    for part in _chunks(sessions):
        known.update({(server, session): (message, recipient) for session, message, recipient, server in conn.execute(
            f"SELECT session, message_ref, recipient, server FROM dovecot_line WHERE session IN ({_marks(part)}) "
            "AND message_ref IS NOT NULL", part)})
    known.update({(r[5], r[3]): links[r[0]] for r in rows if r[0] in links and r[3]})
    for line_id, _, _, session, _, server in unmatched:
        if line_id not in links and (server, session) in known:
            links[line_id] = known[(server, session)]
    conn.executemany("UPDATE dovecot_line SET message_ref = ?, recipient = ? WHERE id = ?",
                     [(message, recipient, line_id) for line_id, (message, recipient) in links.items()])
    return {message for message, _ in links.values()}


def _link_by_message_id(unmatched: list[tuple], links: dict[int, tuple[int, str]]) -> None:
    """A refusal (over quota) has no session id in Postfix's reply: the delivery line of the
    same Message-ID to that mailbox, closest after Dovecot's line."""
    wanted = sorted({r[4] for r in unmatched if r[4]})
    candidates: dict[str, list[tuple]] = {}
    for part in _chunks(wanted):
        for line in database.execute_sql(
                f"SELECT {_DELIVERY_FIELDS}, leg.message_id FROM leg JOIN postfix_line ON {LINE_IN_LEG_SQL} "
                f"WHERE leg.message_id IN ({_marks(part)}) AND postfix_line.kind = 'delivery' "
                "AND leg.message_ref IS NOT NULL", part):
            candidates.setdefault(line[8], []).append(line)
    for line_id, when, user, _, message_id, server in unmatched:
        near = [c for c in candidates.get(message_id, ()) if c[7] == server
                and user in (mailbox_of(c[2]), mailbox_of(c[3])) and when - BEFORE <= c[1] <= when + AFTER]
        if near:
            best = min(near, key=lambda c: (session_of(c[4]) is not None, abs(c[1] - when)))
            links[line_id] = (best[6], best[2])


def _link_sent_mail(since: int, messages_for_keys, split_key) -> set[int]:
    """Each redirect and vacation reply to the message Postfix carried it in."""
    conn = database.connection()
    touched: set[int] = set()
    for line_id, when, user, message_id, action, target, original, server in conn.execute(
            "SELECT id, time, user, message_id, action, target, message_ref, server FROM dovecot_line "
            "WHERE action IN ('redirect', 'vacation') AND linked_ref IS NULL AND message_ref IS NOT NULL "
            "AND time > ? ORDER BY id", (since,)).fetchall():
        if action == "redirect":
            copy = _redirected_copy(server, when, user, message_id, target, original, messages_for_keys, split_key)
        else:
            copy = _vacation_reply(server, when, user, target)
        if copy is not None:
            conn.execute("UPDATE dovecot_line SET linked_ref = ? WHERE id = ?", (copy, line_id))
            touched |= {copy, original}
    return touched


def _taken(message: int | None) -> bool:
    return message is not None and database.execute_sql(
        "SELECT 1 FROM dovecot_line WHERE linked_ref = ? LIMIT 1", (message,)).fetchone() is not None


def _legs_to(leg_ids: list[int], address: str | None) -> set[int]:
    if not leg_ids or not address:
        return set()
    return {leg for (leg,) in database.execute_sql(
        f"SELECT leg.id FROM leg JOIN postfix_line ON {LINE_IN_LEG_SQL} WHERE leg.id IN ({_marks(leg_ids)}) "
        "AND postfix_line.kind = 'delivery' AND lower(postfix_line.recipient) = ?", (*leg_ids, address))}


def _redirected_copy(server, when, user, message_id, target, original, messages_for_keys, split_key) -> int | None:
    """The leg Dovecot submitted with the same Message-ID: sent from the mailbox (mailcow's
    `sieve_redirect_envelope_from = recipient`) or delivered to the redirect's target. The
    shared Message-ID made it a local re-injection of the original (custody.py); it becomes
    a message of its own, keyed like any later transaction of that Message-ID."""
    if not message_id:
        return None
    legs = database.execute_sql(
        "SELECT id, queue_id, first_time, sender, message_ref FROM leg WHERE message_id = ? AND server = ? "
        "AND first_time BETWEEN ? AND ? ORDER BY first_time, id",
        (message_id, server, when - COPY_WINDOW, when + COPY_WINDOW)).fetchall()
    # Never the leg that delivered to this mailbox (the original's own hop).
    delivering = _legs_to([leg[0] for leg in legs], user)
    to_target = _legs_to([leg[0] for leg in legs], target)
    for leg_id, queue_id, first_time, sender, message in legs:
        if leg_id in delivering or not ((sender or "").lower() == user or leg_id in to_target):
            continue
        if message == original or message is None:
            key = split_key({"message_id": message_id, "queue_id": queue_id, "first_time": first_time})
            message = messages_for_keys({key: (first_time, server)})[key]
            database.execute_sql("UPDATE leg SET message_ref = ?, role = 'primary' WHERE id = ?", (message, leg_id))
        if not _taken(message):
            return message
    return None


def _vacation_reply(server, when, user, target) -> int | None:
    """Pigeonhole's reply: a new `<dovecot-sieve-...>` Message-ID, sent from the mailbox (or
    the null sender) to the address it answers."""
    legs = database.execute_sql(
        "SELECT id, sender, message_ref FROM leg WHERE message_id >= '<dovecot-sieve-' "
        "AND message_id < '<dovecot-sieve.' AND server = ? AND first_time BETWEEN ? AND ? AND message_ref IS NOT NULL "
        "ORDER BY abs(first_time - ?), id", (server, when - COPY_WINDOW, when + COPY_WINDOW, when)).fetchall()
    legs = [leg for leg in legs if (leg[1] or "").lower() in (user, "")]
    to_target = _legs_to([leg[0] for leg in legs], target)
    for leg_id, _, message in sorted(legs, key=lambda leg: leg[0] not in to_target):
        if not _taken(message):
            return message
    return None


# ---------------------------------------------------------------- facts (correlator, per recompute)

_STEP_FIELDS = "id, time, priority, message, action, folder, target, detail, session, recipient, message_ref, linked_ref"


def load(facts: dict) -> None:
    """Give each message's facts its Dovecot lines, and a copy or reply its original."""
    ids = sorted(facts)
    for part in _chunks(ids):
        for row in _dicts(f"SELECT {_STEP_FIELDS} FROM dovecot_line WHERE message_ref IN ({_marks(part)}) "
                          "ORDER BY time, id", part):
            facts[row["message_ref"]].dovecot.append(row)
        for original, copy, action in database.execute_sql(
                f"SELECT message_ref, linked_ref, action FROM dovecot_line WHERE linked_ref IN ({_marks(part)})",
                part):
            facts[copy].notice_of = original
            facts[copy].related_kind = "redirect" if action == "redirect" else "auto_reply"


# ---------------------------------------------------------------- the recipient's outcome (pure)

def apply(dovecot: list[dict], outcomes: dict) -> None:
    """Each recipient's mailbox step from its Dovecot lines (oldest first); `outcomes` maps
    the lower-case recipient to its Outcome. A Sieve discard makes a delivered recipient
    `discarded`; refusals say why in plain words."""
    for line in dovecot:
        outcome = outcomes.get((line["recipient"] or "").lower())
        if outcome is None:
            continue
        action = line["action"]
        if action in ("stored", "fileinto"):
            outcome.folder = line["folder"]
        elif action == "discard":
            outcome.discarded = True
        elif action == "redirect" and line["target"] not in outcome.redirected_to:
            outcome.redirected_to.append(line["target"])
        elif action == "vacation":
            outcome.auto_reply = f"sent to {line['target']}"
        elif action == "vacation_skipped":
            outcome.auto_reply = f"not sent: {line['detail']}" + (f" ({line['target']})" if line["target"] else "")
        elif action == "store_failed":
            outcome.reason = QUOTA_REASON if "Quota" in (line["detail"] or "") else \
                f"could not be stored in {line['folder']}: {line['detail']}"
    for outcome in outcomes.values():
        if outcome.discarded and outcome.folder is None and outcome.status == "delivered":
            outcome.status = "discarded"
        if outcome.reason is None and outcome.status in ("bounced", "deferred", "expired"):
            outcome.reason = _refusal(outcome.dsn, outcome.reply)


def _refusal(dsn: str | None, reply: str | None) -> str | None:
    """RFC 3463: x.2.2 is a full mailbox, 5.1.1 an address with no mailbox."""
    if (dsn or "")[1:] == ".2.2" or "Quota exceeded" in (reply or ""):
        return QUOTA_REASON
    if dsn == "5.1.1":
        return UNKNOWN_REASON
    return None
