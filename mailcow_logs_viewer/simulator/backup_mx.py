"""A backup MX that relays to the primary (issue 15): mail from the internet for the primary's
domains reaches the backup, which queues it and hands it over by SMTP. Both servers write what
real Postfix writes for that, each into its own log lists:

backup   smtpd: QID1: client=mail-wr1-f47.google.com[209.85.221.47]  ... (queue active)
primary  smtpd: QID2: client=mx2.example.info[192.0.2.20]  ... message-id=<same>  ... (queue active)
backup   smtp:  QID1: to=<john@example.org>, relay=mail.example.org[192.0.2.10]:25, ...,
                status=sent (250 2.0.0 Ok: queued as QID2)
primary  lmtp:  QID2: to=<john@example.org>, relay=dovecot[172.22.1.250]:24, ... Saved

One in six hand-offs finds the primary unreachable first (`Connection timed out`, deferred on
the backup) and succeeds at the queue manager's next try. The message's truth lives with the
backup, where it entered; the primary's lines and its outcome update that truth.

The flow is planned on the backup, with the backup's random numbers, when the message arrives;
the primary's lines go straight into the primary's heap. The primary asks its feeders to plan
up to its own clock before it emits anything (TrafficGenerator.generate), so no relayed line
is ever behind the primary's clock, whatever order the two are advanced in.
"""
from __future__ import annotations

from .catalog import HAM_SUBJECTS, POSTFIX_IP, TLS_OUT
from .postfix_steps import (Timeline, _remote_sender, deliver, fmt_delay, make_message_id, msg_size, new_truth,
                            receive, smtpd_in)

DEFERRED_FIRST = 1 / 6


class RelayLink:
    """Where a backup MX hands its relayed mail to, and how each side names the other."""
    __slots__ = ("primary", "primary_host", "primary_ip", "backup_host", "backup_ip")

    def __init__(self, primary, primary_host: str, primary_ip: str, backup_host: str, backup_ip: str):
        self.primary = primary
        self.primary_host, self.primary_ip = primary_host, primary_ip
        self.backup_host, self.backup_ip = backup_host, backup_ip


class _PrimarySide:
    """The primary as the relay flow writes to it: its heap, world, queue and truth, but the
    backup's random numbers, so that the primary's own traffic draws exactly what it would
    draw without a backup in front of it."""

    def __init__(self, primary, rng):
        self._primary = primary
        self.rng = rng

    def __getattr__(self, name):
        return getattr(self._primary, name)

    def new_qid(self) -> str:
        # The primary's queue ids stay unique (its `_qids`); the draw is the backup's.
        return type(self._primary).new_qid(self)


def relay(g, t):
    """One message for a mailbox of the primary, received by the backup and handed over."""
    link: RelayLink = g.relay
    rng = g.rng
    primary = _PrimarySide(link.primary, rng)
    partner, sender = _remote_sender(g)
    boxes = link.primary.world.mailboxes
    rcpt = boxes[int(rng.random() * len(boxes))].address
    m = new_truth(g, t, "backup_relay", message_id=make_message_id(rng, partner.msgid, partner.domain, t),
                  sender=sender, recipients=[rcpt], envelope_recipients=[rcpt], direction="inbound",
                  subject=rng.choice(HAM_SUBJECTS), client_ip=partner.out_ip, size=msg_size(rng))
    tl = Timeline(g, t)
    _, tls = smtpd_in(g, tl, partner.out_host, partner.out_ip, first_action=lambda: g.register(m))
    qid = g.new_qid()
    receive(g, tl, m, qid, program="postfix/smtpd", host=partner.out_host, ip=partner.out_ip, tls=tls,
            scan_kind="ham", partner=partner)
    arrival = tl.t
    if rng.random() < DEFERRED_FIRST:
        tl.t = _unreachable(g, tl, m, qid, link, arrival) + rng.uniform(300, 900)   # the queue manager's next try
        tl.pf("postfix/qmgr", f"{qid}: from=<{sender}>, size={m.size}, nrcpt=1 (queue active)")
    _hand_over(g, primary, tl, m, qid, link, arrival)


def _unreachable(g, tl, m, qid, link: RelayLink, arrival: float) -> float:
    """The first attempt times out: deferred on the backup, in its queue. Returns its time."""
    reason = f"connect to {link.primary_host}[{link.primary_ip}]:25: Connection timed out"
    tl.wait(30, 30.5)
    tl.pf("postfix/smtp", reason)
    delay = tl.t - arrival
    rcpt = m.recipients[0]

    def deferred(m=m, rcpt=rcpt):
        # The primary's generator may already have emitted the delivery (the two are advanced
        # one after the other): an outcome already known is later in simulated time.
        m.outcomes.setdefault(rcpt, "deferred")
        g.queue_put(qid, {"arrival_time": arrival, "message_size": m.size, "sender": m.sender,
                          "recipients": {rcpt: reason}})
    tl.pf("postfix/smtp", f"{qid}: to=<{rcpt}>, relay=none, delay={fmt_delay(delay)}, "
                          f"delays={fmt_delay(delay - 30)}/0/30/0, dsn=4.4.1, status=deferred ({reason})",
          action=deferred)
    return tl.t


def _hand_over(g, primary: _PrimarySide, tl, m, qid, link: RelayLink, arrival: float) -> None:
    """The SMTP dialogue between the two: the primary accepts (its own smtpd leg, scanned by
    its Rspamd), answers `queued as`, then delivers to its mailbox."""
    rng = g.rng
    rcpt = m.recipients[0]
    start = tl.wait(0.2, 0.9)
    tl.pf("postfix/smtp", f"Trusted TLS connection established to {link.primary_host}[{link.primary_ip}]:25: {TLS_OUT}")
    inside = Timeline(primary, tl.t + rng.uniform(0.01, 0.05))
    inside.pf("postfix/postscreen", f"CONNECT from [{link.backup_ip}]:{rng.randint(20000, 65000)} to [{POSTFIX_IP}]:25")
    inside.pf("postfix/smtpd", f"connect from {link.backup_host}[{link.backup_ip}]")
    inside.pf("postfix/smtpd", f"Anonymous TLS connection established from {link.backup_host}[{link.backup_ip}]: "
                               f"{TLS_OUT}")
    handed = primary.new_qid()
    receive(primary, inside, m, handed, program="postfix/smtpd", host=link.backup_host, ip=link.backup_ip, tls=True,
            scan_kind="ham")
    m.relayed_queue_id = handed
    # receive() ends with the primary's disconnect; the backup logs the 250 just before that.
    tl.t = inside.t - rng.uniform(0.001, 0.01)
    c, d = rng.uniform(0.1, 0.4), tl.t - start
    a = max(0.0, tl.t - arrival - c - d)

    def handed_over():
        g.queue_drop(qid)
    tl.pf("postfix/smtp", f"{qid}: to=<{rcpt}>, relay={link.primary_host}[{link.primary_ip}]:25, "
                          f"delay={fmt_delay(a + c + d)}, delays={fmt_delay(a)}/0/{fmt_delay(c)}/{fmt_delay(d)}, "
                          f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {handed})")
    tl.pf("postfix/qmgr", f"{qid}: removed", action=handed_over)
    deliver(primary, inside, m, handed, {rcpt: ("sent", 0, "")}, arrival=inside.t)
