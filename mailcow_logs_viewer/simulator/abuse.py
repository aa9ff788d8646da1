"""Hostile traffic: NOQUEUE and postscreen rejects, SASL brute force, and the netfilter
(fail2ban-like) lines mailcow's netfilter container writes for them."""
from __future__ import annotations

from .catalog import BRUTE_USERNAMES, POSTFIX_IP, SPAM_SUBJECTS
from .postfix_steps import B64, Timeline, new_truth, rand_str, smtpd_in, _remote_sender, _spam_sender
from .mailbox import imap_login_failures

MAX_ATTEMPTS = 10
RETRY_WINDOW = 600
BAN_TIME = 1800


def _nf(g, t, priority, message, action=None):
    g.push(t, "netfilter", {"time": int(round(t)), "priority": priority, "message": message}, action)


def netfilter_startup(g, t):
    _nf(g, t, "info", "Watching Redis channel F2B_CHANNEL")


def _fresh_ip(g, nets) -> str:
    used = g.__dict__.setdefault("_abuse_ips", set())
    rng = g.rng
    if len(used) >= len(nets) * 253 // 2:      # pool half used: old bans are long over, start again
        used.clear()
    while True:
        ip = f"{rng.choice(nets)}.{rng.randint(2, 254)}"
        if ip not in used:
            used.add(ip)
            return ip


_SANITIZE = {c: "_" for c in list(range(32)) + [ord("/")]}


def _sanitize(text: str) -> str:
    """syslog-ng $(sanitize): '/' becomes '_', control characters too."""
    return text.translate(_SANITIZE)


def _netfilter_hit(g, t, ip, rule, text, attempt):
    """One matched event: the matched line is pushed first, then its consequence (same second)."""
    net = f"{ip}/32"
    _nf(g, t, "warn", f"{ip} matched rule id {rule} ({_sanitize(text)})")
    if attempt >= MAX_ATTEMPTS:
        _nf(g, t, "crit", f"Banning {net} for {BAN_TIME // 60} minutes",
            action=lambda: g.bans.append((t, net)))
        _nf(g, t + BAN_TIME + g.rng.uniform(0, 10), "info", f"Unbanning {net}")
        return True
    _nf(g, t, "warn", f"{MAX_ATTEMPTS - attempt} more attempts in the next {RETRY_WINDOW} seconds "
                      f"until {net} is banned")
    return False


def _rejected(g, t, flow, sender, rcpt, ip, direction="inbound"):
    m = new_truth(g, t, flow, key=g.new_key("noqueue"), message_id=None, sender=sender, recipients=[rcpt],
                  envelope_recipients=[rcpt], direction=direction, client_ip=ip, refused=True, complete=True,
                  subject="")
    m.outcomes[rcpt] = "rejected"
    return m


def _unknown_local(g):
    rng = g.rng
    dom = rng.choice(g.world.domains)
    return f"{rng.choice(('j.smith', 'sales', 'hr', 'jobs', 'billing', 'ceo', 'webmaster'))}@{dom}"


def noqueue_user_unknown(g, t):
    rng = g.rng
    if rng.random() < 0.5:
        partner, sender = _remote_sender(g)
        host, ip = partner.out_host, partner.out_ip
        helo = host
    else:
        sender, ip = _spam_sender(g)
        host, helo = "unknown", rng.choice(("User", "WINPC", "localhost"))
    rcpt = _unknown_local(g)
    m = _rejected(g, t, "noqueue_user_unknown", sender, rcpt, ip)
    tl = Timeline(g, t)
    _, tls = smtpd_in(g, tl, host, ip, first_action=lambda: g.register(m), tls_share=0.6)
    tl.wait(0.1, 0.6)
    tl.pf("postfix/smtpd", f"NOQUEUE: reject: RCPT from {host}[{ip}]: 550 5.1.1 <{rcpt}>: Recipient address "
                           f"rejected: User unknown in virtual mailbox table; from=<{sender}> to=<{rcpt}> "
                           f"proto=ESMTP helo=<{helo}>")
    tl.wait(0.05, 0.3)
    cmds = "ehlo=2 starttls=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=6/7" if tls else \
        "ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5"
    tl.pf("postfix/smtpd", f"disconnect from {host}[{ip}] {cmds}")


def noqueue_relay_denied(g, t):
    rng = g.rng
    _, ip = _spam_sender(g)
    sender = f"{rng.choice(('spoof', 'admin', 'info'))}@{rng.choice(g.world.domains)}"
    rcpt = f"{rng.choice(('victim', 'm.jones', 'lucky.winner'))}@{rng.choice(('gmail.com', 'outlook.com'))}"
    helo = "WIN-" + rand_str(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 11)
    m = _rejected(g, t, "noqueue_relay_denied", sender, rcpt, ip)
    tl = Timeline(g, t)
    smtpd_in(g, tl, "unknown", ip, first_action=lambda: g.register(m), tls_share=None)
    tl.wait(0.1, 0.8)
    tl.pf("postfix/smtpd", f"NOQUEUE: reject: RCPT from unknown[{ip}]: 454 4.7.1 <{rcpt}>: Relay access denied; "
                           f"from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{helo}>")
    tl.wait(0.05, 0.4)
    tl.pf("postfix/smtpd", f"disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")


def postscreen_dnsbl(g, t):
    rng = g.rng
    sender, ip = _spam_sender(g)
    rcpt = rng.choice(g.world.mailboxes).address
    m = _rejected(g, t, "postscreen_dnsbl", sender, rcpt, ip)
    m.subject = rng.choice(SPAM_SUBJECTS)
    tl = Timeline(g, t)
    port = rng.randint(20000, 65000)
    helo = rng.choice(("User", "bulk-example.biz", "ylmf-pc", "WINPC"))
    tl.pf("postfix/postscreen", f"CONNECT from [{ip}]:{port} to [{POSTFIX_IP}]:25", action=lambda: g.register(m))
    tl.wait(0.01, 0.1)
    tl.pf("postfix/dnsblog", f"addr {ip} listed by domain zen.spamhaus.org as 127.0.0.{rng.choice((2, 3, 4, 9))}")
    if rng.random() < 0.4:
        tl.wait(0.01, 0.1)
        tl.pf("postfix/postscreen", f"PREGREET 11 after 0.{rng.randint(5, 60):02d} from [{ip}]:{port}: EHLO {helo}\\r\\n")
    tl.wait(0.3, 1.5)
    tl.pf("postfix/postscreen", f"DNSBL rank {rng.randint(3, 8)} for [{ip}]:{port}")
    tl.wait(0.5, 3)
    tl.pf("postfix/postscreen", f"NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 Service unavailable; client "
                                f"[{ip}] blocked using zen.spamhaus.org; from=<{sender}>, to=<{rcpt}>, proto=ESMTP, "
                                f"helo=<{helo}>")
    tl.wait(0.05, 0.5)
    tl.pf("postfix/postscreen", f"DISCONNECT [{ip}]:{port}")


def _usernames(g):
    w = g.world
    d0, d1 = w.domains[0], w.domains[-1]
    rng = g.rng
    return rng.choice(BRUTE_USERNAMES).format(d0=d0, d1=d1, mb=rng.choice(w.mailboxes).address)


def sasl_bruteforce(g, t):
    rng = g.rng
    ip = _fresh_ip(g, g.world.brute_nets)
    attempts = MAX_ATTEMPTS if rng.random() < 0.75 else rng.randint(2, MAX_ATTEMPTS - 1)
    program = "postfix/smtps/smtpd" if rng.random() < 0.8 else "postfix/submission/smtpd"
    mech = "LOGIN" if rng.random() < 0.85 else "PLAIN"
    tl = Timeline(g, t)
    for n in range(1, attempts + 1):
        user = _usernames(g)
        tl.pf(program, f"connect from unknown[{ip}]")
        tl.wait(0.3, 2.5)
        text = f"warning: unknown[{ip}]: SASL {mech} authentication failed: (reason unavailable), sasl_username={user}"
        tl.pf(program, text, priority="warning",
              action=lambda t=tl.t, user=user: g.auth_failures.append((t, ip, user)))
        t_nf = tl.t + rng.uniform(0, 0.8)
        banned = _netfilter_hit(g, t_nf, ip, 3, text, n)
        tl.wait(0.1, 0.5)
        tl.pf(program, f"disconnect from unknown[{ip}] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/4")
        if banned:
            return
        tl.wait(3, 40)


def dovecot_auth_failure(g, t):
    rng = g.rng
    ip = _fresh_ip(g, g.world.brute_nets)
    tl = Timeline(g, t)
    for n in range(1, rng.randint(1, 4) + 1):
        user = _usernames(g)
        sess = rand_str(rng, B64 + "/", 16)
        text = (f"auth-worker({rng.randint(100, 999)}): lua({user},{ip},<{sess}>): Password mismatch "
                f"(SHA1 of given password: {rand_str(rng, '0123456789abcdef', 6)})")
        imap_login_failures(g, tl.t, ip, user, 1)      # Dovecot's own lines of the attempt
        _netfilter_hit(g, tl.t, ip, 6, text, n)
        tl.wait(2, 30)


def ui_auth_failure(g, t):
    rng = g.rng
    ip = _fresh_ip(g, g.world.spam_nets)
    tl = Timeline(g, t)
    who = rng.choice(("admin", "API_USER", "root"))
    for n in range(1, rng.randint(1, 3) + 1):
        _netfilter_hit(g, tl.t, ip, 1, f"mailcow UI: Invalid password for {who} by {ip}", n)
        tl.wait(5, 60)
