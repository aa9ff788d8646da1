"""Retake the README's screenshots from the demo: `python docs/make_screenshots.py`.

Starts `python run.py --demo` on a free port, waits for its first fetch, and saves the
dashboard, the messages list, the details of a multi-recipient message with mixed
outcomes and the insights page as PNGs beside this file, using Debian's chromium through Playwright.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_messages(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/api/messages?limit=1", timeout=5).json()["total"] > 100:
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(1)
    raise TimeoutError("the demo stored no messages in time")


def mixed_outcome_message(url: str) -> str:
    """The newest message with several recipients whose outcomes differ."""
    for page in range(1, 20):
        for item in requests.get(f"{url}/api/messages?limit=100&page={page}", timeout=10).json()["data"]:
            if len({o["status"] for o in item.get("outcomes", [])}) > 1:
                return item["correlation_key"]
    raise LookupError("no message with mixed outcomes")


def main() -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "DATA_DIR": data_dir}
        server = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--demo", "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            wait_for_messages(url)
            key = mixed_outcome_message(url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1440, "height": 960})
                for path, name, ready in (("/", "dashboard", "#recent table"), ("/messages", "messages", "#results table"),
                                          (f"/messages/{key}", "message-details", "table"),
                                          ("/insights", "insights", "#mailboxes table")):
                    page.goto(url + path)
                    page.wait_for_selector(ready)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(800)     # let the chart finish its animation
                    page.screenshot(path=str(DOCS / f"{name}.png"))
                    print(f"saved docs/{name}.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
