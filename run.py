"""Mailcow Logs Viewer: command line.

    python run.py [--host H] [--port P]     serve the app and run the scheduler
    python run.py --demo                    the same, against the built-in simulated mailcow
    python run.py fetch                     one fetch-and-correlate cycle, then exit (cron)
    python run.py import FILE... [--year Y] import Postfix and Dovecot syslog files (plain or .gz)
    python run.py simulate --port P         run only the simulated mailcow
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from mailcow_logs_viewer.config import SettingsError, load_settings
from mailcow_logs_viewer.db import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="Mailcow Logs Viewer")
    parser.add_argument("--demo", action="store_true", help="run against the built-in simulated mailcow (data/demo.db)")
    parser.add_argument("--host", help="listen address (default APP_HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default APP_PORT or 8080)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the app (the default)")
    commands.add_parser("fetch", help="run one fetch-and-correlate cycle and exit")
    importer = commands.add_parser("import", help="import Postfix and Dovecot syslog files")
    importer.add_argument("files", nargs="+")
    importer.add_argument("--year", type=int, help="year of BSD-style timestamps (default: the file's year)")
    commands.add_parser("simulate", help="run only the simulated mailcow", add_help=False)
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
        settings = load_settings(dict(os.environ), demo=args.demo)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.host:
        settings = settings.replace(app_host=args.host)
    if args.port:
        settings = settings.replace(app_port=args.port)
    _configure_logging(settings.log_level if not args.demo else "INFO")
    try:
        if args.command == "fetch":
            return _fetch_once(settings)
        if args.command == "import":
            return _import(settings, args.files, args.year)
        return _serve(settings)
    except StorageError as error:
        print(f"database error: {error}", file=sys.stderr)
        return 2


def _fetch_once(settings) -> int:
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.runtime import Runtime

    open_database(settings.database_path)
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


def _import(settings, files: list[str], year: int | None) -> int:
    from mailcow_logs_viewer.correlate import Correlator
    from mailcow_logs_viewer.db import open_database
    from mailcow_logs_viewer.importer import import_files

    open_database(settings.database_path)
    try:
        report = import_files(files, year=year, tz=settings.tzinfo)
    except OSError as error:
        print(f"import failed: {error}", file=sys.stderr)
        return 1
    correlated = Correlator(settings.max_correlation_age_minutes).run()
    print(f"read {report['lines']} lines, {report['postfix']} Postfix lines, stored {report['stored']} new, "
          f"{report['skipped']} not syslog; {correlated['messages']} messages")
    return 0


def _serve(settings) -> int:
    from waitress import create_server

    from mailcow_logs_viewer import create_app
    from mailcow_logs_viewer.runtime import Runtime

    simulator = None
    if settings.demo:
        from mailcow_logs_viewer.simulator import start_demo_mailcow
        # The simulated history is generated afresh, relative to now, at every start: yesterday's
        # demo database would hold the same mail a second time at other times.
        for suffix in ("", "-wal", "-shm"):
            settings.database_path.with_name(settings.database_path.name + suffix).unlink(missing_ok=True)
        simulator = start_demo_mailcow()
        settings = settings.replace(mailcow_url=simulator.url, mailcow_api_key=simulator.api_key)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    server = create_server(app, host=settings.app_host, port=settings.app_port, threads=settings.web_threads,
                           ident="mailcow-logs-viewer")

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    runtime.start()
    print(f"Mailcow Logs Viewer on http://{settings.app_host}:{server.effective_port}/"
          + (f" (demo: simulated mailcow at {settings.mailcow_url})" if simulator else ""), flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        runtime.stop()
        if simulator is not None:
            simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
