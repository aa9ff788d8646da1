"""The daily release check: what the newest release of this app and of mailcow is.

Runs on the scheduler thread (once at start-up, then every 24 h). Requests only ever read
`runtime.version_checks`; they never reach out to GitHub themselves, so a slow or offline
GitHub cannot slow down the dashboard. Each check replaces its entry in one assignment, so a
reader sees either the old or the new result, never half of one.
"""
from __future__ import annotations

import logging
import re
import time

import requests

log = logging.getLogger(__name__)

TIMEOUT = 5.0
MAX_CHANGELOG = 20000
TARGETS = (("app", "app_version_url"), ("mailcow", "mailcow_version_url"))


def fetch_latest_release(url: str, timeout: float = TIMEOUT) -> dict:
    """GitHub's `releases/latest` JSON -> {latest_version, changelog, published_at, release_url}.

    Raises RuntimeError with a short, secret-free reason on any failure.
    """
    try:
        response = requests.get(url, timeout=timeout, headers={
            "Accept": "application/vnd.github+json", "User-Agent": "mailcow-logs-viewer"})
    except requests.Timeout:
        raise RuntimeError(f"no answer within {timeout:g} s") from None
    except requests.RequestException as error:
        raise RuntimeError(f"cannot connect ({type(error).__name__})") from None
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise RuntimeError("answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("tag_name"), str) or not data["tag_name"].strip():
        raise RuntimeError("answer has no tag_name")
    body = data.get("body")
    return {
        "latest_version": data["tag_name"].strip(),
        "changelog": body[:MAX_CHANGELOG] if isinstance(body, str) else None,
        "published_at": data.get("published_at") if isinstance(data.get("published_at"), str) else None,
        "release_url": data.get("html_url") if isinstance(data.get("html_url"), str) else None,
    }


def check_one(url: str, previous: dict | None = None, now: float | None = None, timeout: float = TIMEOUT) -> dict:
    """One check; on failure the last known release is kept beside the error."""
    now = time.time() if now is None else now
    try:
        result = fetch_latest_release(url, timeout)
    except RuntimeError as error:
        kept = {k: (previous or {}).get(k) for k in ("latest_version", "changelog", "published_at", "release_url")}
        return {**kept, "last_checked": now, "error": f"release check failed: {error}",
                "last_success": (previous or {}).get("last_success")}
    return {**result, "last_checked": now, "error": None, "last_success": now}


def check_versions(runtime, timeout: float = TIMEOUT) -> dict:
    """The scheduled job: check both release feeds and store the results in runtime.version_checks."""
    settings = runtime.settings
    summary = {}
    for key, setting in TARGETS:
        url = getattr(settings, setting, "") or ""
        if not url:
            runtime.version_checks[key] = {"latest_version": None, "changelog": None, "published_at": None,
                                           "release_url": None, "last_checked": time.time(),
                                           "error": "release check disabled (no URL configured)",
                                           "last_success": None}
        else:
            runtime.version_checks[key] = check_one(url, runtime.version_checks.get(key), timeout=timeout)
        entry = runtime.version_checks[key]
        if entry["error"]:
            log.info("%s %s", key, entry["error"])
        summary[key] = entry["latest_version"] if not entry["error"] else "error"
    return summary


# ------------------------------------------------------------------ comparing versions

_MAILCOW_TAG = re.compile(r"^(\d{4})-(\d{2})([a-z]*)$")
_SEMVER = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-+].*)?$")


def _key(version: str):
    version = version.strip()
    match = _MAILCOW_TAG.match(version)
    if match:
        return ("mailcow", int(match.group(1)), int(match.group(2)), match.group(3))
    match = _SEMVER.match(version)
    if match:
        numbers = tuple(int(part) for part in match.group(1).split("."))
        prerelease = version.lstrip("v") != match.group(1)
        return ("semver", numbers + (0,) * (4 - len(numbers)), not prerelease)
    return None


def is_newer(latest: str | None, current: str | None) -> bool:
    """True when `latest` is a newer release than `current`.

    mailcow tags (`2026-03b`) and dotted versions (`v1.4.3`) are compared by value. Anything
    else (a nightly build's commit hash, a renamed tag) cannot be ordered: not "newer".
    """
    if not latest or not current:
        return False
    a, b = _key(latest), _key(current)
    if a is None or b is None or a[0] != b[0]:
        return False
    return a > b
