"""Alert settings: every rule has a default and can be changed or switched off; a bad value is
one line naming the variable (exit code 2) and never echoes a secret."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mailcow_logs_viewer.alerts.delivery import listing_name
from mailcow_logs_viewer.alerts.engine import RULES
from mailcow_logs_viewer.alerts.settings import ALERT_ENV_VARIABLES, RULE_DEFAULTS, rule_variable
from mailcow_logs_viewer.config import SettingsError, load_settings

from conftest import ROOT, base_env

BASE = {"MAILCOW_URL": "http://127.0.0.1:9", "MAILCOW_API_KEY": "k"}


def test_every_rule_has_defaults_a_variable_and_an_implementation():
    assert set(RULES) == set(RULE_DEFAULTS)
    settings = load_settings(BASE).alerts
    for rule, numbers in RULE_DEFAULTS.items():
        assert dict(settings.rule(rule)) == numbers
        assert rule_variable(rule) in ALERT_ENV_VARIABLES
    readme = (ROOT / "README.md").read_text()
    for variable in ALERT_ENV_VARIABLES:
        assert f"`{variable}`" in readme, variable


def test_rules_change_or_switch_off():
    alerts = load_settings({**BASE, "ALERT_DOMAIN_BOUNCE": "rate=20, min=5", "ALERT_GAP": "off",
                            "ALERT_GRACE_MINUTES": "0", "DIGEST_HOUR": "7", "DIGEST_WEEKLY": "yes"}).alerts
    assert dict(alerts.rule("domain_bounce")) == {"rate": 20, "min": 5, "window": 30}
    assert alerts.rule("gap") is None
    assert (alerts.grace_minutes, alerts.digest_hour, alerts.digest_weekly) == (0, 7, True)
    assert load_settings(BASE).alerts.digest_hour is None            # off by default


@pytest.mark.parametrize("variable, value, text", [
    ("ALERT_DOMAIN_BOUNCE", "ratio=3", "keys rate, min, window"),
    ("ALERT_AUTH_IP", "min=lots", "must be a number"),
    ("ALERT_GRACE_MINUTES", "-1", "between"),
    ("SMTP_TLS", "tls", "starttls, ssl, none"),
    ("SMTP_PORT", "70000", "between"),
    ("DIGEST_HOUR", "25", "between"),
    ("ALERT_TELEGRAM_BOT_TOKEN", "1:SECRET", "ALERT_TELEGRAM_CHAT_ID"),
    ("ALERT_EMAIL_TO", "admin@example.org", "SMTP_HOST"),
    ("ALERT_SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/SECRET", "http(s) URL"),
])
def test_bad_values_name_their_variable(variable, value, text):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, variable: value})
    assert text in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_bad_setting_exits_2_with_one_line(tmp_path):
    env = base_env(tmp_path, ALERT_MAILBOX="factor=x")
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "fetch"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["configuration error: ALERT_MAILBOX: must be a number (got 'x')"]


@pytest.mark.parametrize("reply, name", [
    ("host mx.example.com[192.0.2.1] said: 554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using "
     "zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.51.100.7 (in reply to RCPT TO command)", "Spamhaus"),
    ("host mx.barracudanetworks.com[64.235.1.1] said: 550 permanent failure for one or more recipients "
     "(x@y.com:blocked) 5.7.1 barracuda reputation", "Barracuda"),
    ("host outlook-com.olc.protection.outlook.com[52.101.1.1] said: 550 5.7.1 Unfortunately, messages from "
     "[198.51.100.7] weren't sent. Please contact your Internet service provider since part of their network is on "
     "our block list (S3150).", "Microsoft"),
    ("host gmail-smtp-in.l.google.com[142.250.1.27] said: 550-5.7.1 [198.51.100.7] Our system has detected that this "
     "message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
     "Gmail"),
    ("host mx.example.net[192.0.2.9] said: 554 5.7.1 Rejected: 198.51.100.7 listed at bl.spamcop.net", "SpamCop"),
    ("host mail.example.de[192.0.2.2] said: 550 5.7.1 Our IP 198.51.100.7 is listed on a private list", "a blocklist"),
])
def test_blocklist_replies_are_recognised(reply, name):
    assert listing_name(reply) == name


@pytest.mark.parametrize("reply", [
    "host mx.partner-example.com[203.0.113.25] said: 550 5.1.1 <x@partner-example.com>: Recipient address rejected: "
    "User unknown in virtual mailbox table (in reply to RCPT TO command)",
    "host domino.example.com[192.0.2.4] said: 550 5.1.1 User x@example.com not listed in Domino Directory",
    "host dovecot[172.22.1.250] said: 552 5.2.2 <x@example.org> Quota exceeded (mailbox for user is full)",
])
def test_ordinary_refusals_are_no_listing(reply):
    assert listing_name(reply) is None
