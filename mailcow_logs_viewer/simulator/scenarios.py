"""Incidents on demand, for the alert rules and the demo: a bounce storm to one domain, a
hijacked mailbox sending spam to many recipients, and a brute force against one mailbox from
many addresses. Each runs between a start and an end time at a fixed rate, then traffic is
normal again.

    gen.scenarios.start("bounce_storm", at=t0, until=t0 + 600, domain="partner-example.com")

The ordinary traffic is unchanged while no scenario runs; a running one draws from the
generator's random source like any flow (the same seed and scenarios give the same logs).
`demo_cycle(start)` repeats the three, one after another, every 30 minutes (`--demo`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .abuse import _netfilter_hit
from .flows import _outbound_common
from .postfix_steps import Timeline, rand_str

KINDS = {
    # name -> default parameters
    "bounce_storm": {"domain": "partner-example.com", "per_minute": 10.0},
    "hijacked_mailbox": {"user": None, "per_minute": 30.0},
    "brute_force": {"username": None, "per_minute": 30.0},
}
DEMO_PERIOD = 1800
DEMO_WINDOWS = (("bounce_storm", 60, 420), ("hijacked_mailbox", 660, 1020), ("brute_force", 1260, 1620))


@dataclass
class Scenario:
    kind: str
    start: float
    end: float
    params: dict
    next_t: float = 0.0
    count: int = 0


@dataclass
class Scenarios:
    running: list[Scenario] = field(default_factory=list)
    demo_start: float | None = None
    _demo_planned: float = 0.0

    def start(self, kind: str, at: float, until: float = float("inf"), **params) -> Scenario:
        if kind not in KINDS:
            raise ValueError(f"unknown scenario {kind!r}; choose from {sorted(KINDS)}")
        scenario = Scenario(kind, at, until, {**KINDS[kind], **params}, next_t=at)
        self.running.append(scenario)
        return scenario

    def stop(self, kind: str, at: float) -> None:
        """End every running scenario of this kind at `at` (traffic returns to normal)."""
        for scenario in self.running:
            if scenario.kind == kind:
                scenario.end = min(scenario.end, at)

    def demo_cycle(self, start: float) -> None:
        self.demo_start = self._demo_planned = start

    def plan(self, g, until: float) -> None:
        """Plan every scenario event up to `until` (called by the generator before its arrivals)."""
        if self.demo_start is not None:
            while self._demo_planned <= until:
                base = self._demo_planned
                for kind, first, last in DEMO_WINDOWS:
                    self.start(kind, base + first, base + last)
                self._demo_planned = base + DEMO_PERIOD
        for scenario in self.running:
            step = 60.0 / scenario.params["per_minute"]
            while scenario.next_t <= until and scenario.next_t < scenario.end:
                _EVENTS[scenario.kind](g, scenario.next_t, scenario)
                scenario.count += 1
                scenario.next_t += step
        self.running = [s for s in self.running if s.next_t < s.end]


def _mailbox(g, chosen: str | None, offset: int) -> str:
    boxes = g.world.mailboxes
    return chosen or boxes[offset % len(boxes)].address


def _bounce(g, t: float, scenario: Scenario) -> None:
    """A mail-out to stale addresses of one domain: every recipient is unknown there."""
    rng = g.rng
    user = rng.choice(g.world.mailboxes).address
    rcpt = f"{rand_str(rng, 'abcdefghijklmnopqrstuvwxyz', 7)}@{scenario.params['domain']}"
    _outbound_common(g, t, "bounce_storm", [(rcpt, ("bounced", 0, ""))], user=user)


def _hijacked(g, t: float, scenario: Scenario) -> None:
    """A taken-over mailbox sending spam through submission, each message to someone new."""
    rng = g.rng
    user = _mailbox(g, scenario.params["user"], 3)
    rcpt = f"{rand_str(rng, 'abcdefghijklmnopqrstuvwxyz', 8)}@{rand_str(rng, 'abcdefghijklmnopqrstuvwxyz', 6)}.example"
    _outbound_common(g, t, "hijacked_mailbox", [(rcpt, ("sent", 0, ""))], user=user)


def _brute(g, t: float, scenario: Scenario) -> None:
    """Password guessing against one mailbox from a botnet: each address tries a few times,
    below netfilter's ban, so only the username ties the attempts together."""
    rng = g.rng
    user = _mailbox(g, scenario.params["username"], 1)
    ip = f"{rng.choice(g.world.brute_nets)}.{rng.randint(2, 254)}"
    tl = Timeline(g, t)
    program = "postfix/smtps/smtpd"
    tl.pf(program, f"connect from unknown[{ip}]")
    tl.wait(0.3, 1.5)
    text = f"warning: unknown[{ip}]: SASL LOGIN authentication failed: (reason unavailable), sasl_username={user}"
    tl.pf(program, text, priority="warning", action=lambda t=tl.t: g.auth_failures.append((t, ip, user)))
    _netfilter_hit(g, tl.t + rng.uniform(0, 0.5), ip, 3, text, 1)
    tl.wait(0.1, 0.4)
    tl.pf(program, f"disconnect from unknown[{ip}] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/4")


_EVENTS = {"bounce_storm": _bounce, "hijacked_mailbox": _hijacked, "brute_force": _brute}
