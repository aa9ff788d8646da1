"""`MailcowClient`: the only code that speaks HTTP to mailcow.

mailcow's API has sharp edges (see spec/mailcow-api.md §10): `{}` for an empty list, an empty
200 body when the key is missing, `null` inside arrays, and a 401 for a wrong key that also
counts toward a netfilter ban of our IP. So: bounded retries for network errors and 5xx
only, never for a 401, and errors that say which endpoint failed and why.
"""
from __future__ import annotations

import json
import logging
import time

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


class MailcowClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0, verify_ssl: bool = True,
                 retries: int = 2, backoff: float = 0.5):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
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
        try:
            return json.loads(body)
        except ValueError:
            raise MailcowBadResponse(endpoint, f"answer is not JSON ({len(body)} bytes)") from None

    def logs(self, source: str, count: int | None = None, first: int | None = None, last: int | None = None) -> list:
        """Newest-first log entries: the newest `count`, or the 1-based window `first`-`last`.

        Entries are returned as mailcow sends them, `None` included; `{}` becomes [].
        The rspamd-history range is shifted by one on mailcow's side: callers ask for
        `first`-`last` in the same terms for every source and this method corrects it.
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
        data = self.get(endpoint)
        if isinstance(data, dict) and not data:
            return []
        if not isinstance(data, list):
            raise MailcowBadResponse(endpoint, f"expected a list, got {type(data).__name__}")
        return data

    def collection(self, endpoint: str) -> list:
        """domain/all, mailbox/all, alias/all, mailq/all, quarantine/all: `{}`/`null` -> []."""
        data = self.get(endpoint)
        if data is None or (isinstance(data, dict) and not data):
            return []
        if isinstance(data, dict):
            return [data]
        if not isinstance(data, list):
            raise MailcowBadResponse(endpoint, f"expected a list, got {type(data).__name__}")
        return [item for item in data if isinstance(item, dict)]

    def status(self, what: str):
        """status/containers, status/vmail, status/version: objects, `null` on mailcow's errors."""
        return self.get(f"status/{what}")
