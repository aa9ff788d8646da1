"""Deterministic mail traffic for the simulated mailcow, plus the truth of what it generated.

Every flow is planned completely when its message arrives (all legs, retries, expiry, NDRs),
and its log entries wait in a heap until the generator's clock passes their time. All
randomness is drawn at arrival time from one `random.Random(seed)`, in arrival order, so the
output for a seed does not depend on how the caller slices time into `generate()` calls.
"""
from __future__ import annotations

import gc
import heapq
import itertools
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from . import abuse, backup_mx, chains, flows
from .scenarios import Scenarios
from .catalog import build_world

# 2026-04-08 08:00:00 UTC: used when neither `start` nor `begin()` fixes the clock.
DEFAULT_START = 1775635200.0

SOURCES = ("postfix", "rspamd", "netfilter")

# Share of arrivals per flow, in percent. Names are the `flow` of each TruthMessage.
DEFAULT_MIX = {
    "inbound": 30, "inbound_alias": 7, "outbound": 15, "internal": 6, "multi_recipient": 6,
    "greylist": 6, "deferred_then_sent": 3, "deferred_expired": 1, "bounce_outbound": 3,
    "bounce_inbound": 1, "rspamd_reject": 4, "spam_add_header": 4, "noqueue_user_unknown": 4,
    "noqueue_relay_denied": 2, "postscreen_dnsbl": 4, "sasl_bruteforce": 1,
    "dovecot_auth_failure": 2, "ui_auth_failure": 1,
    # patterns of other real setups (issue 12): filter hops, list copies, probes, retried
    # temporary refusals, local submissions, a pre-queue proxy
    "content_filter": 3, "mailing_list": 2, "address_probe": 2, "retried_refusal": 2, "pickup": 2,
    "proxied_inbound": 1,
    # only on a backup MX, once it knows its primary (TrafficGenerator.relay_to)
    "backup_relay": 0,
}

_FLOW_FUNCS = {
    "inbound": flows.inbound, "inbound_alias": flows.inbound_alias, "outbound": flows.outbound,
    "internal": flows.internal, "multi_recipient": flows.multi_recipient, "greylist": flows.greylist,
    "deferred_then_sent": flows.deferred_then_sent, "deferred_expired": flows.deferred_expired,
    "bounce_outbound": flows.bounce_outbound, "bounce_inbound": flows.bounce_inbound,
    "rspamd_reject": flows.rspamd_reject, "spam_add_header": flows.spam_add_header,
    "noqueue_user_unknown": abuse.noqueue_user_unknown, "noqueue_relay_denied": abuse.noqueue_relay_denied,
    "postscreen_dnsbl": abuse.postscreen_dnsbl, "sasl_bruteforce": abuse.sasl_bruteforce,
    "dovecot_auth_failure": abuse.dovecot_auth_failure, "ui_auth_failure": abuse.ui_auth_failure,
    "content_filter": chains.content_filter, "mailing_list": chains.mailing_list,
    "address_probe": chains.address_probe, "retried_refusal": chains.retried_refusal, "pickup": chains.pickup,
    "proxied_inbound": chains.proxied_inbound, "backup_relay": backup_mx.relay,
}


@dataclass
class TruthMessage:
    """What really happened to one message, as of the generator's clock."""
    key: str
    message_id: str | None            # with <> as Postfix logs it; None for NOQUEUE/no header
    sender: str                       # "" for the null sender (NDRs)
    recipients: list[str]             # final addresses (after alias expansion)
    direction: str                    # inbound | outbound | internal
    flow: str
    subject: str = ""
    client_ip: str | None = None
    sasl_username: str | None = None
    first_time: float = 0.0
    size: int = 0
    envelope_recipients: list[str] = field(default_factory=list)   # RCPT TO, as rspamd saw them
    outcomes: dict[str, str] = field(default_factory=dict)
    orig_to: dict[str, str] = field(default_factory=dict)
    queue_ids: list[str] = field(default_factory=list)
    ndr_queue_id: str | None = None
    ndr_queue_ids: list[str] = field(default_factory=list)
    is_spam: bool = False
    rspamd_actions: list[str] = field(default_factory=list)
    refused: bool = False             # NOQUEUE, postscreen or milter 5xx
    is_ndr: bool = False
    parent_key: str | None = None     # for an NDR: the message it reports on
    same_message_id_as: str | None = None   # an earlier, distinct message with this Message-ID (a list post)
    unscanned_queue_ids: list[str] = field(default_factory=list)   # legs Rspamd never saw (pickup, filter return)
    relayed_queue_id: str | None = None   # its leg on the primary, for mail a backup MX handed over
    complete: bool = False            # no more events will touch it

    @property
    def status(self) -> str:
        if self.refused:
            return "rejected"
        states = [self.outcomes.get(r, "deferred") for r in self.recipients]
        if any(s in ("bounced", "expired") for s in states):
            return "bounced"
        if any(s == "deferred" for s in states):
            return "deferred"
        if states and all(s == "discarded" for s in states):
            return "discarded"          # a Sieve rule dropped it for every recipient
        return "delivered"


class TrafficGenerator:
    def __init__(self, seed: int = 1, rate_per_hour: float = 120, domains=("example.org", "example.net"),
                 alias_domains=("example.com",), start: float | None = None, *,
                 queue_lifetime: float = 5 * 86400, mix: dict[str, float] | None = None):
        self.seed = seed
        self.rng = random.Random(seed)
        self.rate_per_hour = float(rate_per_hour)
        self.rate_multiplier = 1.0
        self.world = build_world(domains, alias_domains)
        self.start = start
        self.queue_lifetime = float(queue_lifetime)
        self._set_mix(dict(mix or DEFAULT_MIX))
        self.clock: float | None = None
        self._next_arrival: float | None = None
        self._heap: list = []
        self._seq_iter = itertools.count(1)
        self._qids: set[str] = set()
        self._keys = 0
        self.truth: dict[str, TruthMessage] = {}
        self.planned_keys: set[str] = set()
        self.probes: list = []            # chains.Probe: address verification, not mail
        self.auth_failures: list[tuple[float, str, str]] = []
        self.bans: list[tuple[float, str]] = []          # (time, network) of each Banning
        self.flow_counts: Counter = Counter()
        self.line_counts: Counter = Counter()
        self._queue: dict[str, dict] = {}
        self._quarantine: list[dict] = []
        self.scenarios = Scenarios()
        self.relay: backup_mx.RelayLink | None = None      # set on a backup MX
        self.feeders: list[TrafficGenerator] = []          # backup MXs that hand mail to this one
        # Linked generators share one lock: a backup plans into its primary's heap.
        self._lock = threading.RLock()

    def _set_mix(self, mix: dict[str, float]) -> None:
        self.mix = mix
        self._flow_names = [k for k, v in mix.items() if v > 0]
        self._flow_weights = [mix[k] for k in self._flow_names]

    def relay_to(self, primary: TrafficGenerator, share: float = 30, *, primary_host: str | None = None,
                 primary_ip: str = "192.0.2.10", backup_host: str | None = None, backup_ip: str = "192.0.2.20") -> None:
        """Make this generator a backup MX of `primary`: `share` (a weight beside DEFAULT_MIX's,
        which add up to 100) of its arrivals are mail for the primary's mailboxes that it
        relays there (simulator/backup_mx.py). Only before either generates."""
        self.relay = backup_mx.RelayLink(primary, primary_host or f"mail.{primary.world.domains[0]}", primary_ip,
                                         backup_host or f"mx2.{self.world.domains[0]}", backup_ip)
        self._set_mix(dict(self.mix, backup_relay=share))
        primary.feeders.append(self)
        primary._lock = self._lock

    # ---- clock -----------------------------------------------------------------------
    def begin(self, start: float) -> None:
        """Fix the clock's origin; only before the first generate(). A backup MX not begun yet
        starts with its primary (it is asked to plan when the primary generates)."""
        if self.clock is None:
            self.start = float(start)
        for feeder in self.feeders:
            if feeder.start is None:
                feeder.begin(start)

    def _init_clock(self) -> None:
        self.clock = float(self.start if self.start is not None else DEFAULT_START)
        self._next_arrival = self.clock + self.rng.expovariate(self._rate())
        abuse.netfilter_startup(self, self.clock)

    def _rate(self) -> float:
        return max(self.rate_per_hour * self.rate_multiplier, 1e-6) / 3600.0

    def generate(self, until: float) -> list[tuple[str, dict]]:
        """Advance the clock to `until`; return the entries that became visible, in time order."""
        # Millions of small dicts make the cyclic GC rescan the heap over and over; flows create
        # no reference cycles worth collecting, so pause it while generating.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            with self._lock:
                # A backup MX's hand-offs to this server are planned before this clock moves.
                for feeder in self.feeders:
                    feeder.plan(until)
                return self._generate(until)
        finally:
            if was_enabled:
                gc.enable()

    def plan(self, until: float) -> None:
        """Plan every message that arrives up to `until` (its entries wait in the heap)."""
        if self.clock is None:
            self._init_clock()
        self.scenarios.plan(self, until)
        rng = self.rng
        names, weights = self._flow_names, self._flow_weights
        cum = []
        total = 0.0
        for w in weights:
            total += w
            cum.append(total)
        while self._next_arrival <= until:
            t = self._next_arrival
            name = names[_bisect(cum, rng.random() * total)]
            self.flow_counts[name] += 1
            _FLOW_FUNCS[name](self, t)
            self._next_arrival = t + rng.expovariate(self._rate())

    def _generate(self, until: float) -> list[tuple[str, dict]]:
        out: list[tuple[str, dict]] = []
        if self.clock is not None and until < self.clock:
            return out
        self.plan(until)
        heap = self._heap
        pop = heapq.heappop
        counts = self.line_counts
        while heap and heap[0][0] <= until:
            _, _, source, entry, action = pop(heap)
            if action is not None:
                action()
            if entry is not None:
                out.append((source, entry))
                counts[source] += 1
        self.clock = until
        return out

    # ---- helpers for flows -------------------------------------------------------------
    def push(self, t: float, source: str | None, entry: dict | None, action: Callable | None = None) -> None:
        heapq.heappush(self._heap, (t, next(self._seq_iter), source, entry, action))

    def new_qid(self) -> str:
        rng = self.rng
        while True:
            q = "%011X" % rng.getrandbits(44)
            if q[0] != "0" and q not in self._qids:
                self._qids.add(q)
                return q

    def new_key(self, prefix: str) -> str:
        self._keys += 1
        return f"{prefix}-{self._keys}"

    def register(self, msg: TruthMessage) -> None:
        self.truth[msg.key] = msg

    def queue_put(self, qid: str, item: dict) -> None:
        self._queue[qid] = item

    def queue_drop(self, qid: str) -> None:
        self._queue.pop(qid, None)

    def quarantine_add(self, row: dict) -> None:
        row["id"] = len(self._quarantine) + 1
        self._quarantine.append(row)

    # ---- live state --------------------------------------------------------------------
    def mail_queue(self) -> list[dict]:
        """Deferred messages still queued, as mailcow's `mailq/all` items."""
        out = []
        for qid, item in self._queue.items():
            out.append({
                "queue_name": "deferred", "queue_id": qid, "arrival_time": int(item["arrival_time"]),
                "message_size": item["message_size"], "forced_expire": False, "sender": item["sender"],
                "recipients": [f"{r} ({reason})" if reason else r for r, reason in item["recipients"].items()],
            })
        return out

    def quarantine(self) -> list[dict]:
        return [dict(r) for r in self._quarantine]

    # ---- summaries ---------------------------------------------------------------------
    def status_counts(self) -> Counter:
        return Counter(m.status for m in self.truth.values())

    def messages(self, **filters) -> list[TruthMessage]:
        return [m for m in self.truth.values() if all(getattr(m, k) == v for k, v in filters.items())]


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo
