"""How mailcow keeps and writes its logs, as the simulated server needs them: the bounded
Redis lists read newest first, the count segment of a log URL, and PHP's JSON encodings."""
from __future__ import annotations

import json
import re
import threading


class RawJSON(bytes):
    """One log entry served as these exact bytes: what the JSON encoder cannot produce (invalid
    UTF-8, a lone surrogate escape, nesting deeper than any decoder's stack), for tests of how
    the app keeps one bad entry from costing the rest of its page."""


class LogBuffer:
    """A bounded log list read newest-first, like a Redis list fed by LPUSH and LTRIM.
    Stored oldest-first so appends and trims are cheap; reads slice from the end."""

    def __init__(self, maxlen: int):
        self.maxlen = maxlen
        self._items: list = []
        self._lock = threading.Lock()

    def push(self, entries) -> None:
        with self._lock:
            self._items.extend(entries)
            extra = len(self._items) - self.maxlen
            if extra > 0:
                del self._items[:extra]

    def lrange(self, first: int, last: int) -> list:
        """Redis LRANGE first..last (0-based, inclusive) on the newest-first view."""
        with self._lock:
            n = len(self._items)
            if first >= n or last < first:
                return []
            last = min(last, n - 1)
            return self._items[n - 1 - last:n - first][::-1]

    def newest_first(self) -> list:
        with self._lock:
            return self._items[::-1]

    def __len__(self) -> int:
        return len(self._items)


def parse_count(extra: str | None):
    """mailcow's count segment: None -> default, ('count', n), ('range', f, t), or False (invalid)."""
    if extra is None:
        return None
    s = re.sub(r"[^\d\-]", "", extra)
    if re.fullmatch(r"\d+", s):
        n = int(s)
        return ("count", n) if n >= 1 else False
    m = re.fullmatch(r"(\d+)-(\d+)", s)
    if m:
        f, t = int(m.group(1)), int(m.group(2))
        return ("range", f, t) if f >= 1 and t >= f else False
    return False


def php_pretty(data) -> bytes:
    """json_encode(JSON_UNESCAPED_UNICODE | JSON_PRETTY_PRINT): 4 spaces, '/' escaped as '\\/'."""
    return json.dumps(data, indent=4, ensure_ascii=False).replace("/", "\\/").encode("utf-8")


def php_compact(data, escape_slashes=True) -> bytes:
    s = json.dumps(data, separators=(",", ":"))
    return (s.replace("/", "\\/") if escape_slashes else s).encode("utf-8")
