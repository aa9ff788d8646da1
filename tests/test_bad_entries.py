"""One bad entry from mailcow must not block its source (issue 17, findings 2 and 3).

Each case puts one hostile or broken entry between good ones on the simulated mailcow, served
over real HTTP, and checks that every good entry is stored, the bad one is kept raw and
counted, and that fetching again stores nothing twice.
"""
from __future__ import annotations

import json
import time

import pytest

from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.ingest import Ingestor
from mailcow_logs_viewer.mailcow import MailcowClient
from mailcow_logs_viewer.models import ImportState, NetfilterLine, PostfixLine, RspamdRow

NOW = int(time.time()) - 600
BIG = str(2**64)
TABLES = {"postfix": PostfixLine, "netfilter": NetfilterLine, "rspamd": RspamdRow}


def _postfix(message: str, when=None, program: str = "postfix/qmgr") -> dict:
    return {"time": str(NOW) if when is None else when, "priority": "info", "program": program, "message": message}


def _netfilter(message: str, when=None) -> dict:
    return {"time": NOW if when is None else when, "priority": "warn", "message": message}


def _rspamd(message_id: str, **fields) -> dict:
    return dict({"unix_time": NOW, "message-id": message_id, "subject": "s", "score": 1.5, "required_score": 15,
                 "action": "no action", "symbols": {}, "size": 1200, "ip": "198.51.100.7", "user": "unknown",
                 "sender_smtp": "a@example.net", "sender_mime": "a@example.net", "rcpt_smtp": ["b@example.org"],
                 "rcpt_mime": ["b@example.org"], "time_real": 0.2}, **fields)


def _good(source: str, n: int) -> list[dict]:
    if source == "postfix":
        return [_postfix(f"ABCDEF{i:05X}: removed") for i in range(n)]
    if source == "netfilter":
        return [_netfilter(f"Unbanning 192.0.2.{i}/32") for i in range(n)]
    return [_rspamd(f"good{i}@example.net") for i in range(n)]


def _raw(entry: dict, replace: tuple[bytes, bytes] | None = None) -> bytes:
    text = json.dumps(entry).encode()
    return text.replace(*replace) if replace else text


DEEP = b"[" * 100_000 + b"]" * 100_000

# (source, case name, the bad entry: a dict served as JSON, or bytes served as they are)
CASES = [
    ("postfix", "time above 2^63 as digits", _postfix("ABC: removed", when=BIG)),
    ("postfix", "time above 2^63 as a number", _raw(_postfix("ABC: removed"), (f'"{NOW}"'.encode(), BIG.encode()))),
    ("postfix", "time 1e300", _raw(_postfix("ABC: removed"), (f'"{NOW}"'.encode(), b"1e300"))),
    ("postfix", "time in Unicode digits", _postfix("ABC: removed", when="\u00b2")),
    ("postfix", "size above 2^63", _postfix(f"1A2B3C4D5E: from=<a@example.net>, size={BIG}, nrcpt=1 (queue active)")),
    ("postfix", "nrcpt above 2^63", _postfix(f"1A2B3C4D5F: from=<a@example.net>, size=100, nrcpt={BIG} (queue active)")),
    ("postfix", "lone surrogate", _raw(_postfix("ABC: removed XX"), (b"XX", b"\\ud800"))),
    ("postfix", "invalid UTF-8", _raw(_postfix("ABC: removed XX"), (b"XX", b"\xff\xfe"))),
    ("postfix", "JSON nested 100k deep", DEEP),
    ("netfilter", "rule id above 2^63", _netfilter(f"192.0.2.99 matched rule id {BIG} (warning: unknown[192.0.2.99])")),
    ("netfilter", "attempts above 2^63", _netfilter(f"{BIG} more attempts in the next 600 seconds until 192.0.2.99/32 is banned")),
    ("netfilter", "ban minutes above 2^63", _netfilter(f"Banning 192.0.2.99/32 for {BIG} minutes")),
    ("netfilter", "time above 2^63", _raw(_netfilter("Unbanning 192.0.2.98/32"), (str(NOW).encode(), BIG.encode()))),
    ("netfilter", "lone surrogate", _raw(_netfilter("Unbanning XX"), (b"XX", b"\\udfff"))),
    ("rspamd", "unix_time above 2^63", _raw(_rspamd("bad@example.net"), (str(NOW).encode(), BIG.encode()))),
    ("rspamd", "size above 2^63", _raw(_rspamd("bad@example.net"), (b"1200", BIG.encode()))),
    ("rspamd", "time 1e300", _raw(_rspamd("bad@example.net"), (str(NOW).encode(), b"1e300"))),
    ("rspamd", "lone surrogate in the subject", _raw(_rspamd("bad@example.net", subject="XX"), (b"XX", b"\\ud83d"))),
    ("rspamd", "JSON nested 100k deep", DEEP),
]


@pytest.fixture
def fetch(make_settings, simulator):
    settings = make_settings(MAILCOW_URL=simulator.url, MAILCOW_API_KEY=simulator.api_key)
    open_database(settings.database_path)
    client = MailcowClient(settings.mailcow_url, settings.mailcow_api_key, retries=0)
    yield simulator, lambda source, clock=time.time: Ingestor(client, settings, clock=clock).fetch_source(source)
    client.close()
    database.close()


def _serve(sim, source: str, entries: list) -> None:
    sim.push_raw(source, [e if isinstance(e, bytes) else json.dumps(e).encode() for e in entries])


@pytest.mark.parametrize("source, name, bad", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_one_bad_entry_is_kept_raw_and_every_other_entry_is_stored(fetch, source, name, bad):
    sim, fetch_source = fetch
    good = _good(source, 6)
    _serve(sim, source, good[:3] + [bad] + good[3:])
    result = fetch_source(source)
    table = TABLES[source]
    parsed = table.select().where(table.parsed == True).count()
    # A bad number inside a line that parses otherwise may be dropped from the line instead.
    if name in ("size above 2^63", "nrcpt above 2^63") or source == "netfilter" and "above" in name \
            and "time" not in name:
        assert parsed == 7 and table.select().count() == 7
    else:
        assert parsed == 6, "every good entry is stored"
        assert table.select().where(table.parsed == False).count() == 1, "the bad one is kept raw"
        assert result.unparsed == 1 and ImportState.get(source=source).unparsed == 1
    assert ImportState.get(source=source).last_error is None
    before = table.select().count()
    for _ in range(3):
        fetch_source(source)
    assert table.select().count() == before, "fetching again stores nothing twice"
    # Later entries still land: the source is not blocked.
    _serve(sim, source, _good(source, 9)[6:])
    fetch_source(source)
    assert table.select().where(table.parsed == True).count() == parsed + 3


def test_a_bad_number_is_range_checked_where_it_is_parsed(fetch):
    sim, fetch_source = fetch
    _serve(sim, "postfix", [_postfix(f"1A2B3C4D5E: from=<a@example.net>, size={BIG}, nrcpt=2 (queue active)")])
    _serve(sim, "netfilter", [_netfilter(f"Banning 192.0.2.99/32 for {BIG} minutes")])
    fetch_source("postfix")
    fetch_source("netfilter")
    line = PostfixLine.get()
    assert line.parsed and line.size is None and line.nrcpt == 2 and line.sender == "a@example.net"
    ban = NetfilterLine.get()
    assert ban.parsed and ban.action == "banned" and ban.ban_minutes is None


def test_a_page_cut_short_is_asked_for_again_in_smaller_pages(fetch):
    sim, fetch_source = fetch
    lines = [_postfix(f"BBBBBB{i:05X}: removed", when=str(NOW + i // 10)) for i in range(300)]
    _serve(sim, "postfix", lines)
    sim.max_body = 8000                  # a proxy that cuts long answers: about 60 lines get through
    result = fetch_source("postfix")
    assert PostfixLine.select().count() == 300 and result.unparsed == 0
    sim.max_body = 100                   # not even one line: the fetch fails and says so, storing nothing
    _serve(sim, "postfix", lines[:1])
    with pytest.raises(Exception, match="not a complete array"):
        fetch_source("postfix")
    assert PostfixLine.select().count() == 300


@pytest.mark.parametrize("source", ["postfix", "netfilter", "rspamd"])
def test_entries_without_a_usable_time_are_stored_once(fetch, source):
    """Finding 3: before, each fetch gave them the time of the fetch, hence a new row."""
    sim, fetch_source = fetch
    time_field = "unix_time" if source == "rspamd" else "time"
    untimed = []
    for i, entry in enumerate(_good(source, 10)):
        entry[time_field] = ["soon", None, "", "later", "12:00"][i % 5]
        entry["n"] = i                   # ten different entries
        untimed.append(entry)
    _serve(sim, source, _good(source, 3) + untimed[:5] + _good(source, 6)[3:] + untimed[5:])
    table = TABLES[source]
    for minute in range(5):              # each fetch a minute later
        fetch_source(source, clock=lambda m=minute: time.time() + 60 * m)
    assert table.select().where(table.parsed == False).count() == 10
    assert table.select().where(table.parsed == True).count() == 6
