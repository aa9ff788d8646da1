"""Rspamd history rows as mailcow serves them (rspamd 4.x `history_redis`, re-encoded by PHP)."""
from __future__ import annotations

import time

from .catalog import SYMBOLS, THRESHOLDS

SPAM_ACTIONS = ("reject", "add header", "rewrite subject")


def num(x: float):
    """PHP re-encodes rspamd doubles: whole values print as ints, others with <= 6 decimals."""
    x = round(x, 6)
    return int(x) if x == int(x) else x


def _sym(name: str, score: float | None = None, options: list[str] | None = None) -> dict:
    metric, desc = SYMBOLS[name]
    d = {"name": name, "score": num(metric if score is None else score), "metric_score": num(metric)}
    if desc:
        d["description"] = desc
    if options:
        d["options"] = options
    return d


def _rcpt_count(n: int) -> tuple[str, list[str]]:
    name = "RCPT_COUNT_ONE" if n == 1 else "RCPT_COUNT_TWO" if n == 2 else "RCPT_COUNT_THREE"
    return name, [str(n)]


def rspamd_row(rng, t: float, *, kind: str, message_id: str | None, subject: str, size: int, ip: str,
               user: str | None, sender: str, sender_mime: str | None, rcpts: list[str],
               partner=None, greylist_pass: bool = False, tls: bool = True) -> dict:
    """One history row. kind: ham | auth | greylist | add_header | reject | virus."""
    syms: list[dict] = []
    sdomain = sender.rpartition("@")[2] if sender else ""
    rdomain = rcpts[0].rpartition("@")[2] if rcpts else ""
    cname, copt = _rcpt_count(len(rcpts))
    action, passthrough, target = "no action", None, None
    if kind == "auth":
        syms += [_sym("MAILCOW_AUTH"), _sym("DKIM_SIGNED", options=[f"{sdomain}:s=dkim"]), _sym("ARC_NA"),
                 _sym("MIME_GOOD", options=["multipart/alternative", "text/plain"]), _sym("FROM_HAS_DN"),
                 _sym(cname, options=copt)]
        if rng.random() < 0.3:
            syms.append(_sym("HAS_ATTACHMENT"))
    elif kind == "ham":
        bayes = -round(rng.uniform(0.8, 3), 6)
        syms += [_sym("BAYES_HAM", bayes, ["%.2f%%" % rng.uniform(97, 99.99)]),
                 _sym("DMARC_POLICY_ALLOW", options=[sdomain, "none"]),
                 _sym("R_DKIM_ALLOW", options=[f"{sdomain}:s=selector1"]),
                 _sym("R_SPF_ALLOW", options=[partner.spf if partner else "+mx"]),
                 _sym("MIME_GOOD", options=["multipart/alternative", "text/plain"]), _sym("ARC_NA"),
                 _sym("RCPT_MAILCOW_DOMAIN", options=[rdomain]), _sym(cname, options=copt), _sym("FROM_HAS_DN")]
        if partner is not None:
            syms.append(_sym("ASN", options=[partner.asn]))
            if partner.domain in ("gmail.com", "outlook.com"):
                syms.append(_sym("FREEMAIL_FROM", options=[partner.domain]))
        if tls:
            syms.append(_sym("RCVD_TLS_LAST"))
    elif kind == "greylist":
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t + 300))
        gl = ["pass"] if greylist_pass else ["greylisted", date, "new record"]
        syms += [_sym("GREYLIST", options=gl), _sym("BULK_HEADER", options=["List-Unsubscribe"]),
                 _sym("HAS_LIST_UNSUB"), _sym("DMARC_POLICY_ALLOW", options=[sdomain, "none"]),
                 _sym("RCPT_MAILCOW_DOMAIN", options=[rdomain]), _sym(cname, options=copt)]
        if sender_mime and sender_mime != sender:
            syms.append(_sym("FORGED_SENDER", options=[sender_mime, sender]))
        target = rng.uniform(7.05, 7.95)
        filler = "NEURAL_SPAM"
        if not greylist_pass:
            action, passthrough = "soft reject", "greylist"
    elif kind == "add_header":
        syms += [_sym("BAYES_SPAM", round(rng.uniform(2, 5.1), 6), ["%.2f%%" % rng.uniform(90, 99.9)]),
                 _sym("HFILTER_HOSTNAME_UNKNOWN"), _sym("R_SPF_SOFTFAIL", options=["~all"]),
                 _sym("MIME_HTML_ONLY"), _sym("DMARC_NA", options=[sdomain]),
                 _sym("RCPT_MAILCOW_DOMAIN", options=[rdomain]), _sym(cname, options=copt)]
        target, filler, action = rng.uniform(8.2, 14.5), "NEURAL_SPAM", "add header"
    elif kind in ("reject", "virus"):
        syms += [_sym("BAYES_SPAM", 5.1, ["99.98%"]), _sym("RBL_SPAMHAUS_SBL", options=[f"{ip}:from"]),
                 _sym("HFILTER_HOSTNAME_UNKNOWN"), _sym("R_SPF_FAIL", options=["-all"]),
                 _sym("MIME_HTML_ONLY"), _sym("DMARC_NA", options=[sdomain]),
                 _sym("RCPT_MAILCOW_DOMAIN", options=[rdomain])]
        if message_id is None:
            syms.append(_sym("MISSING_MID"))
        if kind == "virus":
            syms.append(_sym("CLAM_VIRUS", options=["Win.Trojan.Agent-1234567"]))
            syms.append({"name": "VIRUS_FOUND", "score": 0, "metric_score": 0})
        else:
            target, filler = rng.uniform(15.5, 28), "URIBL_BLACK"
        action = "reject"
    total = sum(s["score"] for s in syms)
    if target is not None:
        extra = max(0.1, target - total)
        syms.append(_sym(filler, round(extra, 6)))
        total += extra
    row = {
        "unix_time": int(t),
        "message-id": message_id.strip("<>") if message_id else "undef",
        "subject": subject or "unknown",
        "score": num(total),
        "required_score": 15,
        "action": action,
        "thresholds": dict(THRESHOLDS),
        "is_skipped": False,
        "time_real": round(rng.uniform(0.05, 1.3), 6),
        "size": size,
        "ip": ip or "unknown",
        "user": user or "unknown",
        "sender_smtp": sender,
        "sender_mime": sender_mime if sender_mime is not None else (sender or "unknown"),
        "rcpt_smtp": list(rcpts),
        "rcpt_mime": [] if kind in ("reject", "virus") and rng.random() < 0.5 else list(rcpts),
        "symbols": {s["name"]: s for s in syms},
    }
    if passthrough:
        row["passthrough_module"] = passthrough
    return row
