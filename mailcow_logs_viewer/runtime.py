"""What a running app holds besides the database: the mailcow client, the scheduler and its
jobs, and what we last learned about mailcow's reachability."""
from __future__ import annotations

import logging
import threading
import time

from .alerts.engine import AlertEngine
from .audit import AuditLog
from .correlate import Correlator
from .domains import refresh_local_domains
from .ingest import FetchFailed, Ingestor
from .jobs import JobRunner
from .mailcow import MailcowAuthError, MailcowClient
from .mailcow_live import MailcowLive
from .privacy import anonymize_ips, scrub_subjects
from .retention import cleanup
from .versions import check_versions

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings, client: MailcowClient | None = None):
        self.settings = settings
        self.client = client or MailcowClient(settings.mailcow_url, settings.mailcow_api_key,
                                              settings.mailcow_api_timeout, settings.mailcow_verify_ssl)
        self.runner: JobRunner | None = None
        self.correlator = Correlator(settings.max_correlation_age_minutes)
        self.started_at = time.time()
        self.mailcow_state = {"reachable": None, "last_success": None, "last_error": None, "last_error_at": None}
        self.key_refused = False     # the last answer from mailcow was a 401: /api/health says degraded
        self._state_lock = threading.Lock()
        self.live = MailcowLive(self.client, settings.status_cache_seconds, settings.mailcow_api_key,
                                self.note_mailcow)
        self.version_checks: dict = {}
        self.alerts = AlertEngine(settings, self.client)
        self.audit = AuditLog()

    # -------------------------------------------------------------- mailcow reachability

    def note_mailcow(self, error: Exception | None) -> None:
        with self._state_lock:
            self.key_refused = isinstance(error, MailcowAuthError)
            if error is None:
                self.mailcow_state.update(reachable=True, last_success=time.time())
            else:
                self.mailcow_state.update(reachable=False, last_error=str(error), last_error_at=time.time())

    # -------------------------------------------------------------- jobs

    def fetch_and_correlate(self) -> dict:
        ingestor = Ingestor(self.client, self.settings)
        try:
            fetched = ingestor.fetch_all()
        except FetchFailed as error:
            self.note_mailcow(error.mailcow_error)
            self.alerts.note_fetch(error.mailcow_error)
            # What did arrive is still worth correlating before we report the failure.
            self.correlator.run()
            raise
        self.note_mailcow(None)
        self.alerts.note_fetch(None)
        return {"fetch": fetched, "correlate": self.correlator.run()}

    def refresh_domains(self) -> dict:
        return {"domains": refresh_local_domains(self.client, self.settings.local_domains)}

    def build_runner(self) -> JobRunner:
        settings = self.settings
        runner = JobRunner(str(settings.database_path.resolve()))
        runner.every(3600, "refresh_domains", "local domains and alias domains from mailcow", self._guarded_domains)
        runner.every(settings.fetch_interval, "fetch_logs", "fetch Postfix, Rspamd and netfilter logs, then correlate",
                     self.fetch_and_correlate)
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

    def _guarded_domains(self) -> dict:
        try:
            result = self.refresh_domains()
        except Exception as error:
            self.note_mailcow(error)
            raise
        return result

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
        self.client.close()
