"""syslog line splitting: BSD and RFC 3339 headers from the lightmeter corpus."""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcow_logs_viewer.parsing.syslog import SyslogLine, is_postfix_program, parse_syslog_line

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
IND = CORPUS / "lightmeter-controlcenter" / "individual_files"
UTC = datetime.timezone.utc


def need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"corpus not available: {p}")
    return p


def test_bsd_line():
    s = parse_syslog_line("Jan 27 06:36:01 mail postfix/smtpd[12345]: connect from x[1.2.3.4]\n", 2021)
    assert s == SyslogLine(time=int(datetime.datetime(2021, 1, 27, 6, 36, 1, tzinfo=UTC).timestamp()),
                           host="mail", program="postfix/smtpd", pid=12345,
                           message="connect from x[1.2.3.4]", priority="info")


def test_bsd_single_digit_day_and_zone():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    s = parse_syslog_line("Apr  8 10:12:33 mx postfix/anvil[99]: statistics: x", 2026, berlin)
    assert s.time == int(datetime.datetime(2026, 4, 8, 8, 12, 33, tzinfo=UTC).timestamp())
    assert s.program == "postfix/anvil"


def test_rfc3339_line_with_offset():
    s = parse_syslog_line("2021-01-27T06:36:01.123456+01:00 host postfix/qmgr[7]: ABCDEF1234: removed", 1999)
    assert s.time == int(datetime.datetime(2021, 1, 27, 5, 36, 1, tzinfo=UTC).timestamp())
    assert (s.host, s.program, s.pid, s.message) == ("host", "postfix/qmgr", 7, "ABCDEF1234: removed")
    z = parse_syslog_line("2021-01-27T06:36:01Z host dovecot: imap-login: x", 1999)
    assert z.time == int(datetime.datetime(2021, 1, 27, 6, 36, 1, tzinfo=UTC).timestamp())
    assert z.pid is None and z.program == "dovecot"


@pytest.mark.parametrize("msg,prio", [("warning: x", "warning"), ("error: x", "err"), ("fatal: x", "crit"),
                                      ("panic: x", "crit"), ("connect from x", "info")])
def test_priority(msg, prio):
    assert parse_syslog_line(f"Jan  1 00:00:00 h postfix/smtpd[1]: {msg}", 2021).priority == prio


def test_authclean_rfc3339_file():
    lines = need(IND / "25_authclean_cleanup.log").read_text().splitlines()
    parsed = [parse_syslog_line(l, 2000) for l in lines]
    assert all(p is not None for p in parsed)
    assert parsed[0].time == int(datetime.datetime(2022, 1, 8, 19, 42, 12, tzinfo=UTC).timestamp())
    assert {p.program for p in parsed} == {"postfix/submission/smtpd", "postfix/authclean/cleanup",
                                          "postfix/qmgr", "postfix/lmtp"}
    assert all(is_postfix_program(p.program) for p in parsed)


def test_expired_file_multi_instance_and_broken_continuation():
    lines = need(IND / "18_expired.log").read_text().splitlines()
    parsed = [parse_syslog_line(l, 2020) for l in lines]
    assert lines[27] == "ir/)"
    assert parsed[27] is None  # continuation of line 27
    assert sum(p is None for p in parsed) == 1
    assert parsed[26].program == "postfix-239.58.50.50/local"
    assert is_postfix_program(parsed[26].program)


def test_whole_individual_files_and_out_of_order():
    files = sorted(need(IND).glob("*.log"))
    total = ok = 0
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            total += 1
            ok += parse_syslog_line(line, 2021) is not None
    assert total > 1400 and total - ok < 10  # only blank/continuation lines fail
    l1, l2 = need(IND / "26_two_recipients.log").read_text().splitlines()[:2]
    assert parse_syslog_line(l2, 2021).time < parse_syslog_line(l1, 2021).time


@pytest.mark.parametrize("line", ["", "ir/)", "   ", "Jan: 1 00:00:00 hostname postfix/postscreen[12345]: foo",
                                  "Jan 1 00:00:00 hostname postfix/postscreen[abcde]: foo",
                                  "Feb 30 00:00:00 h postfix/smtpd[1]: x", "Foo 12 00:00:00 h p[1]: x",
                                  "2021-13-01T00:00:00Z h p[1]: x", "# comment", "Jan 27 06:36:01 host"])
def test_not_syslog(line):
    assert parse_syslog_line(line, 2021) is None


@pytest.mark.parametrize("prog,expected", [
    ("postfix/smtpd", True), ("postfix/submission/smtpd", True), ("postfix-170.55.103.23/smtp", True),
    ("postfix-239.58.50.50/qmgr", True), ("haproxy/postscreen", True), ("enforced-tls-smtp/smtp", True),
    ("postfix/authclean/cleanup", True), ("dovecot", False), ("amavis", False), ("opendkim", False),
    ("opendmarc", False), ("policyd-spf", False), ("lightmeter/headers", False), ("", False)])
def test_is_postfix_program(prog, expected):
    assert is_postfix_program(prog) is expected


@settings(max_examples=2000, deadline=None)
@given(st.text(), st.integers(min_value=-10, max_value=10000))
def test_fuzz_never_raises(line, year):
    r = parse_syslog_line(line, year)
    assert r is None or isinstance(r, SyslogLine)


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"\A(Jan|Feb|Dec) {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2} h [a-z/]{1,10}(\[[0-9]{1,6}\])?: .{0,20}\Z"))
def test_fuzz_bsd_shapes(line):
    r = parse_syslog_line(line, 2021)
    assert r is None or isinstance(r.time, int)
