"""One mailcow server in a running app: its client, its live reads, its reachability, and its
fetch, which runs on a thread of its own.

Why a thread per server and one write lock (ARCHITECTURE "one writer", "the writes kept
serialized"): a fetch is mostly waiting for mailcow (a dead server costs timeouts x retries,
minutes), and that wait must never delay another server's fetch. So each server pages through
its logs on its own thread, and every database write of a fetch (staging a page, moving it into
the log table, its state, the correlation that follows) runs under `jobs.write_lock`, which the
scheduler's other jobs hold too. The writes stay serialized and short; only the waiting runs
side by side. Handing parsed pages to the scheduler thread instead would serialize the same
writes but need a queue and a second copy of the paging state; the lock keeps the fetch code
as it was.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from .config import MailcowServer
from .ingest import FetchFailed, Ingestor
from .jobs import write_lock
from .mailcow import MailcowAuthError, MailcowClient
from .mailcow_live import MailcowLive


@dataclass
class ServerState:
    """What we last learned about one server (the Status page's card, /api/servers)."""
    reachable: bool | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    key_refused: bool = False         # its last answer was a 401: /api/health says degraded
    fetching: bool = False
    last_fetch_started: float | None = None
    last_fetch_seconds: float | None = None

    def as_dict(self) -> dict:
        return {"reachable": self.reachable, "last_success": self.last_success, "last_error": self.last_error,
                "last_error_at": self.last_error_at}


class ServerRuntime:
    def __init__(self, server: MailcowServer, settings, client: MailcowClient | None = None, on_fetch=None):
        self.server = server
        self.name = server.name
        self.settings = settings
        self.client = client or MailcowClient(server.url, server.api_key, server.api_timeout, server.verify_ssl)
        self.state = ServerState()
        self._lock = threading.Lock()
        self.live = MailcowLive(self.client, settings.status_cache_seconds, server.api_key, self.note_mailcow)
        self._on_fetch = on_fetch or (lambda server, error: None)
        # One long-lived thread: its database connection (and attached staging file) is kept.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"fetch-{self.name}")
        self._running: Future | None = None
        self.last_result: dict | None = None
        self.last_failure: FetchFailed | None = None

    def note_mailcow(self, error: Exception | None) -> None:
        with self._lock:
            self.state.key_refused = isinstance(error, MailcowAuthError)
            if error is None:
                self.state.reachable, self.state.last_success = True, time.time()
            else:
                self.state.reachable, self.state.last_error, self.state.last_error_at = False, str(error), time.time()

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def start_fetch(self, correlate) -> Future | None:
        """Fetch on this server's thread (None when its previous fetch still runs); `correlate`
        runs after it, under the write lock, also when the fetch failed (what came is worth it)."""
        if self.busy:
            return None
        self._running = self._executor.submit(self._fetch, correlate)
        return self._running

    def wait(self, timeout: float | None = None) -> bool:
        """Until the running fetch (if any) is done; False if it still runs after `timeout`."""
        running = self._running
        if running is None:
            return True
        try:
            running.exception(timeout)
        except TimeoutError:
            return False
        return True

    def _fetch(self, correlate) -> dict:
        started = time.time()
        self.state.fetching, self.state.last_fetch_started = True, started
        try:
            ingestor = Ingestor(self.client, self.settings, server=self.name, write_lock=write_lock)
            try:
                fetched = ingestor.fetch_all()
            except FetchFailed as failure:
                self.note_mailcow(failure.mailcow_error)
                self._on_fetch(self.name, failure.mailcow_error)
                self.last_failure = failure
                with write_lock:
                    correlate()
                raise
            self.note_mailcow(None)
            self._on_fetch(self.name, None)
            self.last_failure, self.last_result = None, fetched
            with write_lock:
                return {"fetch": fetched, "correlate": correlate()}
        finally:
            self.state.fetching = False
            self.state.last_fetch_seconds = time.time() - started

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()
