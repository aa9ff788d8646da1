"""`run.py import` of old syslog files: no mailcow needed, the year of BSD timestamps as log
rotation implies (never in the future), the zone from --tz, and imported history kept by the
daily clean-up unless asked otherwise (PITFALLS 34)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from mailcow_logs_viewer.db import database, open_database
from mailcow_logs_viewer.importer import import_files
from mailcow_logs_viewer.models import Message, PostfixLine
from mailcow_logs_viewer.retention import cleanup

from conftest import ROOT, base_env

LINES = ("Dec 31 23:59:58 mx postfix/smtpd[11]: 4A1B2C3D4E: client=mail.example.net[203.0.113.9]\n"
         "Dec 31 23:59:59 mx postfix/cleanup[12]: 4A1B2C3D4E: message-id=<new-year@example.net>\n"
         "Dec 31 23:59:59 mx postfix/qmgr[13]: 4A1B2C3D4E: from=<alice@example.net>, size=900, nrcpt=1 (queue active)\n"
         "Jan  1 00:00:01 mx postfix/lmtp[14]: 4A1B2C3D4E: to=<bob@example.org>, relay=dovecot[172.22.1.250]:24, "
         "delay=3, delays=0/0/0/3, dsn=2.0.0, status=sent (250 2.0.0 Saved)\n"
         "Jan  1 00:00:01 mx postfix/qmgr[13]: 4A1B2C3D4E: removed\n")


def _log(tmp_path, text: str, written: datetime):
    path = tmp_path / "mail.log"
    path.write_text(text)
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def _times() -> list[datetime]:
    return [datetime.fromtimestamp(t, timezone.utc) for (t,) in PostfixLine.select(PostfixLine.time)
            .order_by(PostfixLine.time).tuples()]


def test_a_file_across_new_year_puts_december_in_the_year_before(tmp_path):
    path = _log(tmp_path, LINES, datetime(2026, 1, 2, tzinfo=timezone.utc))
    open_database(tmp_path / "a.db")
    report = import_files([str(path)], server="mx")
    times = _times()
    assert (times[0].year, times[0].month, times[-1].year, times[-1].month) == (2025, 12, 2026, 1)
    assert report["years"] == {str(path): [2025, 2026]}
    database.close()


def test_no_line_is_placed_in_the_future(tmp_path):
    # Written now; a line of a month later than the current one is last year's.
    now = datetime.now(timezone.utc)
    later = datetime(now.year, now.month % 12 + 1, 1)
    text = f"{later:%b} {later.day:2d} 10:00:00 mx postfix/qmgr[1]: 5F6A7B8C9D: removed\n"
    path = _log(tmp_path, text, now)
    open_database(tmp_path / "b.db")
    import_files([str(path)], server="mx")
    assert _times()[0].timestamp() <= time.time() + 86400
    database.close()


def test_tz_option_reads_bsd_stamps_in_that_zone(tmp_path):
    path = _log(tmp_path, LINES, datetime(2026, 1, 2, tzinfo=timezone.utc))
    open_database(tmp_path / "c.db")
    import_files([str(path)], tz=ZoneInfo("Europe/Berlin"), server="mx")
    assert _times()[0] == datetime(2025, 12, 31, 22, 59, 58, tzinfo=timezone.utc)
    database.close()


def test_imported_history_survives_the_daily_clean_up_unless_asked(tmp_path):
    path = _log(tmp_path, LINES, datetime(2026, 1, 2, tzinfo=timezone.utc))
    for retain, left in ((True, 5), (False, 0)):
        open_database(tmp_path / f"retain-{retain}.db")
        import_files([str(path)], retain=retain, server="mx")
        cleanup(retention_days=30)
        assert PostfixLine.select().count() == left
        database.close()


def test_cli_import_needs_no_mailcow_and_says_which_year_it_used(tmp_path):
    path = _log(tmp_path, LINES, datetime(2026, 1, 2, tzinfo=timezone.utc))
    env = {k: v for k, v in base_env(tmp_path / "data").items() if not k.startswith("MAILCOW_")}
    env["PATH"] = os.environ["PATH"]
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(path), "--tz", "UTC"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2025/2026" in result.stdout and "kept through the daily clean-up" in result.stdout
    open_database(tmp_path / "data" / "mailcow-logs.db")
    assert [(m.final_status, m.server) for m in Message.select()] == [("delivered", "mailcow")]   # no MAILCOW_URL
    database.close()
    backup = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(path), "--year", "2020",
                             "--server", "mx2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert backup.returncode == 0, backup.stderr
    open_database(tmp_path / "data" / "mailcow-logs.db")
    assert sorted(m.server for m in Message.select()) == ["mailcow", "mx2"]      # the same lines, another server
    assert {s for (s,) in PostfixLine.select(PostfixLine.server).tuples()} == {"mailcow", "mx2"}
    database.close()
    wrong = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(path), "--server", "MX 2"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "--server" in wrong.stderr
    bad = subprocess.run([sys.executable, str(ROOT / "run.py"), "import", str(path), "--tz", "Mars/Base"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--tz" in bad.stderr


def test_dashboard_and_stats_can_be_read_for_the_imported_range(client, tmp_path):
    path = _log(tmp_path, LINES, datetime(2026, 1, 2, tzinfo=timezone.utc))
    import_files([str(path)], server="mx")
    from mailcow_logs_viewer.correlate import Correlator
    Correlator().run()
    now = client.get("/api/stats/dashboard").get_json()
    assert now["messages"]["24h"] == 0 and now["data_range"]["first"] == "2025-12-31T23:59:58Z"
    then = client.get("/api/stats/dashboard?end=2026-01-01T12:00:00Z").get_json()
    assert (then["messages"]["24h"], then["window_end"]) == (1, "2026-01-01T12:00:00Z")
    timeline = client.get("/api/stats/timeline?hours=24&end=2026-01-01T12:00:00Z").get_json()["timeline"]
    assert sum(bucket["total"] for bucket in timeline) == 1
    activity = client.get("/api/stats/recent-activity?end=2026-01-01T12:00:00Z").get_json()["activity"]
    assert [a["status"] for a in activity] == ["delivered"]
    assert client.get("/api/stats/dashboard?end=soon").status_code == 400
