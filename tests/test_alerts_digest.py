"""The digest over a simulated world: its numbers equal the dashboard's for the same range,
`run.py report` prints it (text and HTML), and the daily job sends it to e-mail and the webhook."""
from __future__ import annotations

import subprocess
import sys
import time

from mailcow_logs_viewer.alerts.digest import build_report, render_html, render_text, send_digest
from mailcow_logs_viewer.queries import auth_failure_count

from conftest import ROOT, base_env, simulated_world
from receivers import HttpReceiver, SmtpReceiver


def test_digest_numbers_equal_the_dashboard(tmp_path):
    with simulated_world(tmp_path / "data", seed=5, hours=30) as (client, sim, settings):
        dashboard = client.get("/api/stats/dashboard").get_json()
        now = int(time.time())
        report = build_report(now - 86400, now)
        assert report["messages"]["total"] == dashboard["messages"]["24h"] > 0
        assert report["messages"]["spam"] == dashboard["spam"]["24h"]
        assert report["messages"]["failed_deliveries"] == dashboard["failed_deliveries"]["24h"]
        assert report["messages"]["rejected"] == dashboard["rejected"]["24h"]
        assert report["auth_failures"] == dashboard["auth_failures"]["24h"] > 0
        assert report["by_direction"] == {"inbound": dashboard["direction"]["inbound_24h"],
                                          "outbound": dashboard["direction"]["outbound_24h"],
                                          "internal": dashboard["direction"]["internal_24h"]}
        assert sum(report["by_status"].values()) == report["messages"]["total"]
        assert report["by_status"]["bounced"] == report["messages"]["failed_deliveries"]
        blocked = client.get("/api/stats/top-blocked-ips?hours=24").get_json()["blocked_ips"]
        assert [(b["ip"], b["count"]) for b in report["blocked_ips"]] == [(b["ip"], b["count"]) for b in blocked]
        week = build_report(now - 7 * 86400, now)
        assert week["messages"]["total"] == dashboard["messages"]["7d"]
        assert week["auth_failures"] == dashboard["auth_failures"]["7d"] == auth_failure_count(now - 7 * 86400)
        text = render_text(report)
        for heading in ("Top senders", "Top recipients", "Top bounce reasons", "Destination health",
                        "Top blocked IPs", "Auth failures", "Queue", "Gaps", "Open alerts"):
            assert heading in text
        assert report["top_senders"] and report["destinations"] and report["top_reasons"]["bounced"]

        env = base_env(settings.data_dir, MAILCOW_URL=sim.url, MAILCOW_API_KEY=sim.api_key,
                       PUBLIC_URL="https://logs.example.org")
        done = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", "--since", "24h"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"total {dashboard['messages']['24h']}," in done.stdout
        assert "alerts: https://logs.example.org/alerts" in done.stdout
        assert "queued" in done.stdout                                   # the live queue was read
        done = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", "--since", "24h", "--html"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.stdout.startswith("<!doctype html>") and "<script" not in done.stdout
        bad = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", "--since", "yesterday"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "--since" in bad.stderr


def test_html_digest_escapes_log_text():
    report = {"since": 0, "until": 60, "messages": {"total": 1, "spam": 0, "failed_deliveries": 0, "rejected": 0},
              "by_status": {}, "by_direction": {}, "top_senders": [("<script>alert(1)</script>@x.org", 1)],
              "top_recipients": [], "top_reasons": {"bounced": [], "deferred": []}, "top_reject_reasons": [],
              "destinations": [], "blocked_ips": [], "auth_failures": 0, "queue": None, "gaps": [], "open_alerts": [],
              "links": {}}
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_daily_digest_goes_to_email_and_webhook_only(tmp_path):
    http, smtp = HttpReceiver(), SmtpReceiver()
    with simulated_world(tmp_path / "data", seed=5, hours=3, ALERT_WEBHOOK_URL=f"{http.url}/webhook",
                         ALERT_SLACK_WEBHOOK_URL=f"{http.url}/slack", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                         SMTP_TLS="none", SMTP_FROM="mlv@example.org", ALERT_EMAIL_TO="admin@example.org",
                         DIGEST_HOUR=7) as (client, sim, settings):
        runtime = client.application.extensions["runtime"]
        runtime.alerts.start()
        try:
            assert send_digest(runtime)["queued"] == 2
            assert runtime.alerts.sender.wait_idle(20)
            assert http.texts("/slack") == []
            (webhook,) = [r for r in http.requests if r["path"] == "/webhook"]
            assert b'"event": "digest"' in webhook["body"]
            (_, message), = smtp.messages
            assert message["Subject"].startswith("[DIGEST] Mail digest")
            assert "Destination health" in message.get_body(("plain",)).get_content()
            assert "<h2>Destination health</h2>" in message.get_body(("html",)).get_content()
        finally:
            runtime.alerts.stop()
            http.stop()
            smtp.stop()
