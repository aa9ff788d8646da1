"""The one rule for which Postfix lines belong to a leg, as a Peewee expression and as SQL text
(for the joins written as text). Its own module so the correlator's helpers can import it
from anywhere without a cycle."""
from __future__ import annotations

from .models import Leg, PostfixLine


def line_in_leg(leg=Leg):
    """The one rule for which Postfix lines belong to a leg: the lines of its server and queue id
    within its time span. Queue ids are unique per server only, and reused there only after
    `removed`, so spans of one queue id never overlap and a line is never in two legs. `leg` is
    the Leg model (in a join) or a leg row."""
    get = leg.get if isinstance(leg, dict) else (lambda name: getattr(leg, name))
    return ((PostfixLine.queue_id == get("queue_id")) & (PostfixLine.server == get("server"))
            & PostfixLine.time.between(get("first_time"), get("last_time")))


# The same rule in SQL, for the joins written as text (mailbox_stage.py).
LINE_IN_LEG_SQL = ("postfix_line.queue_id = leg.queue_id AND postfix_line.server = leg.server "
                   "AND postfix_line.time BETWEEN leg.first_time AND leg.last_time")
