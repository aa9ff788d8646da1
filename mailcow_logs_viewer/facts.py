"""A message's facts, read and written in one place: which lines belong to a leg, the facts
the outcome is computed from (and the details page shows), and the computed rows.

Every query here is bounded by the number of legs it is asked about (chunks of 900 ids), so a
message with a thousand legs costs a few more queries, never a longer SQL expression.
"""
from __future__ import annotations

from peewee import JOIN

from .db import database
from .leg_rule import line_in_leg
from .models import Leg, PostfixLine
from .outcome import MessageFacts
from .sql_batches import chunks, dicts, marks


def lines_with_legs(query):
    """`query` (a select from PostfixLine) joined to the leg each line belongs to."""
    return query.join(Leg, join_type=JOIN.INNER, on=line_in_leg())


def dict_rows(query) -> list[dict]:
    """A Peewee query's rows as dicts straight from the cursor: these read whole backlogs,
    where Peewee's row wrapping would dominate."""
    return dicts(*query.sql())


_LINE_FIELDS = (PostfixLine.id, PostfixLine.time, PostfixLine.kind, PostfixLine.queue_id, PostfixLine.message_id,
                PostfixLine.sender, PostfixLine.recipient, PostfixLine.orig_to, PostfixLine.status,
                PostfixLine.relay, PostfixLine.delay, PostfixLine.dsn, PostfixLine.reply, PostfixLine.client_ip,
                PostfixLine.sasl_username, PostfixLine.message_ref, PostfixLine.linked_queue_id, PostfixLine.program)
# What a reader also shows of a line; the correlator does not need the text.
_TEXT_FIELDS = (PostfixLine.priority, PostfixLine.message, PostfixLine.parsed)


def load_facts(message_ids: list[int], with_text: bool = False) -> dict[int, MessageFacts]:
    """Everything needed to compute these messages (and, `with_text`, to show them), in a number
    of queries that grows with the legs in chunks, never one per line or per message."""
    line_fields = _LINE_FIELDS + (_TEXT_FIELDS if with_text else ())
    facts = {m: MessageFacts(m) for m in message_ids}
    legs: list[dict] = []
    for part in chunks(list(message_ids)):
        legs += dict_rows(Leg.select().where(Leg.message_ref.in_(part)))
    legs.sort(key=lambda leg: (leg["first_time"], leg["id"]))
    leg_message = {}
    for leg in legs:
        facts[leg["message_ref"]].legs.append(leg)
        leg_message[leg["id"]] = leg["message_ref"]
    for part in chunks(sorted(leg_message)):
        for line in dict_rows(lines_with_legs(PostfixLine.select(Leg.id.alias("leg_id"), *line_fields))
                         .where(Leg.id.in_(part))):
            facts[leg_message[line["leg_id"]]].lines.append(line)
    for part in chunks(list(message_ids)):
        for line in dict_rows(PostfixLine.select(*line_fields).where(PostfixLine.message_ref.in_(part))):
            line["leg_id"] = None
            facts[line["message_ref"]].lines.append(line)
    for part in chunks(list(message_ids)):
        for row in dicts(f"SELECT * FROM rspamd_row WHERE message_ref IN ({marks(part)}) ORDER BY time, id", part):
            facts[row["message_ref"]].rspamd.append(row)
    _notices(facts, legs)
    for fact in facts.values():
        fact.lines.sort(key=lambda line: (line["time"], line["id"]))
    return facts


def _notices(facts: dict[int, MessageFacts], legs: list[dict]) -> None:
    """A non-delivery notice is related to the message whose leg announced it."""
    queue_of_message = {(leg["queue_id"], leg["message_ref"]) for leg in legs}
    notices: dict[str, list[int]] = {}
    for part in chunks(sorted({q for q, _ in queue_of_message})):
        for line in dict_rows(lines_with_legs(PostfixLine.select(PostfixLine.linked_queue_id, Leg.message_ref))
                         .where(PostfixLine.linked_queue_id.in_(part), PostfixLine.kind == "bounce_notice")):
            notices.setdefault(line["linked_queue_id"], []).append(line["message_ref"])
    for queue_id, message in queue_of_message:
        for parent in notices.get(queue_id, ()):
            if parent and parent != message:
                facts[message].notice_of = parent


_MESSAGE_COLUMNS = ("message_id", "queue_id", "queue_ids", "sender", "recipients", "recipient_count", "subject",
                    "direction", "final_status", "is_complete", "is_spam", "spam_score", "user", "ip", "size",
                    "reject_reason", "related_ref", "related_kind", "has_postfix", "has_rspamd", "expired_unlinked", "first_seen",
                    "last_seen")


def write_messages(results, now: int) -> None:
    conn = database.connection()
    conn.executemany(
        f"UPDATE message SET {', '.join(c + ' = ?' for c in _MESSAGE_COLUMNS)}, updated_at = ? WHERE id = ?",
        [tuple(getattr(r, c) for c in _MESSAGE_COLUMNS) + (now, r.id) for r in results])
    for part in chunks([r.id for r in results]):
        conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks(part)})", part)
    conn.executemany(
        "INSERT INTO recipient (message_ref, recipient, orig_to, status, dsn, relay, delay, reply, attempts, last_time, "
        "folder, redirected_to, auto_reply, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.id, o.recipient, o.orig_to, o.status, o.dsn, o.relay, o.delay, o.reply, o.attempts, o.last_time,
          o.folder, ", ".join(o.redirected_to) or None, o.auto_reply, o.reason)
         for r in results for o in r.outcomes])


def delete_messages(message_ids: list[int]) -> None:
    """Messages whose every leg, line and row moved elsewhere (or was hidden): the one delete path."""
    conn = database.connection()
    for part in chunks(sorted(set(message_ids))):
        conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks(part)})", part)
        conn.execute(f"DELETE FROM message WHERE id IN ({marks(part)})", part)
