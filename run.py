"""Mailcow Logs Viewer: command line.

    python run.py [--host H] [--port P]     serve the app and run the scheduler
    python run.py --demo                    the same, against the built-in simulated mailcow
    python run.py fetch                     one fetch-and-correlate cycle, then exit (cron)
    python run.py import FILE... [--year Y] [--tz ZONE] [--retain keep|expire]
                                            import Postfix and Dovecot syslog files (plain or .gz); no mailcow needed
    python run.py simulate --port P         run only the simulated mailcow
    python run.py report [--since 24h] [--html]   print the digest of a range (cron)
    python run.py alert-test                send a test notification to every configured channel
    python run.py forget ADDRESS            remove every line, row, message and counter detail naming ADDRESS
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from mailcow_logs_viewer.config import SERVER_NAME_PATTERN as _SERVER_NAME, SettingsError, load_settings
from mailcow_logs_viewer.db import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="Mailcow Logs Viewer")
    parser.add_argument("--demo", action="store_true", help="run against the built-in simulated mailcow (data/demo.db)")
    parser.add_argument("--host", help="listen address (default APP_HOST; else 127.0.0.1, or 0.0.0.0 with "
                                       "AUTH_ENABLED; always 127.0.0.1 for --demo)")
    parser.add_argument("--port", type=int, help="listen port, 1-65535 (default APP_PORT or 8080)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the app (the default)")
    commands.add_parser("fetch", help="run one fetch-and-correlate cycle and exit")
    importer = commands.add_parser("import", help="import Postfix and Dovecot syslog files")
    importer.add_argument("files", nargs="+")
    importer.add_argument("--year", type=int, help="year of BSD-style timestamps (default: inferred from the "
                          "file's time as syslog rotation implies, never in the future)")
    importer.add_argument("--tz", help="time zone of BSD-style timestamps, e.g. Europe/Berlin (default: TZ)")
    importer.add_argument("--retain", choices=("keep", "expire"), default="keep",
                          help="keep: the imported range survives the daily clean-up (default); "
                               "expire: RETENTION_DAYS applies to it like to fetched lines")
    importer.add_argument("--server", help="the server that wrote these logs (default SERVER_NAME, else the host "
                                           "of MAILCOW_URL, else 'mailcow')")
    commands.add_parser("simulate", help="run only the simulated mailcow", add_help=False)
    report = commands.add_parser("report", help="print the digest (the daily e-mail) of a range")
    report.add_argument("--since", default="24h", help="how far back: 90m, 24h, 7d (default 24h)")
    report.add_argument("--html", action="store_true", help="the HTML form instead of text")
    commands.add_parser("alert-test", help="send a test notification to every configured channel")
    forget = commands.add_parser("forget", help="remove every line, row, message and counter detail naming an address")
    forget.add_argument("address")
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Request lines and retries from urllib3 would otherwise echo URLs at INFO.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    if argv[:1] == ["simulate"]:
        from mailcow_logs_viewer.simulator import main as simulate
        return simulate(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(dict(os.environ), demo=args.demo, need_mailcow=args.command not in ("import", "forget"))
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.port is not None and not 1 <= args.port <= 65535:
        print(f"--port: must be between 1 and 65535 (got {args.port})", file=sys.stderr)
        return 2
    if args.host or args.demo:
        # The demo's simulated mail is no one's, but it listens only on loopback unless told.
        settings = settings.replace(app_host=args.host or "127.0.0.1")
    if args.port:
        settings = settings.replace(app_port=args.port)
    _configure_logging(settings.log_level if not args.demo else "INFO")
    try:
        if args.command == "fetch":
            return _fetch_once(settings)
        if args.command == "import":
            return _import(settings, args)
        if args.command == "report":
            return _report(settings, args.since, args.html)
        if args.command == "alert-test":
            return _alert_test(settings)
        if args.command == "forget":
            return _forget(settings, args.address)
        return _serve(settings)
    except StorageError as error:
        print(f"database error: {error}", file=sys.stderr)
        return 2


def _fetch_once(settings) -> int:
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.runtime import Runtime

    open_database(settings.database_path, server_name=settings.server_name)
    runtime = Runtime(settings)
    try:
        runtime.refresh_domains()
        result = runtime.fetch_and_correlate()
    except Exception as error:
        print(f"fetch failed: {error}", file=sys.stderr)
        return 1
    finally:
        runtime.client.close()
    stored = {source: r["stored"] for source, r in result["fetch"].items()}
    print(f"stored {stored}, correlated {result['correlate']['messages']} messages")
    return 0


def _import(settings, args) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from mailcow_logs_viewer.correlate import Correlator
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.importer import import_files
    from mailcow_logs_viewer.privacy import scrub_subjects

    try:
        tz = ZoneInfo(args.tz) if args.tz else settings.tzinfo
    except (ZoneInfoNotFoundError, ValueError):
        print(f"configuration error: --tz: unknown time zone (got {args.tz!r})", file=sys.stderr)
        return 2
    server = args.server or settings.server_name
    if not _SERVER_NAME.match(server):
        print(f"configuration error: --server: is not a server name (got {server!r})", file=sys.stderr)
        return 2
    open_database(settings.database_path, server_name=settings.server_name)
    try:
        report = import_files(args.files, year=args.year, tz=tz, retain=args.retain == "keep", server=server)
    except OSError as error:
        print(f"import failed: {error}", file=sys.stderr)
        return 1
    correlated = Correlator(settings.max_correlation_age_minutes).run()
    scrub_subjects(settings.redact_subjects)       # REDACT_SUBJECTS: imported lines too, before anyone reads them
    years = ", ".join(f"{name}: {'/'.join(map(str, y)) or '-'}" for name, y in report["years"].items())
    print(f"read {report['lines']} lines, {report['postfix']} Postfix lines, stored {report['stored']} new, "
          f"{report['skipped']} not syslog; {correlated['messages']} messages; year of BSD timestamps: {years}; "
          f"time zone {tz.key if hasattr(tz, 'key') else tz}")
    if report["first"] is not None:
        def iso(epoch: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
        print(f"imported range {iso(report['first'])} .. {iso(report['last'])}"
              + (" (kept through the daily clean-up)" if args.retain == "keep" else ""))
    return 0


def _report(settings, since: str, as_html: bool) -> int:
    import time

    from mailcow_logs_viewer.alerts.digest import build_report, render_html, render_text
    from mailcow_logs_viewer.alerts.engine import read_live
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.mailcow import MailcowClient

    units = {"m": 60, "h": 3600, "d": 86400}
    if len(since) < 2 or since[-1] not in units or not since[:-1].isdigit() or int(since[:-1]) == 0:
        print(f"report: --since must be like 90m, 24h or 7d (got {since!r})", file=sys.stderr)
        return 2
    open_database(settings.database_path, server_name=settings.server_name)
    now = int(time.time())
    client = MailcowClient(settings.mailcow_url, settings.mailcow_api_key, settings.mailcow_api_timeout,
                           settings.mailcow_verify_ssl)
    try:
        queue = read_live(client).queue
    finally:
        client.close()
    report = build_report(now - int(since[:-1]) * units[since[-1]], now, queue, settings.alerts.public_url)
    print(render_html(report) if as_html else render_text(report))
    return 0


def _alert_test(settings) -> int:
    """Send one test notification per channel, here and now, and say how each went."""
    from mailcow_logs_viewer.alerts.channels import ChannelError, configured_channels
    from mailcow_logs_viewer.alerts.render import test_note

    channels = configured_channels(settings.alerts)
    if not channels:
        print("alert-test: no channel is configured (see the README's alert settings)", file=sys.stderr)
        return 2
    note = test_note(settings.alerts.public_url)
    failed = 0
    for channel in channels:
        try:
            channel.send(note)
            print(f"{channel.name}: sent")
        except ChannelError as error:
            failed += 1
            print(f"{channel.name}: failed ({error})")
    return 1 if failed else 0


def _forget(settings, address: str) -> int:
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.forget import forget

    # An e-mail address, whole: "example.org" alone would match, and remove, every mail of the domain.
    local, at, domain = address.strip().rpartition("@")
    if not (local and at and domain) or any(c.isspace() or c == "\x00" for c in address.strip()):
        print(f"forget: ADDRESS must be an e-mail address such as name@example.org (got {address!r})", file=sys.stderr)
        return 2
    open_database(settings.database_path, server_name=settings.server_name)
    removed = forget(address)
    for table, rows in removed:
        print(f"{table}: {rows}")
    print(f"removed {sum(rows for _, rows in removed)} rows naming {address.strip().lower()}")
    return 0


DEMO_OAUTH_CLIENT = ("demo-oauth-client", "demo-oauth-secret")
DEMO_OIDC_CLIENT = ("demo-oidc-client", "demo-oidc-secret")
DEMO_USER, DEMO_DOMAIN_ADMIN = "john@example.org", "peter@example.net"


def _demo_sign_in(settings, simulator, port: int):
    """The demo's mailcow knows this app as an OAuth2 client, as an admin would register it
    (System > Configuration > Access > OAuth2 Apps); one mailbox is a domain admin."""
    public_url = settings.public_url or f"http://127.0.0.1:{port}"
    client_id, secret = settings.mailcow_oauth_client_id or DEMO_OAUTH_CLIENT[0], \
        settings.mailcow_oauth_client_secret or DEMO_OAUTH_CLIENT[1]
    simulator.oauth.register(client_id, secret, f"{public_url}/auth/mailcow/callback")
    # The simulator's OpenID Connect provider (simulator/oidc.py) signs admins in, unless the
    # demo was pointed at a real one.
    if not settings.oidc_client_id:
        from mailcow_logs_viewer.simulator.oidc import ADMIN_GROUP
        simulator.oidc.register(*DEMO_OIDC_CLIENT, f"{public_url}/auth/oidc/callback")
        settings = settings.replace(oidc_issuer=simulator.oidc.issuer, oidc_client_id=DEMO_OIDC_CLIENT[0],
                                    oidc_client_secret=DEMO_OIDC_CLIENT[1], oidc_admin_group=ADMIN_GROUP)
    return settings.replace(mailcow_oauth_client_id=client_id, mailcow_oauth_client_secret=secret,
                            public_url=public_url,
                            domain_admins=settings.domain_admins or ((DEMO_DOMAIN_ADMIN, ("example.net",)),))


def _demo_sign_in_hint(settings) -> str:
    if not settings.mailcow_sign_in:
        return ("  mailbox users: start the demo with AUTH_ENABLED=true AUTH_PASSWORD=... to try "
                "\"Sign in with mailcow\" as a mailbox user or a domain admin")
    admins = ", ".join(mailbox for mailbox, _ in settings.domain_admins)
    return (f"  sign in as a mailbox user: open {settings.public_url}/login, click \"Sign in with mailcow\" and "
            f"pick {DEMO_USER} on the simulated mailcow's page (domain admin: {admins}; "
            f"the admin: {settings.auth_username} with AUTH_PASSWORD, or \"Sign in with {settings.oidc_provider}\" "
            f"with the group {settings.oidc_admin_group})")


def _serve(settings) -> int:
    from mailcow_logs_viewer import create_app
    from mailcow_logs_viewer.runtime import Runtime
    from mailcow_logs_viewer.server import make_server

    try:
        # Bound before the demo's simulator starts and the old demo database is removed.
        server = make_server(None, settings.app_host, settings.app_port, settings.web_threads)
    except OSError as error:
        print(f"cannot listen on {settings.app_host}:{settings.app_port}: {error.strerror or error}", file=sys.stderr)
        return 2

    simulator, simulators = None, []
    if settings.demo:
        # The simulated history is generated afresh, relative to now, at every start: yesterday's
        # demo database would hold the same mail a second time at other times.
        for suffix in ("", "-wal", "-shm"):
            settings.database_path.with_name(settings.database_path.name + suffix).unlink(missing_ok=True)
        settings, simulators = _demo_mailcows(settings)
        simulator = simulators[0]
        if settings.auth_enabled:
            settings = _demo_sign_in(settings, simulator, server.effective_port)
    runtime = Runtime(settings)
    server.application = create_app(settings, runtime)

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    runtime.start()
    print(f"Mailcow Logs Viewer on http://{settings.app_host}:{server.effective_port}/"
          + (" (demo: simulated mailcows " + ", ".join(f"{m.name} at {m.url}" for m in settings.servers)
             + "; no release checks against GitHub)" if simulator else ""), flush=True)
    if simulator is not None:
        print(_demo_sign_in_hint(settings), flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        runtime.stop()
        for each in simulators:
            each.stop()
    return 0


def _demo_mailcows(settings):
    """Two simulated mailcows: mx1 (example.org, example.net) and mx2 (example.info, less
    traffic), which is also mx1's backup MX and relays mail for mx1's mailboxes to it; the
    settings then name them as MAILCOW_INSTANCES would."""
    from mailcow_logs_viewer.config import MailcowServer
    from mailcow_logs_viewer.simulator import start_demo_mailcows

    sims = start_demo_mailcows(2)
    servers = tuple(MailcowServer(name, sim.url, sim.api_key, settings.mailcow_api_timeout, settings.mailcow_verify_ssl)
                    for name, sim in zip(("mx1", "mx2"), sims))
    return settings.replace(instances=servers, mailcow_url=sims[0].url, mailcow_api_key=sims[0].api_key), sims


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
