"""Dovecot's side of the simulated mailcow: the LMTP step of every local delivery (Sieve files
it into a folder, discards it, redirects it, answers with a vacation reply, or the mailbox is
full), and failed IMAP logins. Lines in the exact formats real Dovecot 2.3 + Pigeonhole write
(see the realmail-dovecot-sample corpus); mailcow serves them as `program: "dovecot"`."""
from __future__ import annotations

from .postfix_steps import B64, Timeline, new_truth, rand_str

DOVECOT_IP = "172.22.1.250"
# What Sieve does with a delivered message that is not spam (spam goes to Junk, as mailcow's
# global sieve_after script files it): weights of INBOX, a user's folder, discard, redirect, vacation.
VERDICTS = (("inbox", 0.80), ("folder", 0.08), ("discard", 0.04), ("redirect", 0.04), ("vacation", 0.04))
FOLDERS = ("Newsletters", "Receipts", "Lists")


def dv(g, t: float, message: str, action=None) -> None:
    g.push(t, "dovecot", {"time": str(int(t)), "priority": "info", "program": "dovecot", "message": message}, action)


def sessions(g, rcpts: list[str]) -> dict[str, str]:
    """One LMTP transaction's session id per recipient: later ones get :R2, :R3 (in both logs)."""
    base = rand_str(g.rng, B64 + "/", 22)
    return {r: base if i == 0 else f"{base}:R{i + 1}" for i, r in enumerate(rcpts)}


def _prefix(user: str, pid: int, session: str) -> str:
    return f"lmtp({user})<{pid}><{session}>: sieve: "


def _verdict(g, m) -> str:
    # The scan's verdict is applied later in simulated time; the flow already says it is spam.
    if m.is_spam or m.flow.startswith("spam"):
        return "junk"
    x, total = g.rng.random(), 0.0
    for name, weight in VERDICTS:
        total += weight
        if x < total:
            return name
    return "inbox"


def delivered(g, tl: Timeline, m, rcpt: str, session: str) -> str:
    """Dovecot's lines for one recipient Postfix hands over and Dovecot accepts (logged just
    before Postfix's `status=sent`). Returns the recipient's truth: delivered or discarded."""
    rng = g.rng
    pid = g.__dict__.setdefault("_lmtp_pid", rng.randint(1000, 30000))
    head = _prefix(rcpt, pid, session)
    msgid = m.message_id or "unspecified"
    t = tl.t - rng.uniform(0.001, 0.02)
    verdict = _verdict(g, m)
    if verdict == "discard":
        dv(g, t, f"{head}msgid={msgid}: discard action: Marked message to be discarded if not explicitly "
                 "delivered (discard action)")
        return "discarded"
    if verdict in ("redirect", "vacation") and m.sender and not g.world.is_local_domain(m.sender.rpartition("@")[2]):
        if verdict == "redirect":
            target = f"{rcpt.partition('@')[0]}@{rng.choice(g.world.partners).domain}"
            dv(g, t, f"{head}msgid={msgid}: redirect action: forwarded to <{target}>")
            dv(g, t, f"{head}msgid={msgid}: stored mail into mailbox 'INBOX'")      # redirect :copy keeps one
        elif m.sender in g.__dict__.setdefault("_vacation_replied", set()):
            dv(g, t, f"{head}msgid={msgid}: vacation action: discarded duplicate vacation response to <{m.sender}>")
            dv(g, t, f"{head}msgid={msgid}: stored mail into mailbox 'INBOX'")
        else:
            g._vacation_replied.add(m.sender)
            dv(g, t, f"{head}msgid={msgid}: vacation action: sent vacation response to <{m.sender}>")
            dv(g, t, f"{head}msgid={msgid}: stored mail into mailbox 'INBOX'")
            _vacation_reply(g, t, rcpt, m.sender)
        return "delivered"
    if verdict == "junk":
        dv(g, t, f"{head}msgid={msgid}: fileinto action: stored mail into mailbox 'Junk'")
    elif verdict == "folder":
        dv(g, t, f"{head}msgid={msgid}: fileinto action: stored mail into mailbox '{rng.choice(FOLDERS)}'")
    else:
        dv(g, t, f"{head}msgid={msgid}: stored mail into mailbox 'INBOX'")
    return "delivered"


def over_quota(g, tl: Timeline, m, rcpt: str, session: str) -> None:
    """The mailbox is full: Sieve's implicit keep fails; Postfix then bounces with 552 5.2.2."""
    pid = g.__dict__.setdefault("_lmtp_pid", g.rng.randint(1000, 30000))
    head = _prefix(rcpt, pid, session)
    t = tl.t - 0.005
    dv(g, t, f"{head}msgid={m.message_id or 'unspecified'}: failed to store into mailbox 'INBOX': Quota exceeded "
             "(mailbox for user is full)")
    dv(g, t, f"{head}Execution of script /var/vmail/sieve/global_sieve_after.sieve failed with unsuccessful "
             "implicit keep")


def _vacation_reply(g, t: float, mailbox: str, to: str) -> None:
    """Pigeonhole's reply leaves through Postfix (mailcow's postfix:588) as a new message."""
    from .postfix_steps import deliver

    rng = g.rng
    mid = f"<dovecot-sieve-{int(t)}-{rng.randint(100000, 999999)}-0@mail.{mailbox.rpartition('@')[2]}>"
    reply = new_truth(g, t, "vacation_reply", message_id=mid, sender=mailbox, recipients=[to], envelope_recipients=[to],
                      direction="outbound", subject="Out of office", size=rng.randint(700, 1200),
                      client_ip=DOVECOT_IP)
    tl = Timeline(g, t + rng.uniform(0.005, 0.05))
    qid = g.new_qid()
    tl.pf("postfix/smtpd", f"connect from dovecot.mailcowdockerized_mailcow-network[{DOVECOT_IP}]",
          action=lambda: g.register(reply))
    tl.pf("postfix/smtpd", f"{qid}: client=dovecot.mailcowdockerized_mailcow-network[{DOVECOT_IP}]",
          action=lambda: reply.queue_ids.append(qid))
    tl.wait(0.001, 0.01)
    tl.pf("postfix/cleanup", f"{qid}: message-id={mid}")
    tl.pf("postfix/qmgr", f"{qid}: from=<{mailbox}>, size={reply.size}, nrcpt=1 (queue active)")
    tl.pf("postfix/smtpd", f"disconnect from dovecot.mailcowdockerized_mailcow-network[{DOVECOT_IP}] ehlo=1 "
                           "mail=1 rcpt=1 bdat=1 quit=1 commands=5")
    deliver(g, tl, reply, qid, {to: ("sent", 0, "")}, arrival=t)


def imap_login_failures(g, t: float, ip: str, user: str, attempts: int) -> None:
    """A failed IMAP login as Dovecot logs it: the password check, then the login process's
    disconnect with the attempt count (which the security view counts)."""
    rng = g.rng
    session = rand_str(rng, B64 + "/", 16)
    dv(g, t, f"auth-worker({rng.randint(100, 999)}): lua({user},{ip},<{session}>): Password mismatch "
             f"(SHA1 of given password: {rand_str(rng, '0123456789abcdef', 6)})")
    dv(g, t + rng.uniform(1.5, 3.0), f"imap-login: Disconnected: Connection closed (auth failed, {attempts} attempts "
                                     f"in {rng.randint(2, 9)} secs): user=<{user}>, method=PLAIN, rip={ip}, "
                                     f"lip={DOVECOT_IP}, TLS, TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")

