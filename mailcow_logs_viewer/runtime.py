"""What a running app holds besides the database: the mailcow client, the scheduler and its
jobs, and what we last learned about mailcow's reachability."""
from __future__ import annotations

import logging
import time

from .alerts.engine import AlertEngine
from .audit import AuditLog
from .correlate import Correlator
from .domains import refresh_local_domains
from .ingest import FetchFailed
from .jobs import JobRunner
from .mailcow import MailcowClient
from .privacy import anonymize_ips, scrub_subjects
from .retention import cleanup
from .server_runtime import ServerRuntime
from .versions import check_versions

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings, client: MailcowClient | None = None):
        """`client`: the (first) server's client, for tests that bring their own."""
        self.settings = settings
        self.alerts = AlertEngine(settings, None)
        self.servers: dict[str, ServerRuntime] = {}
        for index, server in enumerate(settings.servers):
            self.servers[server.name] = ServerRuntime(server, settings, client if index == 0 else None,
                                                      self.alerts.note_fetch)
        self.alerts.client = self.client
        self.runner: JobRunner | None = None
        self.correlator = Correlator(settings.max_correlation_age_minutes)
        self.started_at = time.time()
        self.version_checks: dict = {}
        self.audit = AuditLog()

    # -------------------------------------------------------------- the first server (one server: the server)

    @property
    def first(self) -> ServerRuntime:
        return next(iter(self.servers.values()))

    @property
    def client(self) -> MailcowClient:
        return self.first.client

    @property
    def live(self):
        return self.first.live

    @property
    def mailcow_state(self) -> dict:
        return self.first.state.as_dict()

    @property
    def key_refused(self) -> bool:
        """Some server refused our key at its last answer: /api/health says degraded."""
        return any(s.state.key_refused for s in self.servers.values())

    def note_mailcow(self, error: Exception | None) -> None:
        self.first.note_mailcow(error)

    # -------------------------------------------------------------- jobs

    def fetch_and_correlate(self) -> dict:
        """Every server's fetch, each on its own thread, then what they stored correlated; waits
        for all of them (`run.py fetch`, tests). A failed server's error is raised after the
        others are done; what arrived is correlated either way."""
        futures = {name: s.start_fetch(self.correlator.run) for name, s in self.servers.items()}
        results, failures = {}, []
        for name, future in futures.items():
            if future is None:
                continue
            try:
                results[name] = future.result()
            except FetchFailed as failure:
                failures.append((name, failure))
        if failures:
            raise _several_failed(failures, len(self.servers))
        return _summed(results)

    def fetch_servers(self) -> dict:
        """The scheduled fetch. One server: as `fetch_and_correlate`. Several: start the fetch of
        every server whose last one is done and return at once, so that a slow or dead server
        never holds up another's next cycle; the job reports each server's last finished fetch."""
        if len(self.servers) == 1:
            return self.fetch_and_correlate()
        started = [name for name, s in self.servers.items() if s.start_fetch(self.correlator.run) is not None]
        failures = [(name, s.last_failure) for name, s in self.servers.items() if s.last_failure is not None]
        if failures:
            raise _several_failed(failures, len(self.servers))
        return {"started": started, "busy": sorted(set(self.servers) - set(started))}

    def refresh_domains(self) -> dict:
        domains, failed = refresh_local_domains({name: s.client for name, s in self.servers.items()},
                                                self.settings.local_domains)
        for name, s in self.servers.items():
            s.note_mailcow(failed.get(name))
        if failed and len(failed) == len(self.servers):
            raise next(iter(failed.values()))
        return {"domains": domains} | ({"failed": sorted(failed)} if failed else {})

    def build_runner(self) -> JobRunner:
        settings = self.settings
        runner = JobRunner(str(settings.database_path.resolve()))
        runner.every(3600, "refresh_domains", "local domains and alias domains from mailcow", self.refresh_domains)
        runner.every(settings.fetch_interval, "fetch_logs", "fetch Postfix, Rspamd and netfilter logs, then correlate"
                     + (f" ({len(self.servers)} servers, each on its own)" if len(self.servers) > 1 else ""),
                     self.fetch_servers, writes=False)
        # Registered right after the fetch: due at the same moments, it runs just after each fetch.
        runner.every(settings.fetch_interval, "evaluate_alerts", "evaluate alert rules and queue notifications",
                     self.alerts.evaluate)
        if settings.alerts.digest_hour is not None:
            from .alerts.digest import send_digest
            runner.daily(settings.alerts.digest_hour, settings.tzinfo, "send_digest",
                         "daily digest by e-mail and webhook" + (" (weekly on Mondays)" if settings.alerts.digest_weekly else ""),
                         lambda: send_digest(self))
        runner.every(settings.correlation_check_interval, "complete_correlations", "link late lines to their messages",
                     self.correlator.run)
        runner.every(10, "write_audit", "store sign-ins and exports in the audit log", self.audit.flush)
        runner.every(300, "expire_correlations", "flag Rspamd rows whose Postfix lines never came",
                     self.correlator.expire)
        forever = settings.counter_retention_days is None
        runner.daily(settings.cleanup_hour, settings.tzinfo, "cleanup_logs",
                     f"delete raw lines older than {settings.retention_days} days, messages older than "
                     f"{settings.message_retention_days} days, daily counters "
                     + ("never" if forever else f"older than {settings.counter_retention_days} days"),
                     lambda: cleanup(settings.retention_days, settings.message_retention_days,
                                     settings.counter_retention_days))
        if settings.anonymize_ips_after_days is not None:
            runner.daily(settings.cleanup_hour, settings.tzinfo, "anonymize_ips",
                         f"truncate client IPs older than {settings.anonymize_ips_after_days} days",
                         lambda: anonymize_ips(settings.anonymize_ips_after_days))
        if settings.redact_subjects:
            # At start-up, then daily: rows stored before the setting was on, and imported ones.
            runner.every(86400, "redact_subjects", "redact the subjects of rows stored before REDACT_SUBJECTS",
                         lambda: scrub_subjects(True))
        if not settings.demo:   # the demo stays off the internet
            runner.every(86400, "version_check", "check for new releases", lambda: check_versions(self))
        self.runner = runner
        return runner

    def start(self) -> JobRunner:
        runner = self.build_runner()
        self.alerts.resume_pending()
        self.alerts.start()
        runner.start()
        return runner

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.alerts.stop()
        for server in self.servers.values():
            server.close()


def _several_failed(failures: list[tuple[str, FetchFailed]], servers: int) -> FetchFailed:
    """One server: its failure as it was. Several: one failure naming each failed server."""
    if servers == 1:
        return failures[0][1]
    return FetchFailed("; ".join(f"{name}: {failure}" for name, failure in failures),
                       {name: failure.results for name, failure in failures},
                       [cause for _, failure in failures for cause in failure.causes])


def _summed(results: dict[str, dict]) -> dict:
    """Per source, the servers' fetch figures added up (`fetch`), each server's (`servers`), and
    the last correlation's figures."""
    fetch: dict[str, dict] = {}
    for result in results.values():
        for source, figures in result["fetch"].items():
            total = fetch.setdefault(source, dict.fromkeys(figures, 0))
            for key, value in figures.items():
                total[key] += value
    last = list(results.values())[-1]["correlate"] if results else {}
    return {"fetch": fetch, "correlate": last, "servers": {name: r["fetch"] for name, r in results.items()}}
