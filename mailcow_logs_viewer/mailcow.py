"""`MailcowClient`: the only code that speaks HTTP to mailcow.

mailcow's API has sharp edges (see spec/mailcow-api.md §10): `{}` for an empty list, an empty
200 body when the key is missing, `null` inside arrays, and a 401 for a wrong key that also
counts toward a netfilter ban of our IP. So: bounded retries for network errors and 5xx
only, never for a 401, and errors that say which endpoint failed and why.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter

import requests

log = logging.getLogger(__name__)

LOG_ENDPOINTS = {"postfix": "logs/postfix", "rspamd": "logs/rspamd-history", "netfilter": "logs/netfilter",
                 "dovecot": "logs/dovecot"}


class MailcowError(Exception):
    """Something went wrong talking to mailcow; `endpoint` says where."""

    def __init__(self, endpoint: str, reason: str):
        super().__init__(f"mailcow {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class MailcowUnreachable(MailcowError):
    """Connection refused, DNS failure, timeout."""


class MailcowAuthError(MailcowError):
    """401: wrong key or our IP is not allowed. Never retried: each try counts toward a ban."""


class MailcowServerError(MailcowError):
    """5xx from mailcow (Redis, MySQL or dockerapi down on its side)."""


class MailcowBadResponse(MailcowError):
    """A 200 whose body is not the JSON we expect (empty, truncated, HTML)."""


class MailcowUndecodable(MailcowBadResponse):
    """A log page whose body is not even a JSON array of separable entries (cut short, say):
    the caller asks again for smaller pages."""


class RawEntry(str):
    """The text of one log entry that is not valid JSON (invalid UTF-8, nested too deep, ...):
    kept as mailcow sent it, so that it is stored raw and counted instead of failing its page."""


def as_collection(endpoint: str, data) -> list:
    """The one reading of a mailcow collection (domain/all, mailq/all, quarantine/all, ...).

    `{}` and `[]` are empty (mailcow prints `{}` for an empty list, spec §1.5); a single
    object (an `.../<name>` lookup) is a list of one; `null` and anything else is an error,
    so that a broken answer never reads as "mailcow has no domains"; `null` items are skipped.
    """
    if isinstance(data, dict):
        return [data] if data else []
    if not isinstance(data, list):
        what = "null" if data is None else type(data).__name__
        raise MailcowBadResponse(endpoint, f"expected a list, got {what}")
    return [item for item in data if isinstance(item, dict)]


# A JSON string or one structural character: enough to find where the top-level array's
# elements begin and end without decoding them.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def split_entries(body: bytes) -> list:
    """A log page whose whole-body decode failed, decoded entry by entry.

    An entry that does not decode becomes a RawEntry with its text (invalid UTF-8 replaced);
    a body that is not a complete top-level array raises ValueError.
    """
    entries, depth, start = [], 0, None
    for token in _JSON_TOKEN.finditer(body):
        char = token.group()[:1]
        if char in b"[{":
            depth += 1
            if depth == 1 and char == b"[":
                start = token.end()
            continue
        if char in b"]}":
            depth -= 1
            if depth == 0:
                _add_entry(entries, body[start:token.start()])
                if body[token.end():].strip():
                    raise ValueError("text after the array")
                return entries
            continue
        if char == b"," and depth == 1:
            _add_entry(entries, body[start:token.start()])
            start = token.end()
    raise ValueError("not a complete array")


def _add_entry(entries: list, text: bytes) -> None:
    text = text.strip()
    if not text:
        if entries:
            raise ValueError("empty element")
        return
    try:
        entries.append(json.loads(text))
    except (ValueError, RecursionError):
        entries.append(RawEntry(text.decode("utf-8", "replace")))


class MailcowClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0, verify_ssl: bool = True,
                 retries: int = 2, backoff: float = 0.5):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        # Log traffic per source, as received (bytes of the decoded body) and requests made:
        # the ingestor reports what each fetch cost mailcow.
        self.received: Counter = Counter()
        self.requests_made: Counter = Counter()
        self._traffic_lock = threading.Lock()
        self.session.verify = verify_ssl
        self.session.headers.update({
            "X-API-Key": api_key,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": "mailcow-logs-viewer",
        })

    def close(self) -> None:
        self.session.close()

    def get(self, endpoint: str):
        """GET /api/v1/get/<endpoint> and return the decoded JSON."""
        body = self.get_body(endpoint)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise MailcowBadResponse(endpoint, f"answer is not JSON ({len(body)} bytes)") from None

    def get_body(self, endpoint: str) -> bytes:
        """GET /api/v1/get/<endpoint>: the body of a 200 that is not empty."""
        url = f"{self.base_url}/api/v1/get/{endpoint}"
        attempt = 0
        while True:
            try:
                return self._get_once(endpoint, url)
            except (MailcowUnreachable, MailcowServerError) as error:
                if attempt >= self.retries:
                    raise
                attempt += 1
                log.info("%s; retry %d of %d", error, attempt, self.retries)
                time.sleep(self.backoff * 2 ** (attempt - 1))

    def _get_once(self, endpoint: str, url: str):
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.Timeout:
            raise MailcowUnreachable(endpoint, f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise MailcowUnreachable(endpoint, f"cannot connect ({type(error).__name__})") from None
        if response.status_code == 401:
            raise MailcowAuthError(endpoint, "401 authentication failed: check MAILCOW_API_KEY and the key's allowed IPs "
                                             "(each failed try counts toward a netfilter ban of this host)")
        if response.status_code >= 500:
            raise MailcowServerError(endpoint, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise MailcowBadResponse(endpoint, f"HTTP {response.status_code}")
        body = response.content
        if not body.strip():
            raise MailcowBadResponse(endpoint, "empty answer (mailcow sends this when the API key is missing or lacks rights)")
        return body

    def logs(self, source: str, count: int | None = None, first: int | None = None, last: int | None = None) -> list:
        """Newest-first log entries: the newest `count`, or the 1-based window `first`-`last`.

        Entries are returned as mailcow sends them, `None` included; `{}` becomes []; an
        entry that is not valid JSON is a RawEntry. The rspamd-history range is shifted by one
        on mailcow's side: callers ask for `first`-`last` in the same terms for every source
        and this method corrects it. Raises MailcowUndecodable for a body that is not a
        complete array.
        """
        endpoint = LOG_ENDPOINTS[source]
        if count is not None:
            endpoint = f"{endpoint}/{int(count)}"
        else:
            if source == "rspamd":
                # mailcow maps F-T to rspamd's 0-based LRANGE F..T (spec §2.4): ask one lower.
                first, last = first - 1, last - 1
                if first < 1:
                    # "0-N" is invalid on mailcow's side; a plain count gives the newest rows.
                    return self.logs(source, count=last + 1)
            endpoint = f"{endpoint}/{int(first)}-{int(last)}"
        try:
            body = self.get_body(endpoint)
        finally:
            with self._traffic_lock:
                self.requests_made[source] += 1
        with self._traffic_lock:
            self.received[source] += len(body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            # One bad entry must not cost the page: decode it entry by entry.
            try:
                return split_entries(body)
            except ValueError:
                raise MailcowUndecodable(endpoint, f"answer is not JSON: not a complete array of entries ({len(body)} bytes)") from None
        if isinstance(data, dict) and not data:
            return []
        if not isinstance(data, list):
            raise MailcowBadResponse(endpoint, f"expected a list, got {type(data).__name__}")
        return data

    def collection(self, endpoint: str) -> list:
        """domain/all, mailbox/all, alias/all, mailq/all, quarantine/all (see as_collection)."""
        return as_collection(endpoint, self.get(endpoint))

    def status(self, what: str):
        """status/containers, status/vmail, status/version: objects, `null` on mailcow's errors."""
        return self.get(f"status/{what}")
