"""mailcow's configuration objects (domains, mailboxes, aliases, alias domains, status),
shaped like PHP 8.2 + mysqlnd emits them (spec/mailcow-api.md sections 5 and 6)."""
from __future__ import annotations

import time

from .catalog import World

GiB = 1024 ** 3
VERSION = "2026-03b"


def _dt(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def domains(world: World, now: float) -> list[dict]:
    out = []
    for i, d in enumerate(sorted(world.domains)):
        boxes = [m for m in world.mailboxes if m.address.endswith("@" + d)]
        aliases = [a for a in world.aliases if a.endswith("@" + d)]
        row = {
            "max_new_mailbox_quota": 10 * GiB - len(boxes) * 3 * GiB if len(boxes) < 3 else 4 * GiB,
            "def_new_mailbox_quota": 3 * GiB,
            "quota_used_in_domain": str(len(boxes) * 3 * GiB),
            "bytes_total": str(1873420991 // (i + 1)) if boxes else 0,
            "msgs_total": str(24117 // (i + 1)) if boxes else 0,
            "mboxes_in_domain": len(boxes), "mboxes_left": 10 - len(boxes),
            "domain_name": d, "domain_h_name": d,
            "description": "Main company domain" if i == 0 else None,
            "max_num_aliases_for_domain": 400, "max_num_mboxes_for_domain": 10,
            "def_quota_for_mbox": 3 * GiB, "max_quota_for_mbox": 10 * GiB, "max_quota_for_domain": 30 * GiB,
            "relayhost": "0", "backupmx": 0, "backupmx_int": 0, "gal": 1, "gal_int": 1, "rl": False,
            "active": 1, "active_int": 1, "relay_all_recipients": 0, "relay_all_recipients_int": 0,
            "relay_unknown_only": 0, "relay_unknown_only_int": 0,
            "created": "2025-11-02 14:21:07", "modified": _dt(now - 86400 * 20) if i == 0 else None,
            "aliases_in_domain": len(aliases), "aliases_left": 400 - len(aliases), "domain_admins": "-",
        }
        if i == 0:
            row["tags"] = ["prod"]
        out.append(row)
    return out


def mailboxes(world: World, now: float, only_domains: set[str] | None = None) -> list[dict]:
    out = []
    for i, m in enumerate(world.mailboxes):
        local, _, dom = m.address.partition("@")
        if only_domains and dom not in only_domains:
            continue
        quota = 0 if local == "office" else 3 * GiB
        used = (i * 397 + 113) * 1024 * 1024
        pct = round(used * 100 / quota) if quota else "- "
        out.append({
            "username": m.address, "active": 1, "active_int": 1, "domain": dom, "name": m.name,
            "local_part": local, "quota": quota, "messages": 1200 + i * 731,
            "attributes": {"force_pw_update": "0", "force_tfa": "0", "tls_enforce_in": "0", "tls_enforce_out": "0",
                           "sogo_access": "1", "imap_access": "1", "pop3_access": "0", "smtp_access": "1",
                           "sieve_access": "1", "eas_access": "1", "dav_access": "1", "relayhost": "0",
                           "passwd_update": "2026-03-01 10:44:12" if i % 2 else 1762093540,
                           "mailbox_format": "maildir:", "quarantine_notification": "hourly",
                           "quarantine_category": "reject", "attribute_hash": ""},
            "custom_attributes": [], "quota_used": used, "percent_in_use": pct,
            "created": "2025-11-02 14:25:40", "modified": "2026-03-01 10:44:12" if i % 2 else None,
            "authsource": "mailcow",
            "percent_class": "info" if not quota else "danger" if pct >= 90 else "warning" if pct >= 75 else "success",
            "last_imap_login": int(now) - 600 * (i + 1), "last_smtp_login": int(now) - 3600 * (i + 1),
            "last_pop3_login": 0, "last_sso_login": 0, "max_new_quota": 7 * GiB, "spam_aliases": 0,
            "pushover_active": 0, "rl": False, "rl_scope": "domain", "is_relayed": 0, "sender_acl": [],
        })
    return out


def aliases(world: World) -> list[dict]:
    out = []
    for i, (addr, goto) in enumerate(sorted(world.aliases.items()), start=7):
        out.append({"in_primary_domain": "", "id": i, "domain": addr.partition("@")[2], "public_comment": None,
                    "private_comment": None, "goto": ",".join(goto), "address": addr, "is_catch_all": 0,
                    "internal": 0, "active": 1, "active_int": 1, "sogo_visible": 1, "sogo_visible_int": 1,
                    "sender_allowed": 1, "created": "2025-11-02 14:30:01", "modified": None})
    return out


def alias_domains(world: World) -> list[dict]:
    return [{"alias_domain": a, "target_domain": t, "active": 1, "active_int": 1, "rl": False,
             "created": "2025-11-03 09:12:44", "modified": None} for a, t in sorted(world.alias_domains.items())]


_SERVICES = [
    ("unbound", "ghcr.io/mailcow/unbound:1.24"), ("mysql", "mariadb:10.11"), ("redis", "redis:7.4.6-alpine"),
    ("clamd", "ghcr.io/mailcow/clamd:1.71"), ("rspamd", "ghcr.io/mailcow/rspamd:4.1.4-1"),
    ("php-fpm", "ghcr.io/mailcow/phpfpm:8.2.29-1"), ("sogo", "ghcr.io/mailcow/sogo:5.12.4-1"),
    ("dovecot", "ghcr.io/mailcow/dovecot:2.3.21.1-2"), ("postfix", "ghcr.io/mailcow/postfix:3.10.12-1"),
    ("postfix-tlspol", "ghcr.io/mailcow/postfix-tlspol:1.8.22"), ("memcached", "memcached:alpine"),
    ("nginx", "ghcr.io/mailcow/nginx:1.03"), ("acme", "ghcr.io/mailcow/acme:1.94"),
    ("netfilter", "ghcr.io/mailcow/netfilter:1.63"), ("watchdog", "ghcr.io/mailcow/watchdog:2.09"),
    ("dockerapi", "ghcr.io/mailcow/dockerapi:2.11"), ("olefy", "ghcr.io/mailcow/olefy:1.15"),
    ("ofelia", "mcuadros/ofelia:latest"),
]


def containers(started: float, stopped: str = "olefy") -> dict:
    out = {}
    for i, (svc, image) in enumerate(_SERVICES):
        name = f"{svc}-mailcow"
        frac = ("%09d" % (481537201 + i * 7919)).rstrip("0")
        out[name] = {"type": "info", "container": name, "state": "exited" if svc == stopped else "running",
                     "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started - 60 * i)) + f".{frac}Z",
                     "image": image}
    return out


def vmail() -> dict:
    return {"type": "info", "disk": "/dev/mapper/vg0-root", "used": "58G", "total": "212G", "used_percent": "28%"}
