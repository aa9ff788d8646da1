"""Patterns of real Postfix setups beyond a plain mailcow (issue 12, PITFALLS 28-33), so that
the demo and the simulator-truth tests cover them: an after-queue content filter (amavis on
127.0.0.1:10024, back on :10025), mailing-list copies that reuse the post's Message-ID,
address verification probes, temporary NOQUEUE refusals retried by the client, local
submissions through pickup, and a pre-queue proxy in front of smtpd.

Each flow records what an admin reading its lines would say in the generator's truth: one
message per chain of custody, none for a probe (probes go to `g.probes`).
"""
from __future__ import annotations

from typing import NamedTuple

from .catalog import HAM_SUBJECTS, MYHOSTNAME, POSTFIX_IP, TLS_OUT
from .flows import (Origin, Timeline, _inbound_common, _local_rcpt, _outbound_common, _remote_rcpt, _remote_sender,
                    deliver, disconnect_line, fmt_delay, make_message_id, msg_size, new_truth, postfix_message_id,
                    receive, smtpd_in, submission)

FILTER_RELAY = "127.0.0.1[127.0.0.1]:10024"
FILTER_RETURN = "postfix/10025/smtpd"
LIST_DOMAIN = "corp-example.com"
CRON_SUBJECTS = ("Cron <root@mail> /usr/local/bin/backup.sh", "Logwatch for mail.example.org",
                 "Disk usage report", "[fail2ban] summary")


class Probe(NamedTuple):
    """One address verification probe: not mail, only lines in the Postfix log."""
    time: float
    queue_id: str
    recipient: str
    status: str          # deliverable | undeliverable


# ---- content filter -------------------------------------------------------------------------
def content_filter(g, t):
    """Through an after-queue content filter: half inbound to a mailbox, half a user's mail out
    whose last hop a remote greylister may defer (deferred behind the filter is deferred)."""
    rng = g.rng
    tl = Timeline(g, t)
    qid = g.new_qid()
    if rng.random() < 0.5:
        partner, sender = _remote_sender(g)
        rcpt = _local_rcpt(g)
        m = new_truth(g, t, "content_filter", message_id=make_message_id(rng, partner.msgid, partner.domain, t),
                      sender=sender, recipients=[rcpt], envelope_recipients=[rcpt], direction="inbound",
                      subject=rng.choice(HAM_SUBJECTS), client_ip=partner.out_ip, size=msg_size(rng))
        _, tls = smtpd_in(g, tl, partner.out_host, partner.out_ip, first_action=lambda: g.register(m))
        receive(g, tl, m, qid, program="postfix/smtpd", host=partner.out_host, ip=partner.out_ip, tls=tls,
                scan_kind="ham", partner=partner)
        plans = {rcpt: ("sent", 0, "")}
    else:
        user = rng.choice(g.world.mailboxes).address
        rcpt = _remote_rcpt(g)
        m = new_truth(g, t, "content_filter", message_id=make_message_id(rng, "uuid", user.rpartition("@")[2], t),
                      sender=user, recipients=[rcpt], envelope_recipients=[rcpt], direction="outbound",
                      subject=rng.choice(HAM_SUBJECTS), size=msg_size(rng))
        submission(g, tl, m, qid, user)
        plans = {rcpt: ("sent", rng.choice((0, 0, 1, 2)), "greylist")}
    returned = hand_off(g, tl, m, qid)
    deliver(g, tl, m, returned, plans, arrival=tl.t)


def hand_off(g, tl: Timeline, m, qid: str) -> str:
    """`qid` goes to the filter (`status=sent (... queued as NEWQID)`, not a delivery) and comes
    back as NEWQID on port 10025. The filter re-injects before it answers, so NEWQID's own lines
    usually come before the hand-off line; a third of the time they are logged after it."""
    rng = g.rng
    start = tl.t
    tl.wait(0.5, 4.0)                       # the filter scans
    returned = g.new_qid()
    early = rng.random() < 0.67
    back = Timeline(g, tl.t - rng.uniform(0.05, 0.4) if early else tl.t + rng.uniform(0.01, 0.3))

    def arrived(m=m):
        m.queue_ids.append(returned)
        m.unscanned_queue_ids.append(returned)      # the return port runs no milter
    back.pf(FILTER_RETURN, "connect from localhost[127.0.0.1]")
    back.pf(FILTER_RETURN, f"{returned}: client=localhost[127.0.0.1]", action=arrived)
    back.wait(0.001, 0.01)
    if m.message_id:
        back.pf("postfix/cleanup", f"{returned}: message-id={m.message_id}")
    back.wait(0.001, 0.01)
    back.pf("postfix/qmgr", f"{returned}: from=<{m.sender}>, size={m.size}, nrcpt={len(m.recipients)} (queue active)")
    back.pf(FILTER_RETURN, disconnect_line("localhost", "127.0.0.1", False, False, len(m.recipients)))
    scan_id = rng.randint(10000, 99999)
    for n, r in enumerate(m.recipients, start=1):
        delay = tl.t - start
        tl.pf("postfix/smtp", f"{qid}: to=<{r}>, relay={FILTER_RELAY}, delay={fmt_delay(delay)}, "
                              f"delays=0.01/0/0/{fmt_delay(delay)}, dsn=2.0.0, status=sent (250 2.0.0 Ok, "
                              f"id={scan_id}-{n:02d}, from MTA([127.0.0.1]:10025): 250 2.0.0 Ok: queued as {returned})")
    tl.wait(0.0, 0.01)
    tl.pf("postfix/qmgr", f"{qid}: removed")
    tl.t = max(tl.t, back.t)
    return returned


# ---- a Message-ID shared by distinct transactions ------------------------------------------------
def mailing_list(g, t):
    """A user posts to a list at a partner; minutes later the list server sends copies to our
    subscribers with the post's Message-ID. The copy is a message of its own, inbound, related
    to the post (PITFALLS 31), never a retry of it."""
    rng = g.rng
    partner = g.world.partner_index[LIST_DOMAIN]
    poster = rng.choice(g.world.mailboxes).address
    post = _outbound_common(g, t, "list_post", [(f"all-staff@{LIST_DOMAIN}", ("sent", 0, ""))], user=poster)
    others = [mb.address for mb in g.world.mailboxes if mb.address != poster]
    subscribers = rng.sample(others, rng.randint(1, 3))
    origin = Origin(partner, f"all-staff-bounces@{LIST_DOMAIN}", post.message_id, f"[all-staff] {post.subject}")
    copy = _inbound_common(g, t + rng.uniform(30, 180), "list_copy", subscribers, origin=origin)
    copy.same_message_id_as = post.key


# ---- verification probes --------------------------------------------------------------------------
def address_probe(g, t):
    """Postfix's verify(8) asks a remote MX about an address (reject_unverified_recipient or
    _sender): `from=<double-bounce@...>`, `status=deliverable` or `undeliverable`. Not mail."""
    rng = g.rng
    partner = rng.choice([p for p in g.world.partners if not p.unreachable])
    known = rng.random() < 0.7
    rcpt = (f"{rng.choice(partner.senders)}@{partner.domain}" if known
            else f"no.such.user{rng.randint(1, 99)}@{partner.domain}")
    qid = g.new_qid()
    tl = Timeline(g, t)
    tl.pf("postfix/cleanup", f"{qid}: message-id={postfix_message_id(t, qid)}")
    tl.wait(0.0, 0.01)
    tl.pf("postfix/qmgr", f"{qid}: from=<double-bounce@{MYHOSTNAME}>, size=236, nrcpt=1 (queue active)")
    tl.wait(0.2, 0.9)
    tl.pf("postfix/smtp", f"Trusted TLS connection established to {partner.mx_host}[{partner.mx_ip}]:25: {TLS_OUT}")
    tl.wait(0.1, 0.4)
    delay = fmt_delay(tl.t - t)
    head = (f"{qid}: to=<{rcpt}>, relay={partner.mx_host}[{partner.mx_ip}]:25, delay={delay}, "
            f"delays=0.01/0/{delay}/0")
    status = "deliverable" if known else "undeliverable"
    probe = Probe(t, qid, rcpt, status)
    if known:
        text = f"{head}, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)"
    else:
        text = (f"{head}, dsn=5.1.1, status=undeliverable (host {partner.mx_host}[{partner.mx_ip}] said: 550 5.1.1 "
                f"<{rcpt}>: Recipient address rejected: User unknown (in reply to RCPT TO command))")
    tl.pf("postfix/smtp", text, action=lambda: g.probes.append(probe))
    tl.wait(0.0, 0.01)
    tl.pf("postfix/qmgr", f"{qid}: removed")


# ---- temporary refusals retried ---------------------------------------------------------------
def retried_refusal(g, t):
    """A temporary refusal at RCPT (postscreen's `450 4.3.2` to a new client, or smtpd's
    `450 4.1.8` while the sender's domain does not resolve) that the same client retries
    minutes later, accepted: one message, the refusal its earlier attempt (PITFALLS 33).
    One client in six never comes back: a lone NOQUEUE refusal, a rejected message."""
    rng = g.rng
    partner, _ = _remote_sender(g)
    # A sender of its own: another message of the same client, sender and recipient between the
    # refusal and the retry would make the log ambiguous (which one retried?), to an admin too.
    sender = f"{rng.choice(('events', 'billing', 'alerts'))}.{rng.randint(100, 999)}@{partner.domain}"
    rcpt = _local_rcpt(g)
    host, ip = partner.out_host, partner.out_ip
    # Until the retry, the message is the refusal: no Message-ID, no queue id (README).
    m = new_truth(g, t, "retried_refusal", key=g.new_key("retried_refusal"), message_id=None, sender=sender,
                  recipients=[rcpt], envelope_recipients=[rcpt], direction="inbound",
                  subject=rng.choice(HAM_SUBJECTS), client_ip=ip, size=msg_size(rng), refused=True)
    m.outcomes[rcpt] = "rejected"
    tl = Timeline(g, t)
    port = rng.randint(20000, 65000)
    tl.pf("postfix/postscreen", f"CONNECT from [{ip}]:{port} to [{POSTFIX_IP}]:25", action=lambda: g.register(m))
    tl.wait(0.3, 1.5)
    if rng.random() < 0.5:
        tl.pf("postfix/postscreen", f"NOQUEUE: reject: RCPT from [{ip}]:{port}: 450 4.3.2 Service currently "
                                    f"unavailable; from=<{sender}>, to=<{rcpt}>, proto=ESMTP, helo=<{host}>")
        tl.wait(0.01, 0.2)
        tl.pf("postfix/postscreen", f"DISCONNECT [{ip}]:{port}")
    else:
        tl.pf("postfix/postscreen", f"PASS OLD [{ip}]:{port}")
        tl.pf("postfix/smtpd", f"connect from {host}[{ip}]")
        tl.wait(0.1, 0.6)
        tl.pf("postfix/smtpd", f"NOQUEUE: reject: RCPT from {host}[{ip}]: 450 4.1.8 <{sender}>: Sender address "
                               f"rejected: Domain not found; from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{host}>")
        tl.wait(0.05, 0.3)
        tl.pf("postfix/smtpd", f"disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5")
    if rng.random() < 1 / 6:
        m.complete = True
        return
    mid = make_message_id(rng, partner.msgid, partner.domain, t)

    def retried(m=m, mid=mid):
        m.message_id, m.refused = mid, False
        m.outcomes.clear()
    t2 = t + rng.uniform(300, 1500)
    tl = Timeline(g, t2)
    _, tls = smtpd_in(g, tl, host, ip, first_action=retried)
    qid = g.new_qid()
    m.message_id = mid                      # the retry's lines carry it ...
    receive(g, tl, m, qid, program="postfix/smtpd", host=host, ip=ip, tls=tls, scan_kind="ham", partner=partner)
    deliver(g, tl, m, qid, {rcpt: ("sent", 0, "")}, arrival=t2)
    m.message_id = None                     # ... which the truth learns when the retry connects


# ---- local submissions and proxies -------------------------------------------------------------
def pickup(g, t):
    """A cron job on the mail host: sendmail(1) -> pickup names only the local user
    (`uid=0 from=<root>`), cleanup adds the Message-ID, qmgr the envelope sender qualified
    (myorigin, or rewritten by sender_canonical_maps). No client, no Rspamd scan (PITFALLS 28)."""
    rng = g.rng
    local, uid, sender = rng.choice((("root", 0, f"root@{MYHOSTNAME}"), ("root", 0, f"reports@{g.world.domains[0]}"),
                                     ("www-data", 33, f"www-data@{MYHOSTNAME}")))
    rcpt = _remote_rcpt(g) if rng.random() < 0.5 else _local_rcpt(g)
    qid = g.new_qid()
    mid = postfix_message_id(t, qid)
    local_only = g.world.is_local_domain(rcpt.rpartition("@")[2])
    m = new_truth(g, t, "pickup", message_id=mid, sender=sender, recipients=[rcpt], envelope_recipients=[rcpt],
                  direction="internal" if local_only else "outbound", subject=rng.choice(CRON_SUBJECTS),
                  size=msg_size(rng, 900, 40000))

    def submitted(m=m):
        g.register(m)
        m.queue_ids.append(qid)
        m.unscanned_queue_ids.append(qid)
    tl = Timeline(g, t)
    tl.pf("postfix/pickup", f"{qid}: uid={uid} from=<{local}>", action=submitted)
    tl.wait(0.001, 0.02)
    tl.pf("postfix/cleanup", f"{qid}: message-id={mid}")
    tl.wait(0.001, 0.02)
    tl.pf("postfix/qmgr", f"{qid}: from=<{sender}>, size={m.size}, nrcpt=1 (queue active)")
    deliver(g, tl, m, qid, {rcpt: ("sent", 0, "")}, arrival=t)


def proxied_inbound(g, t):
    """Behind a pre-queue proxy: smtpd sees the proxy on localhost and names the real client
    `orig_client=` (PITFALLS 29); the message's client is the real one."""
    rng = g.rng
    partner, sender = _remote_sender(g)
    rcpt = _local_rcpt(g)
    host, ip = partner.out_host, partner.out_ip
    m = new_truth(g, t, "proxied_inbound", message_id=make_message_id(rng, partner.msgid, partner.domain, t),
                  sender=sender, recipients=[rcpt], envelope_recipients=[rcpt], direction="inbound",
                  subject=rng.choice(HAM_SUBJECTS), client_ip=ip, size=msg_size(rng))
    tl = Timeline(g, t)
    tl.pf("postfix/smtpd", "connect from localhost[127.0.0.1]", action=lambda: g.register(m))
    qid = g.new_qid()
    receive(g, tl, m, qid, program="postfix/smtpd", host="localhost", ip="127.0.0.1", tls=False, scan_kind="ham",
            partner=partner, helo=host, orig_client=(host, ip))
    deliver(g, tl, m, qid, {rcpt: ("sent", 0, "")}, arrival=t)
