"""Mail flows: each function plans one message completely (every leg, retry, expiry and NDR)
and pushes its Postfix lines and Rspamd rows into the generator's heap, built from the steps
in postfix_steps.py.
"""
from __future__ import annotations

from typing import NamedTuple

from ..outcome import REFUSAL_RETRY_SECONDS
from .catalog import HAM_SUBJECTS, SPAM_SUBJECTS
from .postfix_steps import (Timeline, _remote_sender, _spam_sender, deliver, make_message_id, msg_size, new_truth, receive,
                            smtpd_in, submission)


class Origin(NamedTuple):
    """Who sends an inbound message, when the flow chooses (a list server's copy of a post)."""
    partner: object
    sender: str
    message_id: str
    subject: str


def _inbound_common(g, t, flow, env_rcpts, *, scan="ham", spam=False, plans_kind="sent", new_client=False,
                    origin: Origin | None = None):
    rng = g.rng
    world = g.world
    final, orig = [], {}
    for r in env_rcpts:
        for f in world.resolve(r):
            if f not in final:
                final.append(f)
                if f != r:
                    orig[f] = r
    if spam:
        sender, ip = _spam_sender(g)
        partner, host = None, "unknown"
        mid = None if rng.random() < 0.3 else make_message_id(rng, "uuid", sender.rpartition("@")[2], t)
        subject = rng.choice(SPAM_SUBJECTS)
    elif origin is not None:
        partner, sender, mid, subject = origin
        ip, host = partner.out_ip, partner.out_host
    else:
        partner, sender = _remote_sender(g)
        ip, host = partner.out_ip, partner.out_host
        mid = make_message_id(rng, partner.msgid, partner.domain, t)
        subject = rng.choice(HAM_SUBJECTS)
    m = new_truth(g, t, flow, message_id=mid, sender=sender, recipients=final, envelope_recipients=list(env_rcpts),
                  direction="inbound", subject=subject, client_ip=ip, size=msg_size(rng), orig_to=orig)
    tl = Timeline(g, t)
    _, tls = smtpd_in(g, tl, host, ip, first_action=lambda: g.register(m), new_client=new_client)
    qid = g.new_qid()
    action = receive(g, tl, m, qid, program="postfix/smtpd", host=host, ip=ip, tls=tls, scan_kind=scan,
                     partner=partner, helo=host if host != "unknown" else rng.choice(("WINPC", "User", "localhost")))
    if action == "reject":
        m.refused = True
        for r in final:
            m.outcomes[r] = "rejected"   # known from the first line on; nothing else will happen
        m.complete = True
        return m
    if action == "soft reject":
        return m                         # greylisted: the caller decides about a retry
    deliver(g, tl, m, qid, {r: (plans_kind, 0, "") for r in final}, arrival=t, orig_to=orig)
    return m


def _local_rcpt(g, exclude=None):
    boxes = g.world.mailboxes
    while True:
        r = boxes[int(g.rng.random() * len(boxes))].address
        if r != exclude:
            return r


def inbound(g, t):
    _inbound_common(g, t, "inbound", [_local_rcpt(g)])


def inbound_alias(g, t):
    rng = g.rng
    if rng.random() < 0.6 or not g.world.alias_domains:
        r = rng.choice(sorted(g.world.aliases))
    else:
        mb = rng.choice(g.world.mailboxes)
        ad = rng.choice(sorted(g.world.alias_domains))
        target = g.world.alias_domains[ad]
        r = mb.address.replace("@" + target, "@" + ad) if mb.address.endswith("@" + target) else \
            rng.choice(sorted(g.world.aliases))
    _inbound_common(g, t, "inbound_alias", [r])


def bounce_inbound(g, t):
    _inbound_common(g, t, "bounce_inbound", [_local_rcpt(g)], plans_kind="quota")


def spam_add_header(g, t):
    _inbound_common(g, t, "spam_add_header", [_local_rcpt(g)], scan="add_header", spam=True)


def rspamd_reject(g, t):
    scan = "virus" if g.rng.random() < 0.15 else "reject"
    _inbound_common(g, t, "rspamd_reject", [_local_rcpt(g)], scan=scan, spam=True)


def greylist(g, t):
    rng = g.rng
    rcpt = _local_rcpt(g)
    m = _inbound_common(g, t, "greylist", [rcpt], scan="greylist", new_client=True)
    m.outcomes[rcpt] = "deferred"
    if rng.random() < 0.2:           # a bot that never comes back
        m.complete = True

        def never_retried(m=m, rcpt=rcpt):
            # After the retry window a temporary refusal is final (README "What a message is").
            m.refused = True
            m.outcomes[rcpt] = "rejected"
        g.push(t + REFUSAL_RETRY_SECONDS + 5, None, None, never_retried)
        return
    partner = next(p for p in g.world.partners if p.out_ip == m.client_ip)
    t2 = t + rng.uniform(300, 1500)
    tl = Timeline(g, t2)
    _, tls = smtpd_in(g, tl, partner.out_host, partner.out_ip)
    qid = g.new_qid()
    receive(g, tl, m, qid, program="postfix/smtpd", host=partner.out_host, ip=partner.out_ip, tls=tls,
            scan_kind="greylist", partner=partner, greylist_pass=True)
    deliver(g, tl, m, qid, {r: ("sent", 0, "") for r in m.recipients}, arrival=t2, orig_to=m.orig_to)


def _outbound_common(g, t, flow, rcpt_plans: list[tuple[str, tuple]], user=None):
    rng = g.rng
    user = user or rng.choice(g.world.mailboxes).address
    env = [r for r, _ in rcpt_plans]
    local_only = all(g.world.is_local_domain(r.rpartition("@")[2]) for r in env)
    mid = make_message_id(rng, "uuid", user.rpartition("@")[2], t)
    m = new_truth(g, t, flow, message_id=mid, sender=user, recipients=env, envelope_recipients=env,
                  direction="internal" if local_only else "outbound", subject=rng.choice(HAM_SUBJECTS),
                  size=msg_size(rng))
    tl = Timeline(g, t)
    qid = g.new_qid()
    submission(g, tl, m, qid, user)
    deliver(g, tl, m, qid, dict(rcpt_plans), arrival=t)
    return m


def _remote_rcpt(g, reachable=True):
    rng = g.rng
    p = rng.choice([q for q in g.world.partners if q.unreachable != reachable and q.domain != "newsletter-example.com"])
    return f"{rng.choice(p.senders)}@{p.domain}"


def outbound(g, t):
    _outbound_common(g, t, "outbound", [(_remote_rcpt(g), ("sent", 0, ""))])


def internal(g, t):
    user = g.rng.choice(g.world.mailboxes).address
    _outbound_common(g, t, "internal", [(_local_rcpt(g, exclude=user), ("sent", 0, ""))], user=user)


def deferred_then_sent(g, t):
    rng = g.rng
    style = rng.choice(("timeout", "greylist"))
    _outbound_common(g, t, "deferred_then_sent", [(_remote_rcpt(g), ("sent", rng.randint(1, 4), style))])


def deferred_expired(g, t):
    _outbound_common(g, t, "deferred_expired", [(_remote_rcpt(g, reachable=False), ("expire", 0, "timeout"))])


def bounce_outbound(g, t):
    rng = g.rng
    p = rng.choice([q for q in g.world.partners if not q.unreachable and q.domain != "newsletter-example.com"])
    r = f"{rng.choice(('nobody', 'j.smtih', 'old.account', 'info2'))}@{p.domain}"
    _outbound_common(g, t, "bounce_outbound", [(r, ("bounced", 0, ""))])


def multi_recipient(g, t):
    rng = g.rng
    user = rng.choice(g.world.mailboxes).address
    plans, seen = [], {user}
    for _ in range(rng.randint(2, 5)):
        x = rng.random()
        if x < 0.3:
            r, plan = _local_rcpt(g, exclude=user), ("sent", 0, "")
        elif x < 0.75:
            r, plan = _remote_rcpt(g), ("sent", 0, "")
        elif x < 0.87:
            r, plan = _remote_rcpt(g), ("sent", rng.randint(1, 3), "greylist")
        elif x < 0.96:
            p = rng.choice([q for q in g.world.partners if not q.unreachable])
            r, plan = f"no.such.user{rng.randint(1, 99)}@{p.domain}", ("bounced", 0, "")
        else:
            r, plan = _remote_rcpt(g, reachable=False), ("expire", 0, "timeout")
        if r not in seen:
            seen.add(r)
            plans.append((r, plan))
    _outbound_common(g, t, "multi_recipient", plans, user=user)
