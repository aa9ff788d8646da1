"""An HTTP server that answers like mailcow's `/api/v1/get/...` API (spec/mailcow-api.md, section 9),
serving what a TrafficGenerator produced, with fault switches for robustness tests."""
from __future__ import annotations

import argparse
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import objects
from .generator import DEFAULT_MIX, TrafficGenerator
from .log_lists import LogBuffer, RawJSON, parse_count, php_compact, php_pretty
from .oauth import SimulatedOAuth
from .oidc import SimulatedOIDC

FAULTS = (None, "down", "slow", "error500", "unauthorized", "empty_object", "empty_body", "truncated",
          "null_entries")
LOG_SOURCES = ("postfix", "rspamd", "netfilter", "api", "dovecot")
# Log types mailcow knows but this simulator leaves empty: they answer `{}`, not 404.
EMPTY_LOGS = ("acme", "sogo", "watchdog", "autodiscover", "ratelimited", "cron", "ui", "sasl")
ROUTE_NOT_FOUND = b'{"type":"error","msg":"route not found"}'
HTML_500 = (b"<html><head><title>500 Internal Server Error</title></head><body>"
            b"<center style='font-family:sans-serif;'>Connection to dockerapi container failed.<br>"
            b"The following error was reported:<br>Connection refused</center></body></html>")


class SimulatedMailcow:
    def __init__(self, generator: TrafficGenerator | None = None, api_key: str = "SIM-API-KEY",
                 buffer_postfix: int = 10000, buffer_rspamd: int = 1000, buffer_netfilter: int = 10000,
                 buffer_api: int = 10000, buffer_dovecot: int = 10000):
        self.generator = generator or TrafficGenerator(seed=1)
        self.api_key = api_key
        self.oauth = SimulatedOAuth(self.generator.world)    # mailcow's OAuth2 provider (simulator/oauth.py)
        self.oidc = SimulatedOIDC(self.generator.world, lambda: self.url)    # an admin IdP (simulator/oidc.py)
        self.buffers = {"postfix": LogBuffer(buffer_postfix), "rspamd": LogBuffer(buffer_rspamd),
                        "netfilter": LogBuffer(buffer_netfilter), "api": LogBuffer(buffer_api),
                        "dovecot": LogBuffer(buffer_dovecot)}
        self.requests: Counter = Counter()          # path (no query) -> count, every request that got in
        self.request_log: list[tuple[float, str, str, int]] = []   # (time, method, uri, status)
        self.fault_delay = 2.0
        self.max_body: int | None = None    # cut longer answers there, like a proxy with a size limit
        self.preloaded = 0                  # entries the last preload() produced
        self.stopped_container = "olefy"
        self.host, self.port = "127.0.0.1", 0
        self._fault = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._gen_lock = threading.Lock()
        self._live_stop: threading.Event | None = None
        self._live_thread: threading.Thread | None = None
        self._started_at = time.time()

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.host, self.port = host, port
        self._serve()
        return self.url

    def _serve(self) -> None:
        handler = type("Handler", (_Handler,), {"sim": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sim-mailcow-{self.port}", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            self._thread = None

    def stop(self) -> None:
        self.stop_live()
        self._close()

    # ---- faults ----------------------------------------------------------------------------
    @property
    def fault(self):
        return self._fault

    @fault.setter
    def fault(self, name) -> None:
        self.set_fault(name)

    def set_fault(self, name) -> None:
        """Switch a fault on (or off with None). 'down' really closes the listening socket;
        clearing it listens again on the same port."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; choose from {FAULTS}")
        was_down = self._fault == "down"
        self._fault = name
        if name == "down" and not was_down and self._httpd is not None:
            self._close()
        elif name != "down" and was_down:
            self._serve()

    # ---- data ------------------------------------------------------------------------------
    def push(self, source: str, entries) -> None:
        """Append entries given oldest first (so the newest ends first when read)."""
        self.buffers[source].push(entries)

    def push_raw(self, source: str, texts) -> None:
        """Append entries given oldest first as the raw JSON text of each (bytes)."""
        self.buffers[source].push([RawJSON(text) for text in texts])

    def advance(self, until: float) -> int:
        with self._gen_lock:
            produced = self.generator.generate(until)
        by_source: dict[str, list] = {}
        for source, entry in produced:
            by_source.setdefault(source, []).append(entry)
        for source, entries in by_source.items():
            self.push(source, entries)
        return len(produced)

    def preload(self, hours: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        self.generator.begin(now - hours * 3600)
        self.preloaded = self.advance(now)
        return self.preloaded

    def start_live(self, rate_multiplier: float = 1.0, interval: float = 5.0) -> None:
        """Advance the generator to wall-clock time every `interval` seconds (demo mode)."""
        self.stop_live()
        self.generator.rate_multiplier = rate_multiplier
        stop = self._live_stop = threading.Event()

        def loop():
            while not stop.wait(interval):
                self.advance(time.time())
        self._live_thread = threading.Thread(target=loop, name="sim-mailcow-live", daemon=True)
        self._live_thread.start()

    def stop_live(self) -> None:
        if self._live_stop is not None:
            self._live_stop.set()
            self._live_thread.join(timeout=5)
            self._live_stop = self._live_thread = None

    def buffer(self, source: str) -> list:
        """A newest-first copy of one log list."""
        return self.buffers[source].newest_first()

    def count_requests(self, prefix: str = "") -> int:
        return sum(n for p, n in self.requests.items() if p.startswith(prefix))

    # ---- routing ---------------------------------------------------------------------------
    def respond(self, method: str, uri: str, headers, remote: str, body: bytes = b"") -> tuple[int, str, bytes]:
        """(status, content type, body) for one request, as mailcow would answer it."""
        path = urlsplit(uri).path
        if path.startswith("/oauth/"):    # browsers and the product's sign-in, not the API
            return self.oauth.respond(method, uri, headers, body)
        if path.startswith("/oidc/"):
            return self.oidc.respond(method, uri, headers, body)
        fault = self._fault
        if fault == "slow":
            time.sleep(self.fault_delay)
        if fault == "error500":
            return 500, "text/html; charset=UTF-8", HTML_500
        if headers.get("Sec-Fetch-Dest") not in (None, "empty"):
            return 403, "text/html; charset=UTF-8", b""
        raw_key = headers.get("X-API-Key")
        key = re.sub(r"[^A-Za-z0-9-]", "", raw_key or "")
        if fault == "unauthorized" or (key and key != self.api_key):
            return 401, "text/html; charset=UTF-8", b'{"type":"error","msg":"authentication failed"}'
        self.buffers["api"].push([{"time": int(time.time()), "uri": uri, "method": method, "remote": remote,
                                   "data": ""}])
        if fault == "empty_body" or not key:
            return 200, "application/json", b""
        m = re.match(r"^/api/v1/(.*)$", path)
        if not m:
            return 404, "application/json", ROUTE_NOT_FOUND
        parts = m.group(1).split("/")
        action = parts[0]
        category = parts[1] if len(parts) > 1 else ""
        obj = parts[2] if len(parts) > 2 else None
        extra = parts[3] if len(parts) > 3 else None
        if action != "get":
            return 404, "application/json", ROUTE_NOT_FOUND
        if method != "GET":
            return 405, "application/json", b'{"type":"error","msg":"only GET method is allowed"}'
        status, body = self._get(category, obj, extra)
        if fault == "truncated" and body:
            body = body[:len(body) // 2]
        if self.max_body is not None:
            body = body[:self.max_body]
        return status, "application/json", body

    def _get(self, category: str, obj: str | None, extra: str | None) -> tuple[int, bytes]:
        g = self.generator
        if category == "logs":
            return self._logs(obj, extra)
        if category == "mailq":
            if obj != "all":
                return 200, b""
            with self._gen_lock:
                return 200, php_compact(g.mail_queue())
        if category == "quarantine":
            with self._gen_lock:
                rows = g.quarantine()
            return 200, php_pretty(rows) if rows else b"[]"
        if category == "status":
            if obj == "containers":
                return 200, php_compact(objects.containers(self._started_at, self.stopped_container), False)
            if obj == "vmail":
                return 200, php_compact(objects.vmail(), False)
            if obj == "version":
                return 200, php_compact({"version": objects.VERSION})
            return 200, b""
        world = g.world
        if category == "domain":
            rows = objects.domains(world, time.time())
            return 200, _one_or_all(rows, obj, "domain_name")
        if category == "mailbox":
            only = set(extra.split(",")) if obj in ("all", "reduced") and extra else None
            rows = objects.mailboxes(world, time.time(), only)
            return 200, _one_or_all(rows, obj if obj != "reduced" else "all", "username")
        if category == "alias":
            rows = objects.aliases(world)
            if obj not in (None, "all"):
                rows = [r for r in rows if str(r["id"]) == obj or r["address"] == obj]
                return 200, php_pretty(rows[0]) if rows else b"{}"
            return 200, php_pretty(rows) if rows else b"{}"
        if category == "alias-domain":
            return 200, _one_or_all(objects.alias_domains(world), obj, "alias_domain")
        return 404, ROUTE_NOT_FOUND

    def _logs(self, obj: str | None, extra: str | None) -> tuple[int, bytes]:
        source = {"postfix": "postfix", "rspamd-history": "rspamd", "netfilter": "netfilter", "api": "api",
                  "dovecot": "dovecot"}.get(obj)
        if source is None:
            return (200, b"{}") if obj in EMPTY_LOGS else (404, ROUTE_NOT_FOUND)
        if self._fault == "empty_object":
            return 200, b"{}"
        count = parse_count(extra)
        if count is False:
            return 200, b"{}"
        if count is None:
            first, last = 0, 999
        elif count[0] == "count":
            first, last = 0, count[1] - 1
        elif source == "rspamd":
            first, last = count[1], count[2]       # mailcow asks rspamd for from=F&to=T: shifted by one
        else:
            first, last = count[1] - 1, count[2] - 1
        rows = self.buffers[source].lrange(first, last)
        if not rows:
            return 200, b"{}"
        if self._fault == "null_entries":
            rows = [x for i, r in enumerate(rows) for x in ((r, None) if i % 5 == 2 else (r,))]
        if any(isinstance(r, RawJSON) for r in rows):
            return 200, b"[\n    " + b",\n    ".join(r if isinstance(r, RawJSON) else php_pretty(r)
                                                     for r in rows) + b"\n]"
        return 200, php_pretty(rows)


def _one_or_all(rows: list, obj: str | None, key: str) -> bytes:
    if obj in (None, "all"):
        return php_pretty(rows) if rows else b"{}"
    found = [r for r in rows if r[key] == obj]
    return php_pretty(found[0]) if found else b"{}"


class _Handler(BaseHTTPRequestHandler):
    sim: SimulatedMailcow
    server_version = "nginx"
    sys_version = ""

    def _handle(self) -> None:
        sim = self.sim
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length) if length else b""
        status, ctype, body = sim.respond(self.command, self.path, self.headers, self.client_address[0], received)
        sim.requests[urlsplit(self.path).path] += 1
        sim.request_log.append((time.time(), self.command, self.path, status))
        self.send_response(status)
        if ctype.startswith("location:"):     # a redirect (simulator/oauth.py)
            self.send_header("Location", ctype[len("location:"):])
            ctype = "text/html; charset=UTF-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format, *args) -> None:   # keep test output quiet
        pass


BACKUP_DOMAIN = "example.info"


def backup_mx_of(primary: TrafficGenerator) -> TrafficGenerator:
    """A second mailcow with a domain of its own and a third of the primary's traffic, which is
    also the primary's backup MX."""
    backup = TrafficGenerator(seed=primary.seed + 1, rate_per_hour=primary.rate_per_hour / 3, domains=(BACKUP_DOMAIN,),
                              alias_domains=(), queue_lifetime=primary.queue_lifetime)
    backup.relay_to(primary)
    return backup


def start_demo_mailcows(servers: int = 2, *, seed: int = 1, preload_hours: float = 6, rate_per_hour: float = 60,
                        api_key: str = "SIM-API-KEY", port: int = 0,
                        live_interval: float = 5.0) -> list[SimulatedMailcow]:
    """The demo's mailcows, started, each a living server with hours of history, brute force, a
    stopped container and live traffic: the primary (example.org, example.net), and with
    `servers=2` a backup MX (example.info, a third of the traffic) that also relays mail for
    the primary's mailboxes to it (simulator/backup_mx.py). Ports: `port` and the next one
    (0: any free ones)."""
    if servers not in (1, 2):
        raise ValueError("the simulator runs one mailcow or a primary and its backup MX (servers: 1 or 2)")
    # Shorter queue lifetime and more brute force than the defaults, so a few hours show everything.
    primary = TrafficGenerator(seed=seed, rate_per_hour=rate_per_hour, queue_lifetime=3 * 3600,
                               mix=dict(DEFAULT_MIX, sasl_bruteforce=3))
    # Incidents for the alert rules: a bounce storm, a hijacked mailbox and a brute force in turn,
    # the first one starting a minute after start-up.
    primary.scenarios.demo_cycle(time.time())
    return start_mailcows(primary, servers, api_key=api_key, host="127.0.0.1", port=port,
                          preload_hours=preload_hours, live_interval=live_interval)


def start_mailcows(primary: TrafficGenerator, servers: int, *, api_key: str, host: str, port: int,
                   preload_hours: float, live_interval: float) -> list[SimulatedMailcow]:
    """`primary` served, and with `servers=2` its backup MX (backup_mx_of) on the next port
    (port 0: any free ones), both preloaded to the same moment and living."""
    sims = [SimulatedMailcow(primary, api_key=api_key)]
    if servers == 2:
        sims.append(SimulatedMailcow(backup_mx_of(primary), api_key=f"{api_key}-MX2"))
    now = time.time()
    for n, sim in enumerate(sims):
        sim.preload(preload_hours, now=now)
        sim.start(host, port + n if port else 0)
        sim.start_live(interval=live_interval)
    return sims


def main(argv: list[str] | None = None) -> int:
    """`python run.py simulate --port P [--seed S] [--rate R] [--preload-hours H]`."""
    ap = argparse.ArgumentParser(prog="simulate", description="Serve a simulated mailcow API.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=120.0, help="messages per hour")
    ap.add_argument("--preload-hours", type=float, default=6.0)
    ap.add_argument("--api-key", default="SIM-API-KEY")
    ap.add_argument("--queue-lifetime", type=float, default=5 * 86400, help="seconds before deferred mail expires")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between live advances")
    ap.add_argument("--servers", type=int, choices=(1, 2), default=1,
                    help="2: also a backup MX (example.info) on the next port that relays to the first")
    args = ap.parse_args(argv)
    gen = TrafficGenerator(seed=args.seed, rate_per_hour=args.rate, queue_lifetime=args.queue_lifetime)
    sims = start_mailcows(gen, args.servers, api_key=args.api_key, host=args.host, port=args.port,
                          preload_hours=args.preload_hours, live_interval=args.interval)
    for sim, name in zip(sims, ("mailcow", "backup MX")):
        print(f"simulated {name} at {sim.url}  (X-API-Key: {sim.api_key})  preloaded {sim.preloaded} entries",
              flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for sim in sims:
            sim.stop()
    return 0
