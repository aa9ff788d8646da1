"""Settings: defaults, every variable, validation that names the variable, secrets kept out of
error text and repr, and the real CLI turning a bad setting into one line and exit code 2."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailcow_logs_viewer.config import ENV_VARIABLES, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "S3CRET-API-KEY-4242"
SECRET_PASSWORD = "hunter2-Sup3rSecret"
REQUIRED = {"MAILCOW_URL": "https://mail.example.com", "MAILCOW_API_KEY": SECRET_KEY}


def load(**env) -> Settings:
    return load_settings({**REQUIRED, **env})


def error_for(env: dict, demo: bool = False) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings(env, demo=demo)
    return caught.value


def test_defaults():
    s = load_settings(dict(REQUIRED))
    assert s.fetch_interval == 60
    assert s.retention_days == 7
    assert (s.fetch_count_postfix, s.fetch_count_rspamd, s.fetch_count_netfilter) == (2000, 500, 500)
    assert s.mailcow_verify_ssl is True
    assert s.data_dir == "./data"
    assert s.database_path == Path("./data") / "mailcow-logs.db"
    assert s.app_host == "127.0.0.1"       # without a login, only loopback (issue 17, finding 9)
    assert load_settings({**REQUIRED, "AUTH_ENABLED": "true", "AUTH_PASSWORD": "pw"}).app_host == "0.0.0.0"
    assert s.app_port == 8080
    assert (s.session_idle_minutes, s.session_max_hours) == (60, 12)
    assert s.trusted_proxies == () and s.allowed_hosts == ()
    assert s.auth_enabled is False
    assert s.auth_username == "admin"
    assert s.timezone == "UTC"
    assert s.debug is False
    assert s.demo is False
    assert s.blacklist_emails == () and s.local_domains == ()


# Environment variable -> (text, Settings attribute, expected value)
EVERY_VARIABLE = {
    "MAILCOW_URL": ("http://mailcow.internal:8443/", "mailcow_url", "http://mailcow.internal:8443"),
    "MAILCOW_API_KEY": ("ABC-123", "mailcow_api_key", "ABC-123"),
    "MAILCOW_API_TIMEOUT": ("12.5", "mailcow_api_timeout", 12.5),
    "MAILCOW_VERIFY_SSL": ("false", "mailcow_verify_ssl", False),
    "FETCH_INTERVAL": ("90", "fetch_interval", 90),
    "FETCH_COUNT_POSTFIX": ("3000", "fetch_count_postfix", 3000),
    "FETCH_COUNT_RSPAMD": ("700", "fetch_count_rspamd", 700),
    "FETCH_COUNT_NETFILTER": ("800", "fetch_count_netfilter", 800),
    "FETCH_COUNT_DOVECOT": ("900", "fetch_count_dovecot", 900),
    "RETENTION_DAYS": ("30", "retention_days", 30),
    "MESSAGE_RETENTION_DAYS": ("365", "message_retention_days", 365),
    "COUNTER_RETENTION_DAYS": ("3650", "counter_retention_days", 3650),
    "REDACT_SUBJECTS": ("true", "redact_subjects", True),
    "ANONYMIZE_IPS_AFTER_DAYS": ("3", "anonymize_ips_after_days", 3),
    "CLEANUP_HOUR": ("4", "cleanup_hour", 4),
    "MAX_CORRELATION_AGE_MINUTES": ("20", "max_correlation_age_minutes", 20),
    "CORRELATION_CHECK_INTERVAL": ("300", "correlation_check_interval", 300),
    "TZ": ("Europe/Berlin", "timezone", "Europe/Berlin"),
    "APP_TITLE": ("My Mail Logs", "app_title", "My Mail Logs"),
    "APP_LOGO_URL": ("https://cdn.example.com/logo.png", "app_logo_url", "https://cdn.example.com/logo.png"),
    "LOG_LEVEL": ("DEBUG", "log_level", "DEBUG"),
    "BLACKLIST_EMAILS": ("Noreply@X.org, spam@y.org,,", "blacklist_emails", ("noreply@x.org", "spam@y.org")),
    "LOCAL_DOMAINS": ("Example.com,mail.example.com", "local_domains", ("example.com", "mail.example.com")),
    "MAX_SEARCH_RESULTS": ("250", "max_search_results", 250),
    "CSV_EXPORT_LIMIT": ("5000", "csv_export_limit", 5000),
    "SCHEDULER_WORKERS": ("2", "scheduler_workers", 2),
    "STATUS_CACHE_SECONDS": ("0", "status_cache_seconds", 0),
    "APP_VERSION_URL": ("http://127.0.0.1:1/app", "app_version_url", "http://127.0.0.1:1/app"),
    "MAILCOW_VERSION_URL": ("http://127.0.0.1:1/mc", "mailcow_version_url", "http://127.0.0.1:1/mc"),
    "DATA_DIR": ("/var/lib/mlv", "data_dir", "/var/lib/mlv"),
    "APP_HOST": ("0.0.0.0", "app_host", "0.0.0.0"),
    "APP_PORT": ("9090", "app_port", 9090),
    "WEB_THREADS": ("16", "web_threads", 16),
    "DEBUG": ("yes", "debug", True),
    "AUTH_ENABLED": ("true", "auth_enabled", True),
    "AUTH_USERNAME": ("root", "auth_username", "root"),
    "AUTH_PASSWORD": ("pw", "auth_password", "pw"),
    "GEOIP": ("asn", "geoip", "asn"),
    "SESSION_IDLE_MINUTES": ("15", "session_idle_minutes", 15),
    "SESSION_MAX_HOURS": ("48", "session_max_hours", 48),
    "TRUSTED_PROXIES": ("10.0.0.0/8, 192.0.2.7,::1", "trusted_proxies",
                        (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"),
                         ipaddress.ip_network("::1/128"))),
    "ALLOWED_HOSTS": ("Logs.Example.org,localhost", "allowed_hosts", ("localhost", "logs.example.org")),
    "MAILCOW_OAUTH_CLIENT_ID": ("0123abcd", "mailcow_oauth_client_id", "0123abcd"),
    "MAILCOW_OAUTH_CLIENT_SECRET": ("s3cret", "mailcow_oauth_client_secret", "s3cret"),
    "PUBLIC_URL": ("https://logs.example.org/", "public_url", "https://logs.example.org"),
    "OIDC_ISSUER": ("https://auth.example.org/application/o/logs/", "oidc_issuer",
                    "https://auth.example.org/application/o/logs"),
    "OIDC_CLIENT_ID": ("logs-viewer", "oidc_client_id", "logs-viewer"),
    "OIDC_CLIENT_SECRET": ("s3cret", "oidc_client_secret", "s3cret"),
    "OIDC_ADMIN_GROUP": ("mail-admins", "oidc_admin_group", "mail-admins"),
    "SERVER_NAME": ("mx-main", "server_name", "mx-main"),
    "DOMAIN_ADMINS": ("Boss@Example.org=example.org Example.net; it@b.org=b.org", "domain_admins",
                      (("boss@example.org", ("example.net", "example.org")), ("it@b.org", ("b.org",)))),
}


# MAILCOW_INSTANCES brings per-server variables whose names depend on the servers' names
# (MAILCOW_MX1_URL ...): it has tests of its own below, not a line in EVERY_VARIABLE.
SERVER_LIST_VARIABLES = {"MAILCOW_INSTANCES"}


def test_every_variable_is_covered_here():
    # The alert variables are covered in test_alerts_settings.py.
    from mailcow_logs_viewer.alerts.settings import ALERT_ENV_VARIABLES
    assert set(EVERY_VARIABLE) | set(ALERT_ENV_VARIABLES) | SERVER_LIST_VARIABLES == set(ENV_VARIABLES)


def test_every_variable_parsed_all_at_once():
    s = load_settings({name: text for name, (text, _, _) in EVERY_VARIABLE.items()})
    for name, (_, attribute, expected) in EVERY_VARIABLE.items():
        assert getattr(s, attribute) == expected, name
    assert s.database_path == Path("/var/lib/mlv") / "mailcow-logs.db"
    assert str(s.tzinfo) == "Europe/Berlin"


@pytest.mark.parametrize("name", sorted(EVERY_VARIABLE))
def test_each_variable_alone_differs_from_default(name):
    text, attribute, expected = EVERY_VARIABLE[name]
    env = {**REQUIRED, name: text}
    if name == "AUTH_ENABLED":
        env["AUTH_PASSWORD"] = "pw"
    if name == "MAILCOW_OAUTH_CLIENT_ID":    # the sign-in needs its secret, its address and a login
        env.update(MAILCOW_OAUTH_CLIENT_SECRET="s", PUBLIC_URL="http://127.0.0.1:8080", AUTH_ENABLED="true",
                   AUTH_PASSWORD="pw")
    if name == "OIDC_CLIENT_ID":
        env.update(OIDC_ISSUER="https://auth.example.org", OIDC_CLIENT_SECRET="s", OIDC_ADMIN_GROUP="g",
                   PUBLIC_URL="http://127.0.0.1:8080", AUTH_ENABLED="true", AUTH_PASSWORD="pw")
    default = getattr(load_settings(dict(REQUIRED)), attribute)
    assert expected != default, f"pick a non-default value for {name}"
    assert getattr(load_settings(env), attribute) == expected


@pytest.mark.parametrize("text,expected", [("true", True), ("1", True), ("ON", True), ("false", False),
                                           ("0", False), ("no", False), ("Off", False)])
def test_booleans(text, expected):
    assert load(MAILCOW_VERIFY_SSL=text).mailcow_verify_ssl is expected


def test_frozen():
    s = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.fetch_interval = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.auth_enabled = True
    changed = s.replace(app_port=1234)
    assert changed.app_port == 1234 and s.app_port == 8080


@pytest.mark.parametrize("missing", ["MAILCOW_URL", "MAILCOW_API_KEY"])
def test_missing_required_outside_demo(missing):
    env = dict(REQUIRED)
    del env[missing]
    error = error_for(env)
    assert error.variable == missing
    assert missing in str(error)


@pytest.mark.parametrize("missing", ["MAILCOW_URL", "MAILCOW_API_KEY"])
def test_empty_required_counts_as_missing(missing):
    error = error_for({**REQUIRED, missing: ""})
    assert error.variable == missing


def test_demo_needs_neither_and_uses_demo_db():
    s = load_settings({}, demo=True)
    assert s.demo is True
    assert s.database_path.name == "demo.db"
    assert s.mailcow_url and s.mailcow_api_key
    # a real deployment's database is never the demo's
    assert load().database_path.name != "demo.db"


def test_auth_enabled_requires_password():
    for env in ({**REQUIRED, "AUTH_ENABLED": "true"}, {**REQUIRED, "AUTH_ENABLED": "true", "AUTH_PASSWORD": ""}):
        error = error_for(env)
        assert error.variable == "AUTH_PASSWORD"
        assert "AUTH_PASSWORD" in str(error)
    assert load(AUTH_ENABLED="true", AUTH_PASSWORD="x").auth_enabled


@pytest.mark.parametrize("variable,value", [
    ("FETCH_INTERVAL", "abc"),
    ("FETCH_INTERVAL", "1"),
    ("TZ", "Mars/Base"),
    ("TZ", "../../etc/passwd"),
    ("APP_PORT", "99999"),
    ("APP_PORT", "0"),
    ("MAILCOW_VERIFY_SSL", "maybe"),
    ("RETENTION_DAYS", "-1"),
    ("MESSAGE_RETENTION_DAYS", "3"),          # below RETENTION_DAYS (7): messages cannot go before their lines
    ("MESSAGE_RETENTION_DAYS", "ninety"),
    ("COUNTER_RETENTION_DAYS", "0"),
    ("REDACT_SUBJECTS", "perhaps"),
    ("ANONYMIZE_IPS_AFTER_DAYS", "-2"),
    ("LOG_LEVEL", "LOUD"),
    ("MAILCOW_URL", "not a url"),
    ("MAILCOW_URL", "ftp://mail.example.com"),
    ("CLEANUP_HOUR", "24"),
    ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
    ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("SESSION_IDLE_MINUTES", "0"),
    ("SESSION_MAX_HOURS", "x"),
])
def test_malformed_value_names_the_variable(variable, value):
    env = {**REQUIRED, "AUTH_ENABLED": "true", "AUTH_PASSWORD": SECRET_PASSWORD, variable: value}
    error = error_for(env)
    assert error.variable == variable
    assert str(error).startswith(f"{variable}:")
    assert SECRET_KEY not in str(error) and SECRET_PASSWORD not in str(error)


def test_secrets_never_in_repr_or_errors():
    s = load(AUTH_ENABLED="true", AUTH_PASSWORD=SECRET_PASSWORD)
    assert SECRET_KEY not in repr(s) and SECRET_PASSWORD not in repr(s)
    assert SECRET_KEY not in str(s) and SECRET_PASSWORD not in str(s)
    # errors about the secret variables themselves do not echo their values
    error = error_for({"MAILCOW_URL": "https://m.example.com", "MAILCOW_API_KEY": SECRET_KEY,
                       "AUTH_ENABLED": "true", "AUTH_PASSWORD": SECRET_PASSWORD, "APP_PORT": "x"})
    assert SECRET_KEY not in str(error) and SECRET_PASSWORD not in str(error)
    assert SECRET_KEY not in repr(error) and SECRET_PASSWORD not in repr(error)


# ---------------------------------------------------------------- through the real CLI

def _clean_env(**env) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    base.update(env)
    return base


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_cli_malformed_setting_exits_2_with_one_line(tmp_path):
    env = _clean_env(MAILCOW_URL="http://127.0.0.1:9", MAILCOW_API_KEY=SECRET_KEY, DATA_DIR=str(tmp_path / "d"),
                     FETCH_INTERVAL="abc")
    result = _run([], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "FETCH_INTERVAL" in lines[0]
    assert SECRET_KEY not in result.stderr + result.stdout
    assert not (tmp_path / "d").exists()   # nothing was started or created


def test_cli_missing_mailcow_url_exits_2(tmp_path):
    env = _clean_env(MAILCOW_API_KEY=SECRET_KEY, DATA_DIR=str(tmp_path / "d"))
    result = _run(["fetch"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "MAILCOW_URL" in lines[0], result.stderr


def test_tier_defaults_follow_an_older_retention_setting():
    # RETENTION_DAYS=120 from before the tiers keeps its messages that long (not an error).
    s = load(RETENTION_DAYS="120")
    assert (s.retention_days, s.message_retention_days, s.counter_retention_days) == (120, 120, None)
    s = load()
    assert (s.retention_days, s.message_retention_days, s.counter_retention_days) == (7, 90, None)
    assert s.redact_subjects is False and s.anonymize_ips_after_days is None


@pytest.mark.parametrize("value,named", [("boss@example.org", "'boss@example.org'"),
                                         ("boss@example.org=", "'boss@example.org='"),
                                         ("boss@example.org=exa_mple.org", "'exa_mple.org'"),
                                         ("example.org=example.org", "'example.org=example.org'")])
def test_domain_admins_syntax_is_named(value, named):
    with pytest.raises(SettingsError) as caught:
        load(DOMAIN_ADMINS=value)
    assert caught.value.variable == "DOMAIN_ADMINS" and named in str(caught.value)


@pytest.mark.parametrize("missing", ["MAILCOW_OAUTH_CLIENT_SECRET", "PUBLIC_URL"])
def test_mailcow_sign_in_needs_its_secret_and_address(missing):
    env = dict(MAILCOW_OAUTH_CLIENT_ID="c", MAILCOW_OAUTH_CLIENT_SECRET="s", PUBLIC_URL="http://127.0.0.1:1",
               AUTH_ENABLED="true", AUTH_PASSWORD="pw")
    del env[missing]
    with pytest.raises(SettingsError) as caught:
        load(**env)
    assert caught.value.variable == missing


def test_mailcow_sign_in_needs_a_login_and_hides_its_secret():
    with pytest.raises(SettingsError) as caught:
        load(MAILCOW_OAUTH_CLIENT_ID="c", MAILCOW_OAUTH_CLIENT_SECRET="s", PUBLIC_URL="http://127.0.0.1:1")
    assert caught.value.variable == "MAILCOW_OAUTH_CLIENT_ID"
    s = load(MAILCOW_OAUTH_CLIENT_ID="c", MAILCOW_OAUTH_CLIENT_SECRET="hunter22", PUBLIC_URL="http://127.0.0.1:1",
             AUTH_ENABLED="true", AUTH_PASSWORD="pw")
    assert s.mailcow_sign_in and "hunter22" not in repr(s)


OIDC = dict(OIDC_ISSUER="https://auth.example.org/", OIDC_CLIENT_ID="c", OIDC_CLIENT_SECRET="s",
            OIDC_ADMIN_GROUP="admins", PUBLIC_URL="http://127.0.0.1:1", AUTH_ENABLED="true", AUTH_PASSWORD="pw")


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_SECRET", "OIDC_ADMIN_GROUP", "PUBLIC_URL"])
def test_oidc_sign_in_needs_its_issuer_secret_group_and_address(missing):
    env = dict(OIDC)
    del env[missing]
    with pytest.raises(SettingsError) as caught:
        load(**env)
    assert caught.value.variable == missing and "OIDC_CLIENT_ID" in str(caught.value)


@pytest.mark.parametrize("issuer", ["auth.example.org", "ftp://auth.example.org", "javascript:alert(1)"])
def test_the_oidc_issuer_must_be_an_http_url(issuer):
    with pytest.raises(SettingsError) as caught:
        load(**{**OIDC, "OIDC_ISSUER": issuer})
    assert caught.value.variable == "OIDC_ISSUER"


def test_oidc_sign_in_needs_a_login_and_hides_its_secret():
    with pytest.raises(SettingsError) as caught:
        load(**{**OIDC, "AUTH_ENABLED": "false"})
    assert caught.value.variable == "OIDC_CLIENT_ID"
    with pytest.raises(SettingsError) as caught:
        load(**{**OIDC, "OIDC_CLIENT_SECRET": "x" * 501})
    assert caught.value.variable == "OIDC_CLIENT_SECRET" and "x" * 20 not in str(caught.value)
    s = load(**{**OIDC, "OIDC_CLIENT_SECRET": "hunter22"})
    assert s.oidc_sign_in and s.oidc_issuer == "https://auth.example.org" and s.oidc_provider == "auth.example.org"
    assert "hunter22" not in repr(s)


def test_a_bad_oidc_setting_exits_2_naming_it(tmp_path):
    env = _clean_env(**REQUIRED, **{**OIDC, "OIDC_ISSUER": "not a url"}, DATA_DIR=str(tmp_path / "d"))
    result = _run([], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OIDC_ISSUER" in lines[0]


# ---------------------------------------------------------------- several servers (issue 15)

TWO_SERVERS = {"MAILCOW_INSTANCES": "mx1, mx-2", "MAILCOW_MX1_URL": "https://mx1.example.org/",
               "MAILCOW_MX1_API_KEY": SECRET_KEY, "MAILCOW_MX_2_URL": "http://10.0.0.2:8080",
               "MAILCOW_MX_2_API_KEY": "KEY-TWO", "MAILCOW_MX_2_VERIFY_SSL": "false",
               "MAILCOW_MX_2_API_TIMEOUT": "5", "MAILCOW_API_TIMEOUT": "12"}


def test_one_server_is_named_after_the_host_of_its_url_or_server_name():
    s = load()
    assert s.server_name == "mail.example.com"
    assert [(m.name, m.url, m.api_key, m.api_timeout, m.verify_ssl) for m in s.servers] == [
        ("mail.example.com", "https://mail.example.com", SECRET_KEY, 30.0, True)]
    assert load(SERVER_NAME="mx-main").servers[0].name == "mx-main"
    # replace() moves the derived server with the URL (the demo and tests point it elsewhere)
    moved = s.replace(mailcow_url="http://127.0.0.1:8443")
    assert (moved.server_name, moved.servers[0].url) == ("127.0.0.1", "http://127.0.0.1:8443")


def test_several_servers_in_configured_order_with_their_own_settings():
    s = load_settings(TWO_SERVERS)
    assert [(m.name, m.url, m.api_key, m.api_timeout, m.verify_ssl) for m in s.servers] == [
        ("mx1", "https://mx1.example.org", SECRET_KEY, 12.0, True),
        ("mx-2", "http://10.0.0.2:8080", "KEY-TWO", 5.0, False)]
    assert s.server_name == "mx1"                   # the first, unless SERVER_NAME says otherwise
    assert (s.mailcow_url, s.mailcow_api_key) == ("https://mx1.example.org", SECRET_KEY)
    assert load_settings({**TWO_SERVERS, "SERVER_NAME": "mx-2"}).server_name == "mx-2"


@pytest.mark.parametrize("change, variable", [
    ({"MAILCOW_INSTANCES": " , "}, "MAILCOW_INSTANCES"),
    ({"MAILCOW_INSTANCES": "mx1,MX2"}, "MAILCOW_INSTANCES"),
    ({"MAILCOW_INSTANCES": "mx1,mx_2"}, "MAILCOW_INSTANCES"),
    ({"MAILCOW_INSTANCES": "mx1,mx1"}, "MAILCOW_INSTANCES"),
    ({"MAILCOW_INSTANCES": "mx1," + "a" * 32}, "MAILCOW_INSTANCES"),
    ({"MAILCOW_MX1_URL": None}, "MAILCOW_MX1_URL"),
    ({"MAILCOW_MX1_URL": "ftp://mx1.example.org"}, "MAILCOW_MX1_URL"),
    ({"MAILCOW_MX_2_API_KEY": None}, "MAILCOW_MX_2_API_KEY"),
    ({"MAILCOW_MX_2_VERIFY_SSL": "maybe"}, "MAILCOW_MX_2_VERIFY_SSL"),
    ({"MAILCOW_MX_2_API_TIMEOUT": "0"}, "MAILCOW_MX_2_API_TIMEOUT"),
    ({"SERVER_NAME": "mx3"}, "SERVER_NAME"),
])
def test_a_bad_or_missing_server_variable_names_itself(change, variable):
    env = {k: v for k, v in {**TWO_SERVERS, **change}.items() if v is not None}
    assert error_for(env).variable == variable


def test_a_bad_server_name_names_itself():
    assert error_for({**REQUIRED, "SERVER_NAME": "Mail Server"}).variable == "SERVER_NAME"


def test_no_server_api_key_in_repr_or_errors():
    s = load_settings(TWO_SERVERS)
    assert SECRET_KEY not in repr(s) and SECRET_KEY not in repr(s.servers) and "KEY-TWO" not in repr(s)
    error = error_for({**TWO_SERVERS, "MAILCOW_MX1_API_KEY": SECRET_KEY, "MAILCOW_MX_2_API_TIMEOUT": "x"})
    assert SECRET_KEY not in str(error) and "KEY-TWO" not in str(error)


def test_cli_bad_server_variable_exits_2_naming_it(tmp_path):
    env = _clean_env(DATA_DIR=str(tmp_path / "d"), MAILCOW_INSTANCES="mx1,mx2", MAILCOW_MX1_URL="http://127.0.0.1:9",
                     MAILCOW_MX1_API_KEY=SECRET_KEY, MAILCOW_MX2_API_KEY="K")
    result = _run(["fetch"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: MAILCOW_MX2_URL: is required (the address of this mailcow and a read-only API key)"]
