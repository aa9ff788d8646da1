"""Real loopback receivers for alert channels: an HTTP server (webhook, ntfy, Slack, Discord,
Telegram, on different paths) and an aiosmtpd SMTP server. They record what arrived."""
from __future__ import annotations

import json
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpReceiver:
    """mode: "ok" answers 200, "error" answers 500, "hang" never answers (until stopped)."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.requests: list[dict] = []
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.time()})
                if receiver.mode == "hang":
                    receiver._release.wait(60)
                    return
                self.send_response(200 if receiver.mode == "ok" else 500)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def texts(self, path_prefix: str) -> list[str]:
        """The human-readable text of every request to one channel's path."""
        out = []
        for request in self.requests:
            if not request["path"].startswith(path_prefix):
                continue
            body = request["body"]
            if path_prefix.startswith("/ntfy"):
                out.append(request["headers"].get("Title", "") + "\n" + body.decode())
                continue
            data = json.loads(body)
            out.append(data.get("text") or data.get("content") or "")
        return out

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
                return "250 OK"

        from conftest import free_port
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def subjects(self) -> list[str]:
        return [message["Subject"] for _, message in self.messages]

    def stop(self):
        self.controller.stop()
