"""Which message a leg belongs to: the chain of custody (ARCHITECTURE "The message model").

A Message-ID is not an identity (PITFALLS 31): a leg joins an earlier message with the same
Message-ID only along the chain of custody of that message:
- a content-filter hop or any re-injection named by a `queued as NEWQID` line (whatever the
  order in which the two queue ids' lines arrive, PITFALLS 32);
- a local re-injection: the leg was made on this server (no client, or a loopback/private
  client: pickup, local(8) forwards, Sieve redirects, quarantine releases, the filter's
  return port);
- a retry of a temporarily refused transaction (a 4xx at RCPT or end of data, greylisting)
  by the same client or the same envelope sender;
- a hand-off between our own servers (a backup MX relaying to the primary, a relay in front
  of mailcow): the sending server's delivery says `queued as NEWQID`, and the leg NEWQID on
  another of our servers, started around that delivery, carries the same Message-ID. That leg
  is `relayed`: the message keeps its entry server (outcome.entry_server), one message with a
  leg on each server. Either server's lines may come first (join_hops).
Queue ids are unique per server only: every rule above but the hand-off looks at the legs of
the leg's own server. Every other transaction with that Message-ID (another server's included) is a message
of its own, with a key derived from its first queue id, linked to the others as related. A temporary NOQUEUE refusal that
the same client retries successfully joins the accepted message as an earlier attempt
(PITFALLS 33).
"""
from __future__ import annotations

import hashlib
import ipaddress

from .db import database
from .facts import chunks, dict_rows, marks
from .leg_rule import LINE_IN_LEG_SQL
from .models import Leg, Message, PostfixLine, RspamdRow
from .sql_batches import dicts

# The new queue id of a hop starts while the hand-off is under way: its first line comes
# before the `queued as` line (at most HOP_WINDOW seconds before, a slow filter), never after
# it (but for CLOCK_SLACK seconds of log time stamps out of order). A reused queue id's later
# leg starts after it.
HOP_WINDOW = 3600
CLOCK_SLACK = 2
# Two servers' clocks (NTP) and a slow SMTP dialogue: the receiving leg of a hand-off starts
# before the sender logs `status=sent`, by up to HOP_WINDOW; its first line may stamp up to
# this much later.
HANDOFF_SLACK = 60
# How long after a temporary refusal a retry still counts as one (and a refusal never retried
# becomes final, see outcome.REFUSAL_RETRY_SECONDS).
RETRY_WINDOW = 6 * 3600
# Messages with one Message-ID looked at when placing a leg: bounded, so a Message-ID reused
# by thousands of transactions costs the same as one reused twice.
CANDIDATES = 50
TEMPORARY_REFUSALS = ("reject", "milter_reject")


def correlation_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8", "surrogatepass")).hexdigest()


def message_key(leg: dict) -> str:
    """The first message of a Message-ID keeps `sha256("msgid:" + id)`; see derived_key."""
    return correlation_key("msgid", leg["message_id"])


def derived_key(leg: dict) -> str:
    """A later, distinct transaction with the same Message-ID: derived from its first queue id."""
    return correlation_key("msgid", f"{leg['message_id']}\n{leg['queue_id']}:{leg['first_time']}")


def queue_key(leg: dict) -> str:
    return correlation_key("queue", f"{leg['queue_id']}:{leg['first_time']}")


# Loopback and the private ranges (RFC 1918, unique local, link local): a content filter's
# return port, mailcow's containers. Not ipaddress.is_private, which also calls the
# documentation and benchmark ranges private.
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7", "fe80::/10"))


def is_local_client(ip: str | None) -> bool:
    """Made on this server: no client at all (pickup, local(8), bounces), or a loopback or
    private one."""
    if not ip:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == net.version and address in net for net in _LOCAL_NETWORKS)


def _same_sender(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


# The per-leg look-ups below run once for every new leg (hundreds of thousands in a first
# import): fixed SQL text, so sqlite3 reuses the prepared statement and no query is built.
_HOP_PARENT = (f"SELECT leg.message_ref FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
               "WHERE postfix_line.linked_queue_id = ? AND postfix_line.kind = 'delivery' AND postfix_line.server = ? "
               "AND postfix_line.time BETWEEN ? AND ? AND leg.message_ref IS NOT NULL AND leg.id != ? LIMIT 1")


def hop_parent(leg: dict) -> int | None:
    """The message of the leg of this server that said `queued as <this queue id>` around this
    leg's time."""
    found = database.execute_sql(_HOP_PARENT, (leg["queue_id"], leg["server"], leg["first_time"] - CLOCK_SLACK,
                                               leg["first_time"] + HOP_WINDOW, leg["id"])).fetchone()
    return found[0] if found else None


_HANDOFF_PARENT = (f"SELECT sender.message_ref FROM postfix_line JOIN leg AS sender ON "
                   f"{LINE_IN_LEG_SQL.replace('leg.', 'sender.')} "
                   "WHERE postfix_line.linked_queue_id = ? AND postfix_line.kind = 'delivery' AND postfix_line.server != ? "
                   "AND postfix_line.time BETWEEN ? AND ? AND sender.message_id = ? AND sender.message_ref IS NOT NULL "
                   "ORDER BY postfix_line.time LIMIT 1")


def handoff_parent(leg: dict) -> int | None:
    """The message another of our servers handed this leg over from (`queued as` this queue id,
    the same Message-ID, around this leg's start), or None."""
    if not leg["message_id"]:
        return None
    found = database.execute_sql(_HANDOFF_PARENT, (leg["queue_id"], leg["server"], leg["first_time"] - HANDOFF_SLACK,
                                                   leg["first_time"] + HOP_WINDOW, leg["message_id"])).fetchone()
    return found[0] if found else None


# The leg's own server's earlier legs first; another server's legs (at any time) only tell that
# the Message-ID is taken.
_SAME_MESSAGE_ID = ("SELECT * FROM leg WHERE message_id = ? AND message_ref IS NOT NULL AND id != ? "
                    "AND (first_time <= ? OR server != ?) ORDER BY server = ? DESC, first_time DESC "
                    f"LIMIT {CANDIDATES}")


def custody_message(leg: dict, in_batch: list[dict]) -> tuple[int | None, str | None, str]:
    """For a leg with a Message-ID: (message it joins, None, role) along the chain of custody,
    or (None, key, "primary") for a message of its own. `in_batch` are legs of this pass
    already placed, by Message-ID (their messages may not be stored yet)."""
    others = in_batch[-CANDIDATES:] + dicts(_SAME_MESSAGE_ID, (leg["message_id"], leg["id"], leg["first_time"],
                                                               leg["server"], leg["server"]))
    candidates = sorted((c for c in others if c["first_time"] <= leg["first_time"] and c["server"] == leg["server"]),
                        key=lambda c: c["first_time"], reverse=True)[:CANDIDATES]
    if not candidates:
        # The first transaction of this Message-ID on this server; the key of the first message
        # of the Message-ID only if no other server has one (a stranger's mail reusing it).
        taken = any(c["server"] != leg["server"] for c in others)
        return None, derived_key(leg) if taken else message_key(leg), "primary"
    if is_local_client(leg["client_ip"]):
        return candidates[0].get("message_ref"), candidates[0].get("key"), "reinjected"
    refused = _temporarily_refused(candidates)
    for candidate in candidates:
        if (candidate.get("refused_temp") or candidate["id"] in refused) and (
                candidate["client_ip"] == leg["client_ip"] or _same_sender(candidate["sender"], leg["sender"])):
            return candidate.get("message_ref"), candidate.get("key"), "retry"
    return None, derived_key(leg), "primary"


def _temporarily_refused(legs: list[dict]) -> set[int]:
    """Legs with a 4xx refusal at RCPT or end of data among their lines."""
    refused: set[int] = set()
    ids = [leg["id"] for leg in legs if leg.get("id")]
    for part in chunks(ids):
        refused |= {leg for (leg,) in database.execute_sql(
            f"SELECT leg.id FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} WHERE leg.id IN ({marks(part)}) "
            f"AND postfix_line.kind IN ({marks(TEMPORARY_REFUSALS)}) AND postfix_line.dsn LIKE '4%'",
            (*part, *TEMPORARY_REFUSALS))}
    return refused


def retried_refusals(legs: list[dict]) -> list[tuple[int, int]]:
    """(NOQUEUE line, message) for temporary NOQUEUE refusals that these placed legs retried:
    the same client, envelope sender and recipient, accepted within RETRY_WINDOW after the
    refusal; the first such leg takes it. A refusal already moved into an accepted message
    stays there. A leg whose recipients are not logged yet is matched by a later pass, when
    its delivery line changes it. One query over the time range of the legs (NOQUEUE lines
    are the only ones with a message_ref), one for the recipients of the legs that match."""
    legs = [leg for leg in legs if leg["client_ip"] and leg["sender"] is not None and leg["message_ref"] is not None]
    if not legs:
        return []
    by_client: dict[tuple[str, str, str], list[dict]] = {}
    for leg in legs:
        by_client.setdefault((leg["server"], leg["client_ip"], leg["sender"].lower()), []).append(leg)
    pairs = []
    for line in dict_rows(PostfixLine.select(PostfixLine.id, PostfixLine.time, PostfixLine.client_ip, PostfixLine.server,
                                             PostfixLine.sender, PostfixLine.recipient, PostfixLine.line_key,
                                             PostfixLine.message_ref, Message.correlation_key)
                          .join(Message, on=(Message.id == PostfixLine.message_ref))
                          .where(PostfixLine.message_ref.is_null(False), PostfixLine.kind == "noqueue_reject",
                                 PostfixLine.time.between(min(leg["first_time"] for leg in legs) - RETRY_WINDOW,
                                                          max(leg["first_time"] for leg in legs)),
                                 PostfixLine.dsn.startswith("4"))):
        if line["correlation_key"] != correlation_key("noqueue", str(line["line_key"])):
            continue                # an earlier attempt of an accepted message already
        retries = [leg for leg in by_client.get((line["server"], line["client_ip"], (line["sender"] or "").lower()), ())
                   if leg["first_time"] - RETRY_WINDOW <= line["time"] <= leg["first_time"]]
        if retries and line["recipient"]:
            pairs.append((line, sorted(retries, key=lambda leg: leg["first_time"])))
    recipients = _recipients_of([leg for _, retries in pairs for leg in retries])
    moves = []
    for line, retries in pairs:
        leg = next((leg for leg in retries if line["recipient"].lower() in recipients.get(leg["id"], ())), None)
        if leg is not None:
            moves.append((line["id"], leg["message_ref"]))
    return moves


def _recipients_of(legs: list[dict]) -> dict[int, set[str]]:
    """Leg id -> the recipients its lines name (lower case)."""
    found: dict[int, set[str]] = {}
    for part in chunks(sorted({leg["id"] for leg in legs})):
        for leg_id, recipient in database.execute_sql(
                f"SELECT leg.id, postfix_line.recipient FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
                f"WHERE leg.id IN ({marks(part)}) AND postfix_line.recipient IS NOT NULL", part):
            found.setdefault(leg_id, set()).add(recipient.lower())
    return found


def scanned_transactions(links: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(message, Rspamd row) links made by Message-ID, each moved to the transaction Rspamd
    scanned when several messages share that Message-ID (a list's copy and the post, PITFALLS
    31): the message with a leg of the Message-ID from the row's client that started last
    before the scan. Rows of a Message-ID only one message has keep their link."""
    messages = sorted({message for message, _ in links})
    legs_by_mid: dict[str, list[dict]] = {}
    mids = set()
    for part in chunks(messages):
        mids |= {mid for (mid,) in Leg.select(Leg.message_id).where(Leg.message_ref.in_(part),
                                                                     Leg.message_id.is_null(False)).tuples()}
    for part in chunks(sorted(mids)):
        for leg in dict_rows(Leg.select(Leg.message_id, Leg.message_ref, Leg.client_ip, Leg.first_time, Leg.server)
                             .where(Leg.message_id.in_(part), Leg.message_ref.is_null(False))):
            legs_by_mid.setdefault(leg["message_id"], []).append(leg)
    shared = {mid for mid, legs in legs_by_mid.items() if len({leg["message_ref"] for leg in legs}) > 1}
    if not shared:
        return links
    rows = {}
    for part in chunks([row for _, row in links]):
        rows.update({row["id"]: row for row in dict_rows(
            RspamdRow.select(RspamdRow.id, RspamdRow.message_id, RspamdRow.ip, RspamdRow.time, RspamdRow.server)
            .where(RspamdRow.id.in_(part), RspamdRow.message_id.in_(sorted(shared))))})
    moved = []
    for message, row_id in links:
        row = rows.get(row_id)
        if row is not None:
            scanned = [leg for leg in legs_by_mid[row["message_id"]] if leg["server"] == row["server"]
                       and leg["client_ip"] == row["ip"] and leg["first_time"] <= row["time"] + CLOCK_SLACK]
            if scanned:
                message = max(scanned, key=lambda leg: leg["first_time"])["message_ref"]
        moved.append((message, row_id))
    return moved


def move_to(moves: list[tuple[int, int]]) -> set[int]:
    """Move NOQUEUE lines to other messages; returns the messages they left and joined."""
    if not moves:
        return set()
    conn = database.connection()
    left = set()
    for part in chunks([line for line, _ in moves]):
        left |= {m for (m,) in conn.execute(f"SELECT message_ref FROM postfix_line WHERE id IN ({marks(part)})", part)}
    conn.executemany("UPDATE postfix_line SET message_ref = ? WHERE id = ?", [(m, line) for line, m in moves])
    return left | {m for _, m in moves}


_FIRST_OF_MESSAGE_ID = ("SELECT message.correlation_key, leg.message_id FROM message JOIN leg ON leg.message_ref = message.id "
                        "WHERE message.id = ? AND leg.message_id IS NOT NULL")


def merge_messages(into: int, other: int) -> None:
    """Everything of `other` (legs, NOQUEUE lines, Rspamd rows) becomes `into`'s; `other` is left
    empty and the recompute deletes it. When `other` holds its Message-ID's key (message_key:
    its leg was placed before the one that handed it over, as when the receiving server's lines
    came first), `into` takes that key: it is now the Message-ID's first message, and Rspamd
    rows and later legs find their message by it."""
    conn = database.connection()
    taken = next((key for key, mid in conn.execute(_FIRST_OF_MESSAGE_ID, (other,))
                  if key == correlation_key("msgid", mid)), None)
    if taken is not None:
        (kept,) = conn.execute("SELECT correlation_key FROM message WHERE id = ?", (into,)).fetchone()
        conn.execute("UPDATE message SET correlation_key = ? WHERE id = ?", (f"merged:{other}", other))
        conn.execute("UPDATE message SET correlation_key = ? WHERE id = ?", (taken, into))
        conn.execute("UPDATE message SET correlation_key = ? WHERE id = ?", (kept, other))
    conn.execute("UPDATE leg SET message_ref = ?, role = CASE role WHEN 'primary' THEN 'reinjected' ELSE role END "
                 "WHERE message_ref = ?", (into, other))
    conn.execute("UPDATE postfix_line SET message_ref = ? WHERE message_ref = ?", (into, other))
    conn.execute("UPDATE rspamd_row SET message_ref = ? WHERE message_ref = ?", (into, other))


_HOP_FROM = (f"SELECT leg.message_ref FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
             "WHERE postfix_line.linked_queue_id = ? AND postfix_line.time = ? AND postfix_line.kind = 'delivery' "
             "AND postfix_line.server = ? AND leg.message_ref IS NOT NULL LIMIT 1")
_HOP_TO = ("SELECT id, message_ref FROM leg WHERE queue_id = ? AND server = ? AND first_time BETWEEN ? AND ? "
           "AND message_ref IS NOT NULL ORDER BY first_time DESC LIMIT 1")
_HANDOFF_TO = ("SELECT leg.id, leg.message_ref FROM leg WHERE leg.queue_id = ? AND leg.server != ? "
               "AND leg.first_time BETWEEN ? AND ? AND leg.message_ref IS NOT NULL AND leg.message_id = "
               "(SELECT message_id FROM leg WHERE message_ref = ? AND server = ? AND message_id IS NOT NULL LIMIT 1) "
               "ORDER BY leg.first_time DESC LIMIT 1")


def join_hops(hops: list[tuple[str, str, int]]) -> set[int]:
    """`queued as NEWQID` lines of this pass (server, NEWQID, line time): NEWQID's leg on that
    server, or else on another of ours with the same Message-ID (a hand-off), joins the
    message of the leg that handed it over, even when it was placed earlier (its lines came
    first)."""
    touched: set[int] = set()
    conn = database.connection()
    for server, new_queue_id, when in hops:
        parent = conn.execute(_HOP_FROM, (new_queue_id, when, server)).fetchone()
        if not parent:
            continue
        role = "reinjected"
        child = conn.execute(_HOP_TO, (new_queue_id, server, when - HOP_WINDOW, when + CLOCK_SLACK)).fetchone()
        if not child:
            role = "relayed"
            child = conn.execute(_HANDOFF_TO, (new_queue_id, server, when - HOP_WINDOW, when + HANDOFF_SLACK,
                                               parent[0], server)).fetchone()
        if not child:
            continue
        into, (child_id, other) = parent[0], child
        if into != other:
            merge_messages(into, other)
        conn.execute("UPDATE leg SET role = ? WHERE id = ?", (role, child_id))
        touched |= {into, other}
    return touched
