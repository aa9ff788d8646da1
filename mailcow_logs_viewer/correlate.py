"""Turns stored lines into messages, and recomputes a message whenever its lines change.

A message gathers every queue id that carried it (legs), its Rspamd rows, and one outcome
per recipient; see ARCHITECTURE.md "The message model" and PITFALLS 11-18. The pass is
incremental: it reads lines stored since the last run (a cursor per source), assigns them to
legs, legs to messages, then recomputes only the messages it touched, in batches, with a
fixed number of queries per batch (never one per line or per message).
"""
from __future__ import annotations

import json
import logging
import time
from operator import itemgetter

from . import custody, mailbox_stage
from .custody import correlation_key
from .daily_counts import recounting
from .db import database
from .direction import classify
from .domains import local_domains
from .facts import chunks, delete_messages, load_facts, marks, write_messages
from .leg_rule import LINE_IN_LEG_SQL
from .models import Leg, Message, RspamdRow, State
from .outcome import REFUSAL_RETRY_SECONDS, compute_message, is_probe
from .retention import with_raw_lines
from .sql_batches import MAX_PARAMS, dicts, through_temp

log = logging.getLogger(__name__)

CHUNK = 500                 # messages recomputed per transaction
LINE_BATCH = 20000          # new lines read per step
SETTLE_SECONDS = 120        # a leg without a message-id gets a queue-derived key after this long
UNSETTLED_FOR = 86400       # how long a leg without a message is looked at again
UNDEF_WINDOW = 120          # Rspamd rows without a message-id match Postfix within this many seconds
# Lines that Postfix writes after cleanup has logged the message-id (if there is one): once
# one of them is seen, a leg without a message-id will not get one.
_ASSIGNING_KINDS = frozenset({"message_id", "qmgr_from", "delivery", "expired", "milter_reject"})
# Lines that make a leg worth a message even without the above (a recipient refused at RCPT
# time, a local submission), once it has had time to settle. A leg with only `client=` is an
# aborted session, not a message.
_MEANINGFUL_KINDS = frozenset({"reject", "pickup"})
# The envelope sender comes from these lines; qmgr's is the qualified one and wins over
# pickup's local user name (PITFALLS 28).
_SENDER_KINDS = ("qmgr_from", "pickup", "milter_reject", "expired")

__all__ = ["Correlator", "correlation_key", "load_facts", "write_messages"]


def _cursor(name: str) -> int:
    row = State.get_or_none(State.key == name)
    return int(row.value) if row else 0


def _set_cursor(name: str, value: int) -> None:
    State.insert(key=name, value=str(value)).on_conflict_replace().execute()


class Correlator:
    """Runs on the scheduler thread, after each fetch and every CORRELATION_CHECK_INTERVAL."""

    def __init__(self, max_age_minutes: int = 10, clock=time.time):
        self.max_age = max_age_minutes * 60
        self.clock = clock
        # False until a run ends normally: the first run of a process (after a crash) and the
        # run after a failed one recompute the messages a committed step created but no
        # recompute reached (the cursor moved on without them).
        self._finished = False

    def run(self) -> dict:
        started = time.perf_counter()
        touched: set[int] = set() if self._finished else self._never_computed()
        self._finished = False
        lines = legs = 0
        while True:
            step_lines, step_legs, step_touched = self._assign_postfix()
            lines += step_lines
            legs += step_legs
            touched |= step_touched
            if step_lines < LINE_BATCH:
                break
        touched |= self._assign_unsettled_legs()
        rows, rspamd_touched = self._assign_rspamd()
        touched |= rspamd_touched
        touched |= mailbox_stage.link(self._messages_for_keys, custody.derived_key)   # issue 18: Dovecot lines
        self._recompute(touched)
        self._finished = True
        return {"lines": lines, "legs": legs, "rspamd_rows": rows, "messages": len(touched),
                "seconds": round(time.perf_counter() - started, 3)}

    @staticmethod
    def _never_computed() -> set[int]:
        """Messages still as created (a computed message has a Postfix line or an Rspamd row)."""
        return {m for (m,) in Message.select(Message.id)
                .where(Message.has_postfix == False, Message.has_rspamd == False).tuples()}  # noqa: E712

    # ------------------------------------------------------------ Postfix lines -> legs

    def _assign_postfix(self) -> tuple[int, int, set[int]]:
        cursor = _cursor("correlate_postfix")
        # Raw cursor: this reads every line once, and Peewee's row wrapping would dominate.
        rows = database.execute_sql(
            "SELECT id, time, kind, queue_id, message_id, sender, client_ip, client_host, sasl_username, size, "
            "nrcpt, line_key, status, linked_queue_id, dsn, server FROM postfix_line WHERE id > ? ORDER BY id LIMIT ?",
            (cursor, LINE_BATCH)).fetchall()
        if not rows:
            return 0, 0, set()
        queue_ids = sorted({r[3] for r in rows if r[3]})
        # Queue ids are unique per server only: legs are known by (server, queue id).
        open_legs: dict[tuple[str, str], dict] = {}
        for part in chunks(queue_ids):
            for leg in dicts(f"SELECT * FROM leg WHERE queue_id IN ({marks(part)}) AND removed = 0", part):
                current = open_legs.get((leg["server"], leg["queue_id"]))
                if current is None or leg["first_time"] > current["first_time"]:
                    open_legs[(leg["server"], leg["queue_id"])] = leg
        next_leg_id = (Leg.select(Leg.id).order_by(Leg.id.desc()).limit(1).scalar() or 0) + 1
        changed: dict[int, dict] = {}
        new_legs: list[dict] = []
        noqueue: list[tuple[int, int, int, str]] = []
        hops: list[tuple[str, str, int]] = []
        for (line_id, when, kind, queue_id, message_id, sender, client_ip, client_host, sasl_username,
             size, nrcpt, key, status, linked_queue_id, dsn, server) in rows:
            if not queue_id:
                if kind == "noqueue_reject":
                    noqueue.append((line_id, when, key, server))
                continue
            leg = open_legs.get((server, queue_id))
            if leg is None:
                leg = {"id": next_leg_id, "queue_id": queue_id, "message_ref": None, "role": "primary",
                       "message_id": None, "sender": None, "client_ip": None, "client_host": None,
                       "sasl_username": None, "size": None, "nrcpt": None, "parent_queue_id": None,
                       "notice_for": None, "removed": False, "first_time": when, "last_time": when,
                       "server": server, "settled": False}
                next_leg_id += 1
                open_legs[(server, queue_id)] = leg
                new_legs.append(leg)
            leg["first_time"] = min(leg["first_time"], when)
            leg["last_time"] = max(leg["last_time"], when)
            if message_id and not leg["message_id"]:
                leg["message_id"] = message_id
            if sender is not None and kind in _SENDER_KINDS and (leg["sender"] is None or kind == "qmgr_from"):
                leg["sender"] = sender
            if kind in custody.TEMPORARY_REFUSALS and (dsn or "").startswith("4"):
                leg["refused_temp"] = True
            if kind == "delivery" and linked_queue_id and status == "sent":
                hops.append((server, linked_queue_id, when))
            if is_probe(kind, status, leg["sender"]):
                leg["role"] = "probe"
            if client_ip and not leg["client_ip"]:
                leg["client_ip"], leg["client_host"] = client_ip, client_host
            if sasl_username and not leg["sasl_username"]:
                leg["sasl_username"] = sasl_username
            if size is not None and leg["size"] is None:
                leg["size"] = size
            if nrcpt is not None:
                leg["nrcpt"] = nrcpt
            if kind in _ASSIGNING_KINDS:
                leg["settled"] = True
            elif kind in _MEANINGFUL_KINDS:
                leg["meaningful"] = True
            if kind == "removed":
                leg["removed"] = True
                del open_legs[(server, queue_id)]     # a later line with this id is a new message (queue id reuse)
            changed[leg["id"]] = leg

        touched: set[int] = set()
        with database.atomic("IMMEDIATE"):
            self._save_legs(changed.values(), {leg["id"] for leg in new_legs})
            conn = database.connection()
            keys = {line_id: correlation_key("noqueue", str(key)) for line_id, _, key, _ in noqueue}
            ids = self._messages_for_keys({keys[line_id]: (when, server) for line_id, when, _, server in noqueue})
            conn.executemany("UPDATE postfix_line SET message_ref = ? WHERE id = ?",
                             [(ids[keys[line_id]], line_id) for line_id, _, _, _ in noqueue])
            touched |= set(ids.values())
            touched |= self._assign_legs([leg for leg in changed.values()])
            touched |= custody.join_hops(hops)
            _set_cursor("correlate_postfix", rows[-1][0])
        return len(rows), len(new_legs), touched

    def _save_legs(self, legs, new_ids: set[int]) -> None:
        columns = ("queue_id", "message_ref", "role", "message_id", "sender", "client_ip", "client_host",
                   "sasl_username", "size", "nrcpt", "parent_queue_id", "notice_for", "removed", "first_time",
                   "last_time", "server")
        inserts, updates = [], []
        leg_values = itemgetter(*columns)
        for leg in legs:
            values = leg_values(leg)
            if leg["id"] in new_ids:
                inserts.append((leg["id"],) + values)
            else:
                updates.append(values + (leg["id"],))
        conn = database.connection()
        if inserts:
            conn.executemany(f"INSERT INTO leg (id, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 1))})", inserts)
        if updates:
            conn.executemany(f"UPDATE leg SET {', '.join(c + ' = ?' for c in columns)} WHERE id = ?", updates)

    def _assign_legs(self, legs: list[dict]) -> set[int]:
        """Give each leg its message along the chain of custody (custody.py); returns the
        messages whose legs changed. A probe leaves its message: it is not mail."""
        touched: set[int] = {leg["message_ref"] for leg in legs if leg["message_ref"] is not None}
        now = int(self.clock())
        keyed: list[tuple[dict, str]] = []
        by_message_id: dict[str, list[dict]] = {}
        for leg in legs:
            if leg["role"] == "probe":
                leg["message_ref"] = None
                continue
            if leg["message_ref"] is not None:
                continue
            if (parent := custody.hop_parent(leg)) is not None:
                leg["message_ref"], leg["role"] = parent, "reinjected"
            elif (parent := custody.handoff_parent(leg)) is not None:
                leg["message_ref"], leg["role"] = parent, "relayed"
            elif leg["message_id"]:
                message, key, leg["role"] = custody.custody_message(leg, by_message_id.get(leg["message_id"], []))
                leg["message_ref"] = message
                if message is None:
                    keyed.append((leg, key or custody.message_key(leg)))
            elif leg.get("settled") or (leg.get("meaningful") and leg["last_time"] < now - SETTLE_SECONDS):
                keyed.append((leg, custody.queue_key(leg)))
            leg["key"] = keyed[-1][1] if keyed and keyed[-1][0] is leg else None
            if leg["message_id"]:
                by_message_id.setdefault(leg["message_id"], []).append(leg)
        ids = self._messages_for_keys({key: (leg["first_time"], leg["server"]) for leg, key in reversed(keyed)})
        for leg, key in keyed:
            leg["message_ref"] = ids[key]
        database.connection().executemany("UPDATE leg SET message_ref = ?, role = ? WHERE id = ?",
                                          [(leg["message_ref"], leg["role"], leg["id"]) for leg in legs])
        # Changed legs, not only new ones: a retry is known by its recipient's line, which may come later.
        touched |= custody.move_to(custody.retried_refusals([leg for leg in legs if leg["message_ref"] is not None]))
        touched |= {leg["message_ref"] for leg in legs if leg["message_ref"] is not None}
        return touched

    def _messages_for_keys(self, first_seen_by_key: dict[str, tuple[int, str]]) -> dict[str, int]:
        """Message ids for these keys -> (first seen, server), creating the messages that do not
        exist yet (batched). The server is a first guess: the recompute sets the entry server."""
        if not first_seen_by_key:
            return {}
        conn = database.connection()
        now = int(self.clock())
        through_temp(   # one statement, not one a message: the search index's trigger (sql_batches)
            "message_insert", ("correlation_key", "first_seen", "server"),
            [(key, when, server) for key, (when, server) in first_seen_by_key.items()],
            "INSERT OR IGNORE INTO message (correlation_key, first_seen, last_seen, updated_at, server, queue_ids, "
            "recipients, recipient_count, direction, final_status, is_complete, is_spam, has_postfix, has_rspamd, "
            "expired_unlinked) SELECT correlation_key, first_seen, first_seen, ?, server, '', '', 0, 'unknown', "
            "'pending', 0, 0, 0, 0, 0 FROM temp.message_insert ORDER BY rowid", (now,))
        ids = {}
        for part in chunks(list(first_seen_by_key)):
            ids.update({key: message for message, key in conn.execute(
                f"SELECT id, correlation_key FROM message WHERE correlation_key IN ({marks(part)})", part)})
        return ids

    def _assign_unsettled_legs(self) -> set[int]:
        """Legs without a message yet, retried until they settle. A leg still without one
        after a day is an aborted session (only `client=`), and stays a leg; a probe stays one."""
        recent = int(self.clock()) - UNSETTLED_FOR
        legs = list(Leg.select().where(Leg.message_ref.is_null(), Leg.last_time > recent, Leg.role != "probe").dicts())
        if not legs:
            return set()
        kinds: dict[int, set] = {}
        for part in chunks([leg["id"] for leg in legs]):
            for leg_id, kind in database.execute_sql(
                    f"SELECT leg.id, postfix_line.kind FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
                    f"WHERE leg.id IN ({marks(part)})", part):
                kinds.setdefault(leg_id, set()).add(kind)
        for leg in legs:
            leg["settled"] = bool(kinds.get(leg["id"], set()) & _ASSIGNING_KINDS)
            leg["meaningful"] = bool(kinds.get(leg["id"], set()) & _MEANINGFUL_KINDS)
        with database.atomic("IMMEDIATE"):
            return self._assign_legs(legs)

    # ------------------------------------------------------------ Rspamd rows

    def _assign_rspamd(self) -> tuple[int, set[int]]:
        columns = (RspamdRow.id, RspamdRow.time, RspamdRow.message_id, RspamdRow.sender_smtp,
                   RspamdRow.recipients_smtp, RspamdRow.parsed, RspamdRow.server)
        cursor = _cursor("correlate_rspamd")
        # Rows that found no message yet are retried while young: without a message-id, no
        # Postfix leg yet; with one, none yet on their own server (_on_their_server).
        max_age = int(self.clock()) - 24 * 3600
        retry = list(RspamdRow.select(*columns)
                     .where(RspamdRow.id <= cursor, RspamdRow.message_ref.is_null(), RspamdRow.parsed == True,  # noqa: E712
                            RspamdRow.time > max_age).tuples())
        touched = self._link_rspamd(retry)
        count = 0
        while rows := list(RspamdRow.select(*columns).where(RspamdRow.id > cursor).order_by(RspamdRow.id)
                           .limit(LINE_BATCH).tuples()):
            touched |= self._link_rspamd(rows, cursor=rows[-1][0])
            cursor = rows[-1][0]
            count += len(rows)
        return count, touched

    def _link_rspamd(self, rows: list[tuple], cursor: int | None = None) -> set[int]:
        """Each row to the message of its message-id (or, without one, of its sender and
        recipients around its time); moves the cursor in the same transaction."""
        with database.atomic("IMMEDIATE"):
            with_id = [(row_id, when, correlation_key("msgid", message_id), server)
                       for row_id, when, message_id, _, _, parsed, server in rows if parsed and message_id]
            ids = self._messages_for_keys({key: (when, server) for _, when, key, server in reversed(with_id)})
            links = self._on_their_server(custody.scanned_transactions([(ids[key], row_id) for row_id, _, key, _ in with_id]),
                                          {row_id: (when, server) for row_id, when, _, server in with_id})
            for row_id, when, message_id, sender, recipients, parsed, server in rows:
                if parsed and not message_id:
                    message = self._match_without_message_id(server, when, sender, json.loads(recipients or "[]"))
                    if message is not None:
                        links.append((message, row_id))
            database.connection().executemany("UPDATE rspamd_row SET message_ref = ? WHERE id = ?", links)
            if cursor is not None:
                _set_cursor("correlate_rspamd", cursor)
        return {message for message, _ in links}

    def _on_their_server(self, links: list[tuple[int, int]], rows: dict[int, tuple[int, str]]) -> list[tuple[int, int]]:
        """The links whose message is known on the row's server, or on none. A row whose
        Message-ID so far names only another server's message (by its legs, its scans, or the
        other rows of this batch) waits, unlinked and retried, while younger than
        MAX_CORRELATION_AGE_MINUTES: its own server's Postfix lines may come in a later fetch,
        and without a hand-off they are another message (custody), which scanned_transactions
        then finds. Older, it links to what there is."""
        servers: dict[int, set[str]] = {}
        # Each id is bound twice (legs, scans): half a chunk keeps below the parameter limit.
        for part in chunks(sorted({message for message, _ in links}), MAX_PARAMS // 2):
            for message, server in database.execute_sql(
                    f"SELECT message_ref, server FROM leg WHERE message_ref IN ({marks(part)}) UNION "
                    f"SELECT message_ref, server FROM rspamd_row WHERE message_ref IN ({marks(part)})", part + part):
                servers.setdefault(message, set()).add(server)
        batch: dict[int, set[str]] = {}
        for message, row in links:
            batch.setdefault(message, set()).add(rows[row][1])
        young = int(self.clock()) - self.max_age
        kept = []
        for message, row in links:
            when, server = rows[row]
            known = servers.get(message, set()) | (batch[message] - {server})
            if not known or server in known or when <= young:
                kept.append((message, row))
        return kept

    def _match_without_message_id(self, server: str, when: int, sender: str | None,
                                  recipients: list[str]) -> int | None:
        """Rspamd says `undef`: the leg of the row's server with that envelope sender that has a
        line for one of the recipients around the scan time (Postfix lines carry no copy of
        Rspamd's verdict), of a message that has no verdict yet."""
        if sender is None or not recipients:
            return None
        recipients = recipients[:100]
        candidates = [m for (m,) in database.execute_sql(
            f"SELECT leg.message_ref FROM postfix_line JOIN leg ON {LINE_IN_LEG_SQL} "
            f"WHERE postfix_line.recipient IN ({marks(recipients)}) AND postfix_line.time BETWEEN ? AND ? "
            "AND leg.sender = ? AND leg.server = ? AND leg.message_ref IS NOT NULL ORDER BY abs(leg.first_time - ?) "
            "LIMIT 20", (*recipients, when - UNDEF_WINDOW, when + 5 * UNDEF_WINDOW, sender, server, when))]
        if not candidates:
            return None
        scanned = {m for (m,) in database.execute_sql(
            f"SELECT message_ref FROM rspamd_row WHERE message_ref IN ({marks(candidates)})", candidates)}
        return next((m for m in candidates if m not in scanned), None)

    # ------------------------------------------------------------ messages

    def _recompute(self, message_ids: set[int]) -> None:
        """Recompute these messages from all their facts; a message left without any (its legs
        joined another message, or turned out to be a probe) is no message and goes."""
        ids = with_raw_lines(i for i in message_ids if i)    # issue 15: the others are kept as they are
        domains = local_domains()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            facts = load_facts(chunk)
            mailbox_stage.load(facts)      # issue 18: each recipient's Dovecot lines, a copy's original
            now = int(self.clock())
            empty = [m for m in chunk if not (facts[m].legs or facts[m].lines or facts[m].rspamd)]
            results = [compute_message(facts[m], domains, classify, now - self.max_age, now)
                       for m in chunk if m not in empty]
            with database.atomic("IMMEDIATE"), recounting(chunk):     # issue 15: the daily counters
                write_messages(results, now)
                delete_messages(empty)

    def expire(self) -> dict:
        """Rspamd saw these but no Postfix line came within MAX_CORRELATION_AGE_MINUTES.

        They stay linkable: a late Postfix line recomputes the message and clears the flag.
        """
        cutoff = int(self.clock()) - self.max_age
        with database.atomic("IMMEDIATE"):
            count = (Message.update(expired_unlinked=True)
                     .where(Message.has_postfix == False, Message.has_rspamd == True,  # noqa: E712
                            Message.expired_unlinked == False, Message.first_seen < cutoff)  # noqa: E712
                     .execute())
        return {"expired": count, "refusals_ended": self._end_unretried_refusals()}

    def _end_unretried_refusals(self) -> int:
        """A temporary refusal that no retry followed within REFUSAL_RETRY_SECONDS is final
        (PITFALLS 35): recompute the deferred messages that passed that age since the last
        sweep, once each (a new line of theirs recomputes them anyway)."""
        cutoff = int(self.clock()) - REFUSAL_RETRY_SECONDS
        swept = _cursor("refusals_swept_until") or cutoff - UNSETTLED_FOR
        ids = {m for (m,) in Message.select(Message.id).where(
            Message.final_status == "deferred", Message.last_seen > swept, Message.last_seen <= cutoff).tuples()}
        self._recompute(ids)
        with database.atomic("IMMEDIATE"):
            _set_cursor("refusals_swept_until", cutoff)
        return len(ids)

    def forget_queues(self, server: str, queue_ids: list[str]) -> None:
        """Lines of these queue ids of `server` are gone (BLACKLIST_EMAILS): their legs go, and
        messages left with nothing, through the same delete path as a merge or a probe."""
        with database.atomic("IMMEDIATE"):
            messages = set()
            for part in chunks(sorted(set(queue_ids))):
                ours = (Leg.queue_id.in_(part)) & (Leg.server == server)
                messages |= {m for (m,) in Leg.select(Leg.message_ref).where(ours).tuples() if m}
                Leg.delete().where(ours).execute()
        self._recompute(messages)

    def rebuild(self) -> dict:
        """Recompute every message (after a parser or outcome change); keys never change."""
        ids = {m for (m,) in Message.select(Message.id).tuples()}
        self._recompute(ids)
        return {"messages": len(ids)}

