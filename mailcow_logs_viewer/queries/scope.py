"""Who is asking, as every query sees it: the one place that decides who sees what.

Three roles. The admin sees everything. A mailbox user (signed in with mailcow) sees the
messages whose envelope sender is one of their addresses (the mailbox and the aliases that
deliver to it), or that have a recipient or an original recipient (orig_to, before an alias
rewrote it) among them. A domain admin (DOMAIN_ADMINS) sees the messages sent by or to their
domains, by the same rule on the part after the `@`.

Within a message a caller sees every recipient when the message is theirs to begin with (they
or their domain sent it: they chose the recipients), otherwise only their own recipients; the
others are a count (`recipient_count`), never addresses. `message_filter()` is the SQL side of
the rule, `owns()` / `sees_recipient()` the same rule for one row already read.

With several mailcow servers the scope also says which of them the caller asked for
(`server=`; None: all). Every stored row carries its server, and a message is counted under
the server where it entered (README, counting rules): `servers_filter(model)` is that
condition for any table, and every other filter here includes it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce
from operator import or_

from peewee import SQL, NodeList, fn

from ..models import Message, PostfixLine, Recipient

ADMIN_ROLE, DOMAIN_ADMIN_ROLE, MAILBOX_ROLE = "admin", "domain_admin", "mailbox"


def _like_suffix(field, suffix: str):
    pattern = "%" + suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return NodeList((field, SQL("LIKE ? ESCAPE '\\'", (pattern,))))


@dataclass(frozen=True)
class Scope:
    role: str = ADMIN_ROLE
    username: str = ""                          # who signed in (the audit log names them)
    addresses: frozenset[str] = frozenset()     # mailbox user: the mailbox and its aliases, lower case
    domains: frozenset[str] = frozenset()       # domain admin: their domains, lower case
    servers: frozenset[str] | None = None       # the mailcow servers asked for; None: all of them

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    def on_server(self, name: str | None) -> "Scope":
        """This caller looking at one server (`server=`), or at all of them (None)."""
        return replace(self, servers=frozenset({name}) if name else None)

    def servers_filter(self, model) -> list:
        """Rows of `model` (any table with a `server` column) on the servers asked for."""
        return [] if self.servers is None else [model.server.in_(sorted(self.servers))]

    def servers_sql(self, column: str) -> tuple[str, list]:
        """servers_filter as an AND clause of SQL text, for the queries written as text."""
        if self.servers is None:
            return "", []
        return f" AND {column} IN ({', '.join('?' for _ in self.servers)})", sorted(self.servers)

    # ---- SQL: which rows ---------------------------------------------------------------------
    def _matches(self, column):
        """`column` (an address) is one of ours."""
        if self.role == MAILBOX_ROLE:
            forms = sorted(self.addresses)
            return column.in_(forms) | fn.lower(column).in_(forms) if forms else SQL("0")
        # LIKE is case-insensitive for ASCII, as domain names are.
        return reduce(or_, [_like_suffix(column, "@" + domain) for domain in sorted(self.domains)], SQL("0"))

    def message_filter(self) -> list:
        """Extra conditions on messages for this caller (none for an admin of every server)."""
        if self.is_admin:
            return self.servers_filter(Message)
        ours = Recipient.select(SQL("1")).where((Recipient.message_ref == Message.id)
                                                 & (self._matches(Recipient.recipient) | self._matches(Recipient.orig_to)))
        return self.servers_filter(Message) + [self._matches(Message.sender) | fn.EXISTS(ours)]

    def _visible_row(self):
        """A recipient row this caller may see on mail they did not send (sees_recipient in SQL)."""
        if self.role == DOMAIN_ADMIN_ROLE:
            return self._matches(Recipient.recipient) | self._matches(Recipient.orig_to)
        return self._matches(Recipient.recipient)

    def recipient_exists(self, condition):
        """Some recipient of the message meets `condition`, counting only recipients this
        caller may see: a search for someone else's address must not tell a user who else
        received their mail (the answer leaves those recipients out, so must the match)."""
        def exists(extra):
            return fn.EXISTS(Recipient.select(SQL("1")).where((Recipient.message_ref == Message.id) & extra))
        if self.is_admin:
            return exists(condition)
        return (self._matches(Message.sender) & exists(condition)) | exists(condition & self._visible_row())

    def line_filter(self, model) -> list:
        """Extra conditions on the lines of a log table for this caller (none for an admin).

        The raw logs are the admin's (auth.py refuses their routes to everyone else); should a
        line query be reached anyway, a Postfix line shows only when it names one of ours and
        the other logs show nothing."""
        servers = self.servers_filter(model)
        if self.is_admin:
            return servers
        if model is PostfixLine:
            return servers + [self._matches(PostfixLine.sender) | self._matches(PostfixLine.recipient)
                              | self._matches(PostfixLine.orig_to)]
        return [SQL("0")]

    # ---- one row already read ----------------------------------------------------------------
    def owns(self, address: str | None) -> bool:
        if self.is_admin:
            return True
        if not address:
            return False
        address = address.lower()
        if self.role == MAILBOX_ROLE:
            return address in self.addresses
        return address.rpartition("@")[2] in self.domains

    def sees_recipient(self, recipient: str | None, orig_to: str | None = None) -> bool:
        """May this caller see `recipient` and its outcome on a message they did not send?
        A mailbox user: their own address only (an alias shared with others brings them the
        message, not the others' outcomes); a domain admin also what an alias of their
        domain sent on elsewhere."""
        return self.owns(recipient) or (self.role == DOMAIN_ADMIN_ROLE and self.owns(orig_to))

    def visible_recipients(self, sender: str | None, outcomes) -> frozenset[str] | None:
        """The recipients (lower case) this caller may see on one message, None for all."""
        if self.owns(sender):
            return None
        return frozenset(o.recipient.lower() for o in outcomes if self.sees_recipient(o.recipient, o.orig_to))

    def visible_recipient_sql(self, sender: str, recipient: str, orig_to: str) -> tuple[str, list]:
        """sees_recipient (or the sender is ours) as an AND clause of SQL text, for the joins
        written as text (queries/insights.py); empty for an admin."""
        if self.is_admin:
            return "", []
        if self.role == MAILBOX_ROLE:
            forms = sorted(self.addresses)
            if not forms:
                return " AND 0", []
            marks = ", ".join("?" for _ in forms)
            return f" AND (lower({sender}) IN ({marks}) OR lower({recipient}) IN ({marks}))", forms + forms
        suffixes = ["%@" + domain for domain in sorted(self.domains)]
        if not suffixes:
            return " AND 0", []
        columns = (sender, recipient, orig_to)
        return (" AND (" + " OR ".join(f"{column} LIKE ?" for column in columns for _ in suffixes) + ")",
                suffixes * len(columns))

    def our_domains(self, domains) -> set[str]:
        """Of the server's `domains`, those this caller's mail is in (other customers' are not theirs)."""
        if self.is_admin:
            return set(domains)
        mine = self.domains | {a.rpartition("@")[2] for a in self.addresses}
        return {d for d in domains if d.lower() in mine}

    def held_for_us(self, items: list[dict]) -> list[dict]:
        """Quarantined mail (mailcow's live list) held for one of our recipients."""
        return items if self.is_admin else [i for i in items if any(self.owns(r) for r in i.get("recipients") or [])]


ADMIN = Scope()
