"""The steps every simulated flow is made of: a timeline that pushes log entries, the smtpd
receive and submission legs, delivery with retries and expiry, and non-delivery notices.

Line formats follow Postfix 3.10 as mailcow runs it (spec/mailcow-api.md section 7).
"""
from __future__ import annotations

import time
from heapq import heappush

from .catalog import (LMTP_RELAY, MYHOSTNAME, POSTFIX_IP, SOGO_IP, SPAM_LOCALS,
                      SPAM_SENDER_DOMAINS, TLS_IN, TLS_OUT)
from .scan import SPAM_ACTIONS, rspamd_row

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
HEX = "0123456789abcdef"


class Timeline:
    """A cursor in simulated time that pushes entries for one flow."""
    __slots__ = ("g", "t")

    def __init__(self, g, t: float):
        self.g, self.t = g, t

    def wait(self, lo: float, hi: float) -> float:
        self.t += self.g.rng.uniform(lo, hi)
        return self.t

    def pf(self, program: str, message: str, priority: str = "info", action=None) -> None:
        g = self.g
        t = self.t
        heappush(g._heap, (t, next(g._seq_iter), "postfix", {"time": str(int(t)), "priority": priority,
                                                             "program": program, "message": message}, action))

    def act(self, action) -> None:
        self.g.push(self.t, None, None, action)


def fmt_delay(x: float) -> str:
    """Postfix keeps two significant digits, prints zero as 0, large values as integers."""
    if x >= 10:
        return str(int(x + 0.5))
    x = round(x, 2)
    if x <= 0:
        return "0"
    return "%.2g" % x


def rand_str(rng, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def make_message_id(rng, style: str, domain: str, t: float) -> str:
    if style == "gmail":
        return "<CA%s@mail.gmail.com>" % rand_str(rng, B64 + "_-", 42)
    if style == "outlook":
        box = "AM%dPR%02dMB%04d" % (rng.randint(0, 9), rng.randint(1, 9), rng.randint(1000, 9999))
        return "<%s%s@%s.eurprd%02d.prod.outlook.com>" % (box, rand_str(rng, "0123456789ABCDEF", 16), box,
                                                          rng.randint(1, 9))
    if style == "ses":
        return "<0100019%s-%s-000000@email.amazonses.com>" % (rand_str(rng, HEX, 9), _uuid(rng))
    if style == "stamp":
        return "<%d.%d.%d@%s>" % (int(t * 100), rng.randint(1000, 99999), rng.getrandbits(60), domain)
    return "<%s@%s>" % (_uuid(rng), domain)


def _uuid(rng) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def postfix_message_id(t: float, qid: str) -> str:
    return "<%s.%s@%s>" % (time.strftime("%Y%m%d%H%M%S", time.gmtime(t)), qid, MYHOSTNAME)


def msg_size(rng, lo=1800, hi=250000) -> int:
    return int(min(hi, max(lo, rng.lognormvariate(9.3, 1.0))))


def new_truth(g, t, flow, **kw):
    from .generator import TruthMessage
    key = kw.pop("key", None) or (kw["message_id"] if kw.get("message_id") else g.new_key(flow))
    # A message registers when its first line is emitted; a second one planned with the same
    # Message-ID before that (a list copy of a post) must not take the first one's key.
    if key in g.truth or key in g.planned_keys:
        key = g.new_key(flow)
    g.planned_keys.add(key)
    return TruthMessage(key=key, flow=flow, first_time=t, **kw)


def _set(m, rcpt, state):
    def a():
        m.outcomes[rcpt] = state
    return a


# ---- receiving ------------------------------------------------------------------------------
def smtpd_in(g, tl, host: str, ip: str, first_action=None, new_client=False,
             tls_share: float | None = 0.8) -> tuple[int, bool]:
    """postscreen + smtpd connect (+ TLS for `tls_share` of the clients; None: never, and no
    random draw for it); returns (client port, tls)."""
    rng = g.rng
    port = rng.randint(20000, 65000)
    tl.pf("postfix/postscreen", f"CONNECT from [{ip}]:{port} to [{POSTFIX_IP}]:25", action=first_action)
    tl.wait(0.0, 0.05)
    tl.pf("postfix/postscreen", f"PASS {'NEW' if new_client else 'OLD'} [{ip}]:{port}")
    tl.wait(0.0, 0.05)
    tl.pf("postfix/smtpd", f"connect from {host}[{ip}]")
    tls = tls_share is not None and rng.random() < tls_share
    if tls:
        tl.wait(0.05, 0.2)
        tl.pf("postfix/smtpd", f"Anonymous TLS connection established from {host}[{ip}]: {TLS_IN}")
    return port, tls


def disconnect_line(host, ip, tls, auth, nrcpt, data_ok=True, smtps=False):
    parts = []
    if smtps:
        parts.append("ehlo=1")
    else:
        parts.append("ehlo=2" if tls else "ehlo=1")
        if tls:
            parts.append("starttls=1")
    if auth:
        parts.append("auth=1")
    parts += ["mail=1", f"rcpt={nrcpt}", "data=1" if data_ok else "data=0/1", "quit=1"]
    n = sum(int(p.split("=")[1].split("/")[-1]) for p in parts)
    ok = sum(int(p.split("=")[1].split("/")[0]) for p in parts)
    cmds = f"commands={ok}" if ok == n else f"commands={ok}/{n}"
    return f"disconnect from {host}[{ip}] " + " ".join(parts) + " " + cmds


def receive(g, tl, m, qid, *, program, host, ip, tls, auth_user=None, scan_kind, partner=None, helo=None,
            smtps=False, greylist_pass=False, reject_reply=None, orig_client=None):
    """client=, cleanup, rspamd scan, then qmgr or milter-reject, then disconnect.
    Returns the rspamd action (or None when not scanned). orig_client: (host, ip) of the real
    client behind a pre-queue proxy that connects from `host[ip]`."""
    rng = g.rng
    sasl = f", sasl_method={rng.choice(('LOGIN', 'PLAIN'))}, sasl_username={auth_user}" if auth_user else ""
    proxied = f", orig_client={orig_client[0]}[{orig_client[1]}]" if orig_client else ""
    tl.wait(0.1, 0.6)
    tl.pf(program, f"{qid}: client={host}[{ip}]{proxied}{sasl}", action=lambda: m.queue_ids.append(qid))
    tl.wait(0.05, 0.4)
    if m.message_id:
        tl.pf("postfix/cleanup", f"{qid}: message-id={m.message_id}")
    tl.wait(0.05, 1.2)
    row = rspamd_row(rng, tl.t, kind=scan_kind, message_id=m.message_id, subject=m.subject, size=m.size,
                     ip=orig_client[1] if orig_client else ip,
                     user=auth_user, sender=m.sender, sender_mime=m.sender, rcpts=m.envelope_recipients,
                     partner=partner, greylist_pass=greylist_pass, tls=tls)
    action = row["action"]

    def on_scan(m=m, action=action, row=row):
        m.rspamd_actions.append(action)
        if action in SPAM_ACTIONS:
            m.is_spam = True
            for r in m.recipients:
                g.quarantine_add({"id": 0, "qid": qid, "subject": m.subject,
                                  "virus_flag": 1833 if "VIRUS_FOUND" in row["symbols"] else 0,
                                  "score": round(float(row["score"]), 2), "rcpt": r,
                                  "sender": m.sender or "empty-env-from@localhost", "action": action,
                                  "created": row["unix_time"], "notified": int(row["unix_time"]) % 2})
    g.push(tl.t, "rspamd", row, on_scan)
    nrcpt_env = len(m.envelope_recipients)
    helo = helo or host
    if action in ("reject", "soft reject"):
        text = reject_reply or ("4.7.1 Greylisted, please try again later" if action == "soft reject"
                                else "5.7.1 This message does not meet our delivery requirements")
        tl.wait(0.0, 0.02)
        tl.pf("postfix/cleanup", f"{qid}: milter-reject: END-OF-MESSAGE from {host}[{ip}]: {text}; "
                                 f"from=<{m.sender}> to=<{m.envelope_recipients[0]}> proto=ESMTP helo=<{helo}>")
        tl.wait(0.0, 0.1)
        tl.pf(program, disconnect_line(host, ip, tls, bool(auth_user), nrcpt_env, data_ok=False, smtps=smtps))
        return action
    tl.wait(0.0, 0.05)
    tl.pf("postfix/qmgr", f"{qid}: from=<{m.sender}>, size={m.size}, nrcpt={len(m.recipients)} (queue active)")
    tl.wait(0.0, 0.1)
    tl.pf(program, disconnect_line(host, ip, tls, bool(auth_user), nrcpt_env, smtps=smtps))
    return action


def submission(g, tl, m, qid, user, scan_kind="auth"):
    """An authenticated client: submission (587), smtps (465) or SOGo (588)."""
    rng = g.rng
    mb = g.world.mailbox_index.get(user)
    x = rng.random()
    if x < 0.65:
        program, ip, tls, smtps = "postfix/submission/smtpd", mb.client_ip, True, False
    elif x < 0.85:
        program, ip, tls, smtps = "postfix/smtps/smtpd", mb.client_ip, True, True
    else:
        program, ip, tls, smtps = "postfix/sogo/smtpd", SOGO_IP, False, False
    m.client_ip, m.sasl_username = ip, user
    tl.pf(program, f"connect from unknown[{ip}]", action=lambda: g.register(m))
    if tls:
        tl.wait(0.05, 0.2)
        tl.pf(program, f"Anonymous TLS connection established from unknown[{ip}]: {TLS_IN}")
    return receive(g, tl, m, qid, program=program, host="unknown", ip=ip, tls=tls, auth_user=user,
                   scan_kind=scan_kind, smtps=smtps, helo="[192.168.1.%d]" % rng.randint(2, 250))


# ---- delivering -----------------------------------------------------------------------------
def deliver(g, tl, m, qid, plans: dict, arrival: float, orig_to: dict | None = None):
    """Deliver one queued leg. plans: final rcpt -> (kind, n_deferrals, defer_style) with kind in
    sent | bounced | quota | expire. Emits every attempt, qmgr lines, expiry and NDRs."""
    rng = g.rng
    world = g.world
    orig_to = orig_to or {}
    sender = m.sender
    nrcpt = len(plans)
    pending = list(plans)
    reasons: dict[str, str] = {}
    attempt, t_attempt, backoff = 0, tl.t, 300.0
    while True:
        if attempt:
            tl.t = t_attempt
            tl.pf("postfix/qmgr", f"{qid}: from=<{sender}>, size={m.size}, nrcpt={nrcpt} (queue active)")
        expiring = attempt > 0 and t_attempt - arrival >= g.queue_lifetime
        failed, expired = [], []
        groups: dict[str, list[str]] = {}
        for r in pending:
            groups.setdefault(r.rpartition("@")[2], []).append(r)
        for dom, rcpts in groups.items():
            local = world.is_local_domain(dom)
            partner = None if local else _partner_for(g, dom)
            conn_failed = False
            if local:
                tl.wait(0.02, 0.2)
            elif partner.unreachable or any(plans[r][2] == "timeout" and attempt < plans[r][1] for r in rcpts):
                conn_failed = True
                tl.wait(30, 30.5)
                tl.pf("postfix/smtp", f"connect to {partner.mx_host}[{partner.mx_ip}]:25: Connection timed out")
            else:
                tl.wait(0.2, 0.9)
                tl.pf("postfix/smtp", f"Trusted TLS connection established to {partner.mx_host}[{partner.mx_ip}]:25: "
                                      f"{TLS_OUT}")
            from . import mailbox        # Dovecot's side of an LMTP delivery (issue 18)
            lmtp = mailbox.sessions(g, rcpts) if local else {}
            for r in rcpts:
                kind, n_def, style = plans[r]
                tl.wait(0.01, 0.3)
                c = 30.0 if conn_failed else rng.uniform(0.005, 0.06) if local else rng.uniform(0.1, 0.5)
                d = 0.0 if conn_failed else rng.uniform(0.01, 0.15) if local else rng.uniform(0.1, 0.7)
                b = rng.uniform(0, 0.02)
                a = max(0.0, tl.t - arrival - b - c - d)
                delay = a + b + c + d
                relay = LMTP_RELAY if local else ("none" if conn_failed else f"{partner.mx_host}[{partner.mx_ip}]:25")
                head = (f"{qid}: to=<{r}>" + (f", orig_to=<{orig_to[r]}>" if r in orig_to else "")
                        + f", relay={relay}, delay={fmt_delay(delay)}, delays={fmt_delay(a)}/{fmt_delay(b)}/"
                          f"{fmt_delay(c)}/{fmt_delay(d)}")
                prog = "postfix/lmtp" if local else "postfix/smtp"
                if kind == "expire" or attempt < n_def:
                    if conn_failed:
                        dsn, text = "4.4.1", f"connect to {partner.mx_host}[{partner.mx_ip}]:25: Connection timed out"
                    else:
                        dsn, text = "4.7.1", (f"host {partner.mx_host}[{partner.mx_ip}] said: 451 4.7.1 <{r}>: "
                                              f"Recipient address rejected: Greylisted, please try again later "
                                              f"(in reply to RCPT TO command)")
                    reasons[r] = text
                    tl.pf(prog, f"{head}, dsn={dsn}, status=deferred ({text})", action=_set(m, r, "deferred"))
                    if expiring:
                        expired.append(r)
                elif kind == "sent":
                    state = "delivered"
                    if local:
                        text = f"250 2.0.0 <{r}> {lmtp[r]} Saved"
                        state = mailbox.delivered(g, tl, m, r, lmtp[r])
                    else:
                        text = partner.accept_reply.format(
                            stamp=int(tl.t), token="a640c23a62f3a-%s.%d" % (rand_str(rng, HEX, 12), rng.randint(1, 999)),
                            msgid=(m.message_id or "").strip("<>"), num=rng.randint(10 ** 11, 10 ** 12),
                            host=rand_str(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 12), size=m.size,
                            remote_qid=rand_str(rng, "0123456789ABCDEF", 10))
                    tl.pf(prog, f"{head}, dsn=2.0.0, status=sent ({text})", action=_set(m, r, state))
                    pending.remove(r)
                else:
                    if kind == "quota":
                        mailbox.over_quota(g, tl, m, r, lmtp[r])
                        dsn, text = "5.2.2", (f"host dovecot[172.22.1.250] said: 552 5.2.2 <{r}> Quota exceeded "
                                              f"(mailbox for user is full) (in reply to end of DATA command)")
                    else:
                        dsn, text = "5.1.1", (f"host {partner.mx_host}[{partner.mx_ip}] said: 550 5.1.1 <{r}>: "
                                              f"Recipient address rejected: User unknown in virtual mailbox table "
                                              f"(in reply to RCPT TO command)")
                    tl.pf(prog, f"{head}, dsn={dsn}, status=bounced ({text})", action=_set(m, r, "bounced"))
                    failed.append(r)
                    pending.remove(r)
        if expired:
            for r in expired:
                pending.remove(r)
                tl.act(_set(m, r, "expired"))
            failed += expired
            tl.wait(0.0, 0.01)
            tl.pf("postfix/qmgr", f"{qid}: from=<{sender}>, status=expired, returned to sender")
        ndr = ndr_start(g, tl, m, qid) if failed and sender else None
        if pending:
            item = {"arrival_time": arrival, "message_size": m.size, "sender": sender,
                    "recipients": {r: reasons.get(r, "") for r in pending}}
            tl.act(lambda item=item: g.queue_put(qid, item))
        else:
            tl.wait(0.0, 0.02)

            def done(m=m):
                g.queue_drop(qid)
                m.complete = True
            tl.pf("postfix/qmgr", f"{qid}: removed", action=done)
        if ndr:
            ndr_finish(g, tl, *ndr)
        if not pending:
            return
        attempt += 1
        t_attempt += min(backoff, 4000.0) + rng.uniform(0, 300)
        backoff *= 2


def _partner_for(g, domain):
    p = g.world.partner_index.get(domain)
    if p is not None:
        return p
    # a spam or unknown domain: treat its MX generically
    return g.world.partners[2].__class__(domain, ("x",), f"mx.{domain}", "203.0.113.99", f"mx.{domain}",
                                         "203.0.113.99", "uuid", "250 2.0.0 Ok: queued as {remote_qid}")


def ndr_start(g, tl, parent, qid):
    rng = g.rng
    nq = g.new_qid()
    mid = postfix_message_id(tl.t, nq)
    to = parent.sender
    local = g.world.is_local_domain(to.rpartition("@")[2])
    ndr = new_truth(g, tl.t, "ndr", message_id=mid, sender="", recipients=[to], envelope_recipients=[to],
                    direction="internal" if local else "outbound", subject="Undelivered Mail Returned to Sender",
                    size=rng.randint(2400, 9000) + parent.size // 20, is_ndr=True, parent_key=parent.key)

    def start(ndr=ndr, parent=parent):
        g.register(ndr)
        ndr.queue_ids.append(nq)
        parent.ndr_queue_ids.append(nq)
        if parent.ndr_queue_id is None:
            parent.ndr_queue_id = nq
    tl.wait(0.0, 0.05)
    tl.pf("postfix/cleanup", f"{nq}: message-id={mid}", action=start)
    tl.wait(0.0, 0.02)
    tl.pf("postfix/qmgr", f"{nq}: from=<>, size={ndr.size}, nrcpt=1 (queue active)")
    tl.wait(0.0, 0.02)
    tl.pf("postfix/bounce", f"{qid}: sender non-delivery notification: {nq}")
    return ndr, nq


def ndr_finish(g, tl, ndr, nq):
    deliver(g, tl, ndr, nq, {ndr.recipients[0]: ("sent", 0, "")}, arrival=tl.t)


# ---- the flows ------------------------------------------------------------------------------
def _remote_sender(g):
    rng = g.rng
    p = rng.choice([q for q in g.world.partners if not q.unreachable])
    return p, f"{rng.choice(p.senders)}@{p.domain}"


def _spam_sender(g):
    rng = g.rng
    net = rng.choice(g.world.spam_nets)
    return f"{rng.choice(SPAM_LOCALS)}@{rng.choice(SPAM_SENDER_DOMAINS)}", f"{net}.{rng.randint(2, 254)}"
