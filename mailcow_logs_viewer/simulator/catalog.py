"""The simulated mailcow's world: local domains, mailboxes, aliases, remote partners,
hostile IPs, and the mailcow objects (domain/mailbox/alias/status) the API serves.

Everything here is static data or pure functions of it; randomness lives in the generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MYHOSTNAME = "mail.example.org"
POSTFIX_IP = "172.22.1.253"
LMTP_RELAY = "dovecot[172.22.1.250]:24"
SOGO_IP = "172.22.1.248"

TLS_IN = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
          "server-signature RSA-PSS (2048 bits) server-digest SHA256")
TLS_OUT = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
           "server-signature ECDSA (P-256) server-digest SHA256")

THRESHOLDS = {"reject": 15, "add header": 8, "greylist": 7}


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str
    client_ip: str          # where the user usually submits from
    client_name: str = "unknown"


@dataclass(frozen=True)
class Partner:
    """A remote domain we exchange mail with."""
    domain: str
    senders: tuple[str, ...]        # local parts that write to us
    out_host: str                   # the host that connects to us
    out_ip: str
    mx_host: str                    # its MX, where we deliver
    mx_ip: str
    msgid: str                      # message-id style: gmail, outlook, uuid, stamp
    accept_reply: str               # how its MX answers a successful DATA
    unreachable: bool = False       # MX never answers: deferrals, expiry
    spf: str = "+ip4:0.0.0.0/0"
    asn: str = "asn:64500, ipnet:0.0.0.0/0, country:US"


@dataclass
class World:
    domains: tuple[str, ...]
    alias_domains: dict[str, str]              # alias domain -> target domain
    mailboxes: list[Mailbox]
    aliases: dict[str, tuple[str, ...]]        # alias address -> goto addresses
    partners: list[Partner]
    spam_nets: tuple[str, ...] = ("185.234.216", "80.94.95", "193.32.162", "141.98.11", "45.148.10")
    brute_nets: tuple[str, ...] = ("185.222.58", "91.92.251", "194.169.175", "5.188.206", "87.120.84")
    mailbox_index: dict[str, Mailbox] = field(default_factory=dict)
    partner_index: dict[str, Partner] = field(default_factory=dict)
    local_domains: frozenset = frozenset()

    def __post_init__(self):
        self.mailbox_index = {m.address: m for m in self.mailboxes}
        self.partner_index = {p.domain: p for p in self.partners}
        self.local_domains = frozenset(self.domains) | frozenset(self.alias_domains)

    def is_local_domain(self, domain: str) -> bool:
        return domain in self.local_domains

    def resolve(self, rcpt: str) -> list[str]:
        """Virtual alias expansion as cleanup does it: final mailbox addresses."""
        if rcpt in self.aliases:
            return list(self.aliases[rcpt])
        local, _, domain = rcpt.partition("@")
        if domain in self.alias_domains:
            return self.resolve(f"{local}@{self.alias_domains[domain]}")
        return [rcpt]


_NAMES = [("john", "John Doe"), ("jane", "Jane Miller"), ("mark", "Mark Weber"),
          ("lisa", "Lisa Novak"), ("anna", "Anna Schmidt"), ("tom", "Tom Becker"),
          ("office", "Office"), ("peter", "Peter Lind")]


def build_world(domains=("example.org", "example.net"), alias_domains=("example.com",)) -> World:
    domains = tuple(domains) or ("example.org",)
    mailboxes = []
    for i, (local, name) in enumerate(_NAMES):
        dom = domains[0] if i < 4 or len(domains) == 1 else domains[1 + (i % (len(domains) - 1))]
        ip = f"198.51.100.{70 + i * 3}" if i % 3 else f"203.0.113.{150 + i}"
        mailboxes.append(Mailbox(f"{local}@{dom}", name, ip))
    d0 = domains[0]
    d1 = domains[1] if len(domains) > 1 else domains[0]
    aliases = {
        f"info@{d0}": (f"john@{d0}", f"jane@{d0}"),
        f"support@{d0}": (f"mark@{d0}",),
        f"postmaster@{d1}": (mailboxes[4].address,),
        f"hello@{d1}": (mailboxes[5].address,),
    }
    alias_map = {a: d0 for a in alias_domains}
    return World(domains, alias_map, mailboxes, aliases, list(PARTNERS))


PARTNERS = (
    Partner("gmail.com", ("alice", "bob.k", "m.rossi", "chen.wei"), "mail-wr1-f47.google.com", "209.85.221.47",
            "gmail-smtp-in.l.google.com", "142.250.102.27", "gmail",
            "250 2.0.0 OK  {stamp} {token} - gsmtp", spf="+ip4:209.85.128.0/17",
            asn="asn:15169, ipnet:209.85.128.0/17, country:US"),
    Partner("outlook.com", ("sarah.j", "d.meyer"), "mail-am6eur05olkn2011.outbound.protection.outlook.com",
            "40.92.58.11", "outlook-com.olc.protection.outlook.com", "52.101.68.1", "outlook",
            "250 2.6.0 <{msgid}> [InternalId={num}, Hostname={host}] {size} bytes in 0.112, 1.1 KB/sec Queued mail for delivery",
            spf="+ip4:40.92.0.0/15", asn="asn:8075, ipnet:40.92.0.0/15, country:US"),
    Partner("partner-example.com", ("orders", "k.fischer", "accounting"), "mx.partner-example.com", "203.0.113.25",
            "mx.partner-example.com", "203.0.113.25", "uuid", "250 2.0.0 Ok: queued as {remote_qid}",
            spf="+ip4:203.0.113.25", asn="asn:64501, ipnet:203.0.113.0/24, country:DE"),
    Partner("corp-example.com", ("b.user", "helpdesk", "m.jansen"), "smtp.corp-example.com", "198.51.100.20",
            "mx1.corp-example.com", "198.51.100.21", "stamp", "250 2.0.0 Ok: queued as {remote_qid}",
            spf="+ip4:198.51.100.20", asn="asn:64502, ipnet:198.51.100.0/24, country:NL"),
    Partner("newsletter-example.com", ("news", "deals"), "mx.newsletter-example.com", "198.51.100.61",
            "mx.newsletter-example.com", "198.51.100.61", "ses", "250 Ok {remote_qid}",
            spf="+ip4:198.51.100.61", asn="asn:16509, ipnet:198.51.100.0/24, country:US"),
    Partner("shop-example.net", ("noreply", "support"), "mail.shop-example.net", "192.0.2.33",
            "mx1.shop-example.net", "192.0.2.34", "stamp", "250 2.0.0 Ok: queued as {remote_qid}",
            spf="+ip4:192.0.2.33", asn="asn:64503, ipnet:192.0.2.0/24, country:FR"),
    Partner("unreachable-example.net", ("bob",), "mx.unreachable-example.net", "203.0.113.80",
            "mx.unreachable-example.net", "203.0.113.80", "uuid", "250 2.0.0 Ok", unreachable=True),
)

SPAM_SENDER_DOMAINS = ("invoices-example.top", "shady-deals.example", "bulk-example.biz",
                       "prize-draw.example", "pharma-example.click", "crypto-gains.example")
SPAM_LOCALS = ("billing", "promo", "winner", "support", "admin", "info", "noreply")
BRUTE_USERNAMES = ("admin@{d0}", "info@{d0}", "test@{d0}", "postmaster@{d1}", "{mb}", "{mb}", "sales@{d0}")

HAM_SUBJECTS = (
    "Lunch on Friday?", "Q3 numbers", "Re: Project timeline", "Invoice 2026-0412", "Meeting notes",
    "Your order has shipped", "Re: Re: contract draft", "Weekly report", "Holiday schedule",
    "Fwd: travel plans", "Welcome to the team", "Quote request", "Updated price list",
    "Re: Server maintenance window", "Photos from the weekend", "Payment received - thank you",
    "Newsletter: April highlights", "Your password was changed", "Reminder: dentist appointment",
    "Café tomorrow? ☕",
)
SPAM_SUBJECTS = (
    "Your invoice #88213 is overdue", "You have WON a $1,000 gift card", "URGENT: account suspended",
    "Cheap meds online - 80% off", "Re: your payment", "Crypto profits guaranteed!!!",
    "Scan_0042.pdf", "Document shared with you", "Last chance: 40% off everything",
)

# rspamd symbol catalogue: name -> (metric_score, description or None)
SYMBOLS = {
    "BAYES_HAM": (-3, "Message probably ham, probability: "),
    "BAYES_SPAM": (5.1, "Message probably spam, probability: "),
    "ARC_ALLOW": (-1, "ARC checks success"),
    "ARC_NA": (0, "ARC signature absent"),
    "DMARC_POLICY_ALLOW": (-0.5, "DMARC permit policy"),
    "DMARC_NA": (0, "No DMARC record"),
    "R_DKIM_ALLOW": (-0.2, "DKIM verification succeed"),
    "R_DKIM_NA": (0, "Missing DKIM signature"),
    "DKIM_SIGNED": (0, "Message has been signed"),
    "R_SPF_ALLOW": (-0.2, "SPF verification allows sending"),
    "R_SPF_FAIL": (1, "SPF verification failed"),
    "R_SPF_SOFTFAIL": (0, "SPF verification soft-failed"),
    "MIME_GOOD": (-0.1, "Known content-type"),
    "MIME_HTML_ONLY": (0.2, "Messages that have only HTML part"),
    "FREEMAIL_FROM": (0, "From is a Freemail address"),
    "RCPT_MAILCOW_DOMAIN": (0, None),
    "MAILCOW_AUTH": (0, None),
    "ASN": (0, None),
    "RCVD_TLS_LAST": (0, "All hops used encrypted transports"),
    "RCVD_COUNT_ONE": (0, "Message has one Received header"),
    "FROM_HAS_DN": (0, "From header has a display name"),
    "TO_DN_NONE": (0, "None of the recipients have display names"),
    "TO_MATCH_ENVRCPT_ALL": (0, "All of the recipients match the envelope"),
    "RCPT_COUNT_ONE": (0, "One recipient"),
    "RCPT_COUNT_TWO": (0, "Two recipients"),
    "RCPT_COUNT_THREE": (0, "3-5 recipients"),
    "HAS_ATTACHMENT": (0, "Message contains attachments"),
    "HAS_LIST_UNSUB": (-0.01, "Has List-Unsubscribe header"),
    "BULK_HEADER": (4, None),
    "NEURAL_SPAM": (3, None),
    "NEURAL_HAM": (-3, None),
    "GREYLIST": (0, "Greylisting result"),
    "FORGED_SENDER": (0.3, "Sender is forged (different From: header and smtp MAIL FROM: addresses)"),
    "RBL_SPAMHAUS_SBL": (4, "From address is listed in ZEN SBL"),
    "RBL_MAILSPIKE_BAD": (1, "From address is listed in Mailspike RBL - bad reputation"),
    "HFILTER_HOSTNAME_UNKNOWN": (2.5, "Unknown client hostname (PTR or FCrDNS verification failed)"),
    "MISSING_MID": (2.5, "Message-ID header is missing"),
    "MISSING_TO": (2, "To header is missing"),
    "SUBJECT_HAS_CURRENCY": (1, None),
    "SUBJ_ALL_CAPS": (3, "Subject contains mostly capital letters"),
    "FUZZY_DENIED": (12, "Denied fuzzy hash"),
    "PHISHING": (4.5, "Phished URL"),
    "URIBL_BLACK": (7.5, "A domain in the message is listed in URIBL.com black"),
    "CLAM_VIRUS": (2000, None),
    "MID_RHS_MATCH_FROM": (0, "Message-ID RHS matches From domain"),
}
