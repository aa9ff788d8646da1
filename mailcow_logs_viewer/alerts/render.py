"""Notification texts: one plain text and one HTML rendering of an alert event.

Alert details quote log text (remote replies, usernames), which is attacker-controlled: the
HTML form escapes every value, the chat forms send plain text (Slack escapes &, <, >;
Discord is sent with mentions disabled; Telegram without a parse mode).
"""
from __future__ import annotations

import html

EVENT_WORDS = {"opened": "ALERT", "resolved": "RESOLVED", "test": "TEST", "digest": "DIGEST"}


def _when(moment: str | None) -> str:
    return moment or "–"


def test_note(public_url: str) -> dict:
    """What "send a test" sends (the admin's button and `run.py alert-test`)."""
    return {"event": "test", "key": "test", "rule": "test", "severity": "warning", "state": "open",
            "title": "Test notification from Mailcow Logs Viewer",
            "detail": "If you read this, alerts reach this channel.", "count": 0, "url": public_url}


def subject(note: dict) -> str:
    return f"[{EVENT_WORDS.get(note['event'], note['event'].upper())}] {note['title']}"


def plain_text(note: dict) -> str:
    if note["event"] == "digest":
        return note["text"]
    lines = [subject(note), "", note.get("detail") or ""]
    if note["event"] == "resolved":
        lines.append(f"Open from {_when(note.get('opened_at'))} to {_when(note.get('resolved_at'))}; "
                     f"last seen {_when(note.get('last_seen'))}.")
    elif note["event"] == "opened":
        lines.append(f"Since {_when(note.get('opened_at'))}.")
    if note.get("url"):
        lines += ["", note["url"]]
    return "\n".join(line for line in lines if line is not None).strip() + "\n"


def html_text(note: dict) -> str:
    if note["event"] == "digest":
        return note["html"]
    e = html.escape
    parts = [f"<h2>{e(subject(note))}</h2>", f"<p>{e(note.get('detail') or '')}</p>"]
    if note["event"] == "resolved":
        parts.append(f"<p>Open from {e(_when(note.get('opened_at')))} to {e(_when(note.get('resolved_at')))}.</p>")
    if note.get("url"):
        parts.append(f'<p><a href="{e(note["url"], quote=True)}">Open in Mailcow Logs Viewer</a></p>')
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
