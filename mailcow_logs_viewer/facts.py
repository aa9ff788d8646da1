"""A message's facts, read and written in one place: which lines belong to a leg, the facts
the outcome is computed from (and the details page shows), and the computed rows.

Every query here is bounded by the number of legs it is asked about (chunks of 900 ids), so a
message with a thousand legs costs a few more queries, never a longer SQL expression.
"""
from __future__ import annotations

from operator import attrgetter

from .db import database
from .leg_rule import LINE_IN_LEG_SQL
from .outcome import MessageFacts
from .sql_batches import chunks, dicts, marks, through_temp


def dict_rows(query) -> list[dict]:
    """A Peewee query's rows as dicts straight from the cursor: these read whole backlogs,
    where Peewee's row wrapping would dominate."""
    return dicts(*query.sql())


_LINE_FIELDS = ("id", "time", "kind", "queue_id", "message_id", "sender", "recipient", "orig_to", "status", "relay",
                "delay", "dsn", "reply", "client_ip", "sasl_username", "message_ref", "linked_queue_id", "program",
                "server")
# What a reader also shows of a line; the correlator does not need the text.
_TEXT_FIELDS = ("priority", "message", "parsed")


def load_facts(message_ids: list[int], with_text: bool = False) -> dict[int, MessageFacts]:
    """Everything needed to compute these messages (and, `with_text`, to show them), in a number
    of queries that grows with the legs in chunks, never one per line or per message. Raw SQL:
    the correlator loads every message of a backlog, and building these queries in Peewee cost
    more than running them."""
    line_fields = ", ".join(f"postfix_line.{f}" for f in _LINE_FIELDS + (_TEXT_FIELDS if with_text else ()))
    facts = {m: MessageFacts(m) for m in message_ids}
    legs: list[dict] = []
    for part in chunks(list(message_ids)):
        legs += dicts(f"SELECT * FROM leg WHERE message_ref IN ({marks(part)})", part)
    legs.sort(key=lambda leg: (leg["first_time"], leg["id"]))
    leg_message = {}
    for leg in legs:
        facts[leg["message_ref"]].legs.append(leg)
        leg_message[leg["id"]] = leg["message_ref"]
    for part in chunks(sorted(leg_message)):
        for line in dicts(f"SELECT leg.id AS leg_id, {line_fields} FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
                          f"WHERE leg.id IN ({marks(part)})", part):
            facts[leg_message[line["leg_id"]]].lines.append(line)
    for part in chunks(list(message_ids)):
        for line in dicts(f"SELECT {line_fields} FROM postfix_line WHERE message_ref IN ({marks(part)})", part):
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
    """A non-delivery notice is related to the message whose leg (on the same server) announced it."""
    queue_of_message = {(leg["server"], leg["queue_id"], leg["message_ref"]) for leg in legs}
    notices: dict[tuple[str, str], list[int]] = {}
    for part in chunks(sorted({q for _, q, _ in queue_of_message})):
        for server, queue_id, message in database.execute_sql(
                f"SELECT leg.server, postfix_line.linked_queue_id, leg.message_ref FROM postfix_line JOIN leg ON "
                f"{LINE_IN_LEG_SQL} WHERE postfix_line.linked_queue_id IN ({marks(part)}) "
                "AND postfix_line.kind = 'bounce_notice'", part):
            notices.setdefault((server, queue_id), []).append(message)
    for server, queue_id, message in queue_of_message:
        for parent in notices.get((server, queue_id), ()):
            if parent and parent != message:
                facts[message].notice_of = parent


_MESSAGE_COLUMNS = ("message_id", "queue_id", "queue_ids", "sender", "recipients", "recipient_count", "subject",
                    "direction", "final_status", "is_complete", "is_spam", "spam_score", "user", "ip", "size",
                    "reject_reason", "related_ref", "related_kind", "has_postfix", "has_rspamd", "expired_unlinked", "first_seen",
                    "last_seen")
_message_values = attrgetter(*_MESSAGE_COLUMNS)     # one C call per message instead of a generator


_RECIPIENT_COLUMNS = ("message_ref", "recipient", "orig_to", "status", "dsn", "relay", "delay", "reply", "attempts",
                      "last_time", "folder", "redirected_to", "auto_reply", "reason")


def write_messages(results, now: int) -> None:
    """The computed rows, each table in one statement over a batch (`through_temp`: the
    search indexes' triggers make a statement per row costly); ascending ids, so that the
    index's pending terms stay in order."""
    results = sorted(results, key=attrgetter("id"))
    through_temp(
        "message_update", ("id INTEGER PRIMARY KEY", *_MESSAGE_COLUMNS, "server", "updated_at"),
        [(r.id, *_message_values(r), r.server, now) for r in results],
        f"UPDATE message SET {', '.join(f'{c} = u.{c}' for c in _MESSAGE_COLUMNS)}, "
        "server = coalesce(u.server, message.server), updated_at = u.updated_at "
        "FROM temp.message_update AS u WHERE message.id = u.id")
    conn = database.connection()
    for part in chunks([r.id for r in results]):
        conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks(part)})", part)
    columns = ", ".join(_RECIPIENT_COLUMNS)
    through_temp(
        "recipient_insert", _RECIPIENT_COLUMNS,
        [(r.id, o.recipient, o.orig_to, o.status, o.dsn, o.relay, o.delay, o.reply, o.attempts, o.last_time,
          o.folder, ", ".join(o.redirected_to) or None, o.auto_reply, o.reason)
         for r in results for o in r.outcomes],
        f"INSERT INTO recipient ({columns}) SELECT {columns} FROM temp.recipient_insert ORDER BY rowid")


def delete_messages(message_ids: list[int]) -> None:
    """Messages whose every leg, line and row moved elsewhere (or was hidden): the one delete path."""
    conn = database.connection()
    for part in chunks(sorted(set(message_ids))):
        conn.execute(f"DELETE FROM recipient WHERE message_ref IN ({marks(part)})", part)
        conn.execute(f"DELETE FROM message WHERE id IN ({marks(part)})", part)
