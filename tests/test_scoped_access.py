"""What a mailbox user and a domain admin can see: every route of the app's URL map and every
API parameter, walked over real HTTP with sessions made by signing in with the simulated
mailcow, find no foreign address in any answer, CSV or page; others' messages answer 404; a
user's view of a multi-recipient message shows only their own outcome; searches are limited.

"Foreign" is decided here from the stored mail, by the issue's rule and independently of the
code under test: a caller may see the messages they (or their domain) sent or received, on a
message they sent every recipient, on one they received only their own recipients.
"""
from __future__ import annotations

import re

import pytest

from mailcow_logs_viewer.api.openapi import ENDPOINTS
from mailcow_logs_viewer.api.params import Text
from mailcow_logs_viewer.models import Message, Recipient, RspamdRow

from mailcow_sign_in import DOMAIN_ADMIN, sign_in, signed_in_world

USER = "john@example.org"
USER_ADDRESSES = {"john@example.org", "info@example.org"}    # info@ delivers to john and jane
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
IGNORED_METHODS = {"HEAD", "OPTIONS"}

# What neither role may open (the API answers 403, a page 404).
ADMIN_ONLY_API = ("/api/logs/", "/api/stats/", "/api/security/", "/api/queue", "/api/status/containers",
                  "/api/status/storage", "/api/status/mailcow-info", "/api/status/summary", "/api/settings/",
                  "/api/alerts", "/api/audit", "/api/export/postfix", "/api/export/rspamd", "/api/export/netfilter",
                  "/api/export/dovecot", "/metrics")
ADMIN_ONLY_PAGES = ("/logs/", "/security", "/status", "/settings", "/alerts", "/audit")
MAILBOX_DENIED = ("/api/insights/", "/api/quarantine", "/insights", "/queue")


class Caller:
    """The test's own idea of a caller: whose addresses are theirs."""

    def __init__(self, name, addresses=(), domains=()):
        self.name, self.addresses, self.domains = name, set(addresses), set(domains)

    def owns(self, address):
        address = (address or "").lower()
        return bool(address) and (address in self.addresses or address.rpartition("@")[2] in self.domains)


MAILBOX = Caller(USER, USER_ADDRESSES)
DOMAIN = Caller(DOMAIN_ADMIN, domains={"example.net"})


def ground_truth(caller):
    """(keys of the caller's messages, keys of the others, addresses they may see, all addresses)."""
    recipients = {}
    for r in Recipient.select():
        recipients.setdefault(r.message_ref, []).append(r)
    mime = {row.message_ref: row.sender_mime for row in RspamdRow.select().where(RspamdRow.message_ref.is_null(False))}
    mine, others, allowed, every = set(), set(), set(caller.addresses), set()
    for m in Message.select():
        rows = recipients.get(m.id, [])
        addresses = {a.lower() for a in [m.sender, m.user, *(r.recipient for r in rows), *(r.orig_to for r in rows)] if a}
        every |= addresses
        sent = caller.owns(m.sender)
        if not (sent or any(caller.owns(r.recipient) or caller.owns(r.orig_to) for r in rows)):
            others.add(m.correlation_key)
            continue
        mine.add(m.correlation_key)
        allowed |= {a.lower() for a in (m.sender, m.user, mime.get(m.id)) if a}
        for r in rows:
            if sent or caller.owns(r.recipient) or (caller.domains and caller.owns(r.orig_to)):
                allowed |= {a.lower() for a in (r.recipient, r.orig_to) if a}
                allowed |= {a.strip().lower() for a in (r.redirected_to or "").split(",") if a.strip()}
    every |= {a for a in every}
    return mine, others, allowed, every - allowed - {a for a in every if caller.owns(a)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with signed_in_world(tmp_path_factory.mktemp("scoped") / "data") as (app, url, sim):
        limiter = app.extensions["auth"].searches
        limiter.limit = 10 ** 6         # the walk searches far more than a person; the limit has its own test
        yield app, url, {"mailbox": (MAILBOX, sign_in(url, USER)), "domain_admin": (DOMAIN, sign_in(url, DOMAIN_ADMIN))}
        limiter.limit = 30


def _foreign_in(text, foreign):
    return sorted({a.lower() for a in ADDRESS.findall(text)} & foreign)


def _value(name, field, caller_foreign_address, foreign_domain):
    if name == "domain":
        return foreign_domain
    if isinstance(field, Text):
        return caller_foreign_address
    return None


def _routes(app):
    for rule in app.url_map.iter_rules():
        methods = rule.methods - IGNORED_METHODS
        if "GET" in methods and rule.endpoint != "static":
            yield rule


def _paths(rule, keys, queue_ids):
    if "<correlation_key>" in rule.rule:
        return [rule.rule.replace("<correlation_key>", k) for k in keys]
    if "<queue_id>" in rule.rule:
        return [rule.rule.replace("<queue_id>", q) for q in queue_ids]
    if "<source>" in rule.rule:
        return [rule.rule.replace("<source>", s) for s in ("postfix", "rspamd", "netfilter", "dovecot")]
    return [re.sub(r"<[^>]+>", "x", rule.rule)]


@pytest.mark.parametrize("role", ["mailbox", "domain_admin"])
def test_every_route_and_parameter_shows_no_foreign_address(world, role):
    app, url, callers = world
    caller, session = callers[role]
    mine, others, allowed, foreign = ground_truth(caller)
    assert len(mine) >= 10 and len(others) >= 10 and len(foreign) >= 5, (len(mine), len(others), len(foreign))
    probe = sorted(foreign)[0]
    foreign_domain = "example.org" if role == "domain_admin" else "example.net"
    queue_ids = [m.queue_id for m in Message.select().where(Message.correlation_key.in_(sorted(others)[:5]))
                 if m.queue_id]
    keys = sorted(mine) + sorted(others)[:60]
    # The detector finds what the admin is shown (so finding nothing below means something).
    from mailcow_sign_in import ADMIN_PASSWORD, ADMIN_USER
    import requests
    as_admin = requests.get(f"{url}/api/export/messages/csv", auth=(ADMIN_USER, ADMIN_PASSWORD)).text
    assert len(_foreign_in(as_admin, foreign)) >= 5
    checked = 0
    for rule in _routes(app):
        info = ENDPOINTS.get(rule.endpoint)
        variants = [{}]
        if info is not None and info.params is not None:
            schema = info.params()
            variants += [{name: value} for name, field in schema.fields.items()
                         if (value := _value(field.data_key or name, field, probe, foreign_domain)) is not None]
            variants.append({"search": f"from:{probe}"})
        for path in _paths(rule, keys, queue_ids):
            for params in variants:
                answer = session.get(url + path, params=params, allow_redirects=False)
                checked += 1
                assert answer.status_code < 500, (path, params, answer.status_code)
                leaked = _foreign_in(answer.text, foreign)
                assert not leaked, (role, path, params, leaked[:5])
                if path.startswith(ADMIN_ONLY_API) or (role == "mailbox" and path.startswith(MAILBOX_DENIED[:2])):
                    assert answer.status_code == 403, (path, answer.status_code)
                elif path.startswith(ADMIN_ONLY_PAGES) or (role == "mailbox" and path in MAILBOX_DENIED[2:]):
                    assert answer.status_code == 404, (path, answer.status_code)
                elif rule.endpoint == "messages.message_details":
                    key = path.split("/")[3]
                    assert answer.status_code == (200 if key in mine else 404), (path, answer.status_code)
    assert checked > 300


@pytest.mark.parametrize("role", ["mailbox", "domain_admin"])
def test_the_list_and_the_csv_are_exactly_the_callers_messages(world, role):
    _, url, callers = world
    caller, session = callers[role]
    mine, _, _, _ = ground_truth(caller)
    listed, page = set(), 1
    while True:
        body = session.get(f"{url}/api/messages", params={"limit": 500, "page": page}).json()
        listed |= {m["correlation_key"] for m in body["data"]}
        if page >= body["pages"]:
            break
        page += 1
    assert listed == mine
    csv = session.get(f"{url}/api/export/messages/csv")
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == len(mine) + 1


def test_a_mailbox_user_sees_only_their_own_outcome(world):
    _, url, callers = world
    _, session = callers["mailbox"]
    shared = [m for m in Message.select().where(Message.recipient_count >= 2)
              if not MAILBOX.owns(m.sender)
              and {r.recipient.lower() for r in Recipient.select().where(Recipient.message_ref == m.id)} & USER_ADDRESSES]
    assert shared, "the simulated hours hold no message to john and someone else"
    for m in shared[:10]:
        body = session.get(f"{url}/api/message/{m.correlation_key}/details").json()
        assert body["recipients"] == [USER] and body["recipient"] == USER
        assert body["recipient_count"] == m.recipient_count >= 2
        assert [o["recipient"] for o in body["outcomes"]] == [USER]
        assert {line["recipient"] for line in body["postfix"]} <= {USER, None}
        assert set(body["postfix_by_recipient"]) <= {USER, "_system"}
        if body["rspamd"]:
            assert set(body["rspamd"]["recipients_smtp"]) <= {USER, *USER_ADDRESSES}
        listed = session.get(f"{url}/api/messages", params={"search": f"msgid:{m.message_id}"}).json()["data"]
        item = next(i for i in listed if i["correlation_key"] == m.correlation_key)
        assert [o["recipient"] for o in item["outcomes"]] == [USER] and item["recipients"] == [USER]


def _keys(session, url, **params):
    return {m["correlation_key"] for m in session.get(f"{url}/api/messages", params={"limit": 500, **params}).json()["data"]}


def test_a_search_does_not_tell_who_else_received_the_mail(world):
    _, url, callers = world
    _, session = callers["mailbox"]
    shared = {}
    for m in Message.select().where(Message.recipient_count >= 2):
        if MAILBOX.owns(m.sender):
            continue
        others = {r.recipient.lower() for r in Recipient.select().where(Recipient.message_ref == m.id)}
        if others & USER_ADDRESSES:
            for other in others - USER_ADDRESSES:
                shared.setdefault(other, set()).add(m.correlation_key)
    other, keys = max(shared.items(), key=lambda item: len(item[1]))
    for params in ({"search": f"to:{other}"}, {"recipient": other}, {"search": other.split("@")[0]},
                   {"search": f"to:{other.split('@')[0]}"}, {"mailbox": other}):
        found = _keys(session, url, **params) & keys
        assert not found, (params, len(found))
    # their own address still finds them
    assert keys <= _keys(session, url, search=f"to:{USER}") | _keys(session, url, search="to:info@example.org")
    assert keys <= _keys(session, url, recipient=USER) | _keys(session, url, recipient="info@example.org")


def test_a_mailbox_users_searches_are_rate_limited(world):
    app, url, _ = world
    session = sign_in(url, "lisa@example.org")
    limiter = app.extensions["auth"].searches
    limiter.limit = 30
    try:
        for _ in range(30):
            assert session.get(f"{url}/api/messages", params={"search": "invoice"}).status_code == 200
        refused = session.get(f"{url}/api/messages", params={"search": "invoice"})
        assert refused.status_code == 429 and "at most 30 a minute" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1
        # another user is not held up by lisa's searches
        assert sign_in(url, "mark@example.org").get(f"{url}/api/messages").status_code == 200
    finally:
        limiter.limit = 10 ** 6


def test_exports_are_in_the_admins_audit_log(world):
    app, url, callers = world
    _, session = callers["mailbox"]
    assert session.get(f"{url}/api/export/messages/csv", params={"status": "delivered"}).status_code == 200
    assert session.get(f"{url}/api/audit").status_code == 403
    app.extensions["runtime"].audit.flush()      # the writer's job: stored, and still listed
    from mailcow_sign_in import ADMIN_PASSWORD, ADMIN_USER
    import requests
    rows = requests.get(f"{url}/api/audit", params={"event": "export"}, auth=(ADMIN_USER, ADMIN_PASSWORD)).json()["data"]
    assert any(r["username"] == USER and r["role"] == "mailbox" and r["detail"] == "messages CSV (status=delivered)"
               for r in rows)


def test_the_nav_shows_only_what_the_role_may_open(world):
    _, url, callers = world
    page = callers["mailbox"][1].get(f"{url}/messages").text
    navs = set(re.findall(r'data-nav="([a-z-]+)"', page.split('<nav class="nav"')[1].split("</nav>")[0]))
    assert navs == {"messages"}
    page = callers["domain_admin"][1].get(f"{url}/messages").text
    navs = set(re.findall(r'data-nav="([a-z-]+)"', page.split('<nav class="nav"')[1].split("</nav>")[0]))
    assert navs == {"messages", "insights", "queue"}
    assert callers["mailbox"][1].get(f"{url}/", allow_redirects=False).headers["Location"].endswith("/messages")


