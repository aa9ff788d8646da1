"""The schedule loop: what runs when, on the one writer thread.

Every job is guarded: an exception is logged and recorded in the job's status, and the loop
goes on. The status (interval, last run, duration, error, next run) is what
`/api/settings/info` reports under `background_jobs`.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import schedule

log = logging.getLogger(__name__)

# Every write to the database by a job or a server's fetch thread (server_runtime.py) holds it:
# the writes stay serialized while the fetches wait for their servers side by side. Re-entrant:
# a job may call code that takes it again.
write_lock = threading.RLock()


@dataclass
class JobStatus:
    name: str
    description: str
    interval_seconds: int | None = None
    daily_at: str | None = None
    last_run: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    last_result: dict = field(default_factory=dict)
    runs: int = 0
    failures: int = 0
    running: bool = False
    next_run: float | None = None


class JobRunner:
    """One background thread running a `schedule.Scheduler`; one per database, never two."""

    _active_databases: set[str] = set()
    _registry_lock = threading.Lock()

    def __init__(self, database_key: str, tick: float = 0.5):
        self.database_key = database_key
        self.tick = tick
        self.scheduler = schedule.Scheduler()
        self.statuses: dict[str, JobStatus] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()
        self._unlocked: set[str] = set()

    def every(self, seconds: int, name: str, description: str, func, writes: bool = True) -> JobStatus:
        """`writes=False`: a job that takes `write_lock` itself around its writes (the fetch)."""
        status = JobStatus(name, description, interval_seconds=seconds)
        self.statuses[name] = status
        if not writes:
            self._unlocked.add(name)
        job = self.scheduler.every(seconds).seconds.do(self.run_job, name, func)
        status.next_run = job.next_run.timestamp() if job.next_run else None
        return status

    def daily(self, hour: int, tz, name: str, description: str, func) -> JobStatus:
        """Run `func` once a day at `hour` o'clock in `tz` (checked every minute, DST-safe)."""
        status = JobStatus(name, description, daily_at=f"{hour:02d}:00")
        self.statuses[name] = status
        state = {"last_day": datetime.now(tz).date()}

        def next_occurrence() -> float:
            now = datetime.now(tz)
            target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
            if target <= now:
                target += timedelta(days=1)
            return target.timestamp()

        def check():
            now = datetime.now(tz)
            if now.hour == hour and state["last_day"] != now.date():
                state["last_day"] = now.date()
                self.run_job(name, func)
            status.next_run = next_occurrence()

        status.next_run = next_occurrence()
        self.scheduler.every(60).seconds.do(check)
        return status

    def run_job(self, name: str, func) -> None:
        status = self.statuses[name]
        with self._run_lock, (nullcontext() if name in self._unlocked else write_lock):
            status.running = True
            started = time.time()
            try:
                result = func()
                status.last_error = None
                status.last_result = result if isinstance(result, dict) else {}
            except Exception as error:  # a job must never stop the loop
                status.failures += 1
                status.last_error = f"{type(error).__name__}: {error}"
                log.error("job %s failed: %s", name, status.last_error, exc_info=not _is_expected(error))
            finally:
                status.running = False
                status.runs += 1
                status.last_run = started
                status.last_duration = time.time() - started
                self._refresh_next_runs()

    def _refresh_next_runs(self) -> None:
        for job in self.scheduler.jobs:
            if len(job.job_func.args) == 2 and job.job_func.args[0] in self.statuses:
                self.statuses[job.job_func.args[0]].next_run = job.next_run.timestamp() if job.next_run else None

    def run_all_now(self) -> None:
        """Run every interval job once, in registration order (start-up, and `run.py fetch`)."""
        for job in list(self.scheduler.jobs):
            if len(job.job_func.args) == 2:
                job.run()

    def start(self, run_immediately: bool = True) -> None:
        with self._registry_lock:
            if self.database_key in self._active_databases:
                raise RuntimeError(f"a scheduler already runs for {self.database_key}")
            self._active_databases.add(self.database_key)
        self._thread = threading.Thread(target=self._loop, args=(run_immediately,), name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self, run_immediately: bool) -> None:
        if run_immediately:
            self.run_all_now()
        while not self._stop.is_set():
            self.scheduler.run_pending()
            self._stop.wait(self.tick)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the running job finish (its transaction commits or rolls back), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._registry_lock:
            self._active_databases.discard(self.database_key)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _is_expected(error: Exception) -> bool:
    from .mailcow import MailcowError
    return isinstance(error, MailcowError)
