"""Delivery off the writer thread: one sender thread per channel, retries with backoff.

The writer (the alerts job) stores each notification in the outbox table and hands it to the
Sender in memory; the Sender never touches the database. Results come back through
`drain_results()`, which the writer persists on its next run. So a channel that hangs or
refuses costs the fetch loop nothing, the database keeps one writer, and a restart resends
what was still pending (at least once).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

from .channels import Channel, ChannelError

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600


class Delivery(NamedTuple):
    notification_id: int | None      # the outbox row; None for a test sent from the admin's button
    channel: str
    note: dict


class Result(NamedTuple):
    notification_id: int | None
    channel: str
    delivered: bool
    attempts: int
    error: str | None
    final: bool                      # delivered, or given up after max_attempts
    at: int


@dataclass
class ChannelHealth:
    """What the Status page shows per channel (never its URL or credentials)."""
    channel: str
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    pending: int = 0
    consecutive_failures: int = 0
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None


def backoff(retry_seconds: float, attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): doubling from retry_seconds, at most an hour."""
    return min(retry_seconds * 2 ** (attempts - 1), MAX_BACKOFF)


class _Worker:
    def __init__(self, channel: Channel, sender: "Sender"):
        self.channel, self.sender = channel, sender
        self.health = ChannelHealth(channel.name)
        self._heap: list = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name=f"alert-{channel.name}", daemon=True)

    def put(self, delivery: Delivery, attempts: int = 0, due: float = 0.0) -> None:
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._seq), delivery, attempts))
            self.health.pending = len(self._heap) + self._busy
            self._wake.notify()

    def idle(self) -> bool:
        with self._wake:
            return not self._heap and not self._busy

    def _next(self):
        with self._wake:
            while not self.sender.stopping.is_set():
                if self._heap:
                    wait = self._heap[0][0] - time.time()
                    if wait <= 0:
                        self._busy = True
                        return heapq.heappop(self._heap)
                    self._wake.wait(min(wait, 1.0))
                else:
                    self._wake.wait(1.0)
            return None

    def _loop(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            _, _, delivery, attempts = item
            attempts += 1
            try:
                self.channel.send(delivery.note)
                error = None
            except ChannelError as failure:
                error = str(failure)
            except Exception as failure:  # a channel bug must not kill its thread
                error = type(failure).__name__
            self._record(delivery, attempts, error)

    def _record(self, delivery: Delivery, attempts: int, error: str | None) -> None:
        health, sender = self.health, self.sender
        now = time.time()
        final = error is None or attempts >= sender.max_attempts
        if error is None:
            health.delivered += 1
            health.consecutive_failures = 0
            health.last_success = now
        else:
            health.failed_attempts += 1
            health.consecutive_failures += 1
            health.last_error, health.last_error_at = error, now
            log.warning("alert channel %s: delivery failed (%s), attempt %d of %d%s", self.channel.name, error,
                        attempts, sender.max_attempts, "; giving up" if final else "")
            if final:
                health.given_up += 1
            else:
                self.put(delivery, attempts, now + backoff(sender.retry_seconds, attempts))
        with self._wake:
            self._busy = False
            self.health.pending = len(self._heap)
        sender.add_result(Result(delivery.notification_id, delivery.channel, error is None, attempts, error, final,
                                 int(now)))


class Sender:
    def __init__(self, channels: list[Channel], retry_seconds: float = 30, max_attempts: int = 8):
        self.retry_seconds, self.max_attempts = retry_seconds, max_attempts
        self.stopping = threading.Event()
        self._workers = {channel.name: _Worker(channel, self) for channel in channels}
        self._results: list[Result] = []
        self._results_lock = threading.Lock()
        self._started = False

    @property
    def channels(self) -> list[Channel]:
        return [worker.channel for worker in self._workers.values()]

    def start(self) -> None:
        if not self._started:
            self._started = True
            for worker in self._workers.values():
                worker._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop waiting; a delivery in flight ends at its channel timeout (the threads are daemons)."""
        self.stopping.set()
        for worker in self._workers.values():
            with worker._wake:
                worker._wake.notify()
        for worker in self._workers.values():
            if worker._thread.is_alive():
                worker._thread.join(timeout)

    def submit(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            worker = self._workers.get(delivery.channel)
            if worker is not None:
                worker.put(delivery)

    def add_result(self, result: Result) -> None:
        with self._results_lock:
            self._results.append(result)

    def drain_results(self) -> list[Result]:
        with self._results_lock:
            results, self._results = self._results, []
        return results

    def idle(self) -> bool:
        return all(worker.idle() for worker in self._workers.values())

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while not self.idle():
            if time.time() > deadline:
                return False
            time.sleep(0.02)
        return True

    def health(self) -> list[dict]:
        return [asdict(worker.health) for worker in self._workers.values()]
