"""The channels a notification can go to: a signed JSON webhook, ntfy, Slack-compatible and
Discord webhooks, Telegram, and e-mail (smtplib, plain text and HTML).

A channel's `send(note)` either returns or raises ChannelError with a short reason that never
contains a URL or a credential (requests' own messages quote the URL, and chat webhook URLs
and the Telegram API path carry tokens), so the reason can go to logs and the Status page.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import requests

from .render import html_text, plain_text, slack_escape, subject

SIGNATURE_HEADER = "X-MLV-Signature-256"


class ChannelError(Exception):
    """A delivery failed; str() is safe to show (no URL, no secret)."""


class Channel:
    name = "channel"
    digests = False              # does this channel get digests (e-mail and the webhook)?

    def __init__(self, timeout: float):
        self.timeout = timeout

    def send(self, note: dict) -> None:
        raise NotImplementedError

    def _post(self, url: str, **kwargs) -> None:
        try:
            response = requests.post(url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise ChannelError(f"no answer within {self.timeout:g} s") from None
        except requests.ConnectionError:
            raise ChannelError("connection failed") from None
        except requests.RequestException as error:
            raise ChannelError(type(error).__name__) from None
        if not 200 <= response.status_code < 300:
            raise ChannelError(f"HTTP {response.status_code}")


class WebhookChannel(Channel):
    """POST the event as JSON; with a secret, an HMAC-SHA256 of the body in X-MLV-Signature-256."""
    name = "webhook"
    digests = True

    def __init__(self, url: str, secret: str, timeout: float):
        super().__init__(timeout)
        self._url, self._secret = url, secret

    def send(self, note: dict) -> None:
        body = json.dumps({**note, "text": plain_text(note)}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "mailcow-logs-viewer"}
        if self._secret:
            digest = hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        self._post(self._url, data=body, headers=headers)


class NtfyChannel(Channel):
    name = "ntfy"

    def __init__(self, url: str, token: str, timeout: float):
        super().__init__(timeout)
        self._url, self._token = url, token

    def send(self, note: dict) -> None:
        # HTTP headers are Latin-1: a title with other characters is sent without them.
        headers = {"Title": subject(note).encode("latin-1", "replace").decode("latin-1"),
                   "Priority": "high" if note.get("severity") == "critical" and note["event"] == "opened" else "default",
                   "Tags": "warning" if note["event"] == "opened" else "white_check_mark"}
        if note.get("url"):
            headers["Click"] = note["url"]
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._post(self._url, data=plain_text(note).encode(), headers=headers)


class SlackChannel(Channel):
    """Slack incoming webhooks; Mattermost and Rocket.Chat take the same {"text": ...}."""
    name = "slack"

    def __init__(self, url: str, timeout: float):
        super().__init__(timeout)
        self._url = url

    def send(self, note: dict) -> None:
        self._post(self._url, json={"text": slack_escape(plain_text(note))})


class DiscordChannel(Channel):
    name = "discord"

    def __init__(self, url: str, timeout: float):
        super().__init__(timeout)
        self._url = url

    def send(self, note: dict) -> None:
        # Log text could contain @everyone: no mention may ping anyone.
        self._post(self._url, json={"content": plain_text(note)[:1900], "allowed_mentions": {"parse": []}})


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(self, api_url: str, token: str, chat_id: str, timeout: float):
        super().__init__(timeout)
        self._url, self._chat_id = f"{api_url}/bot{token}/sendMessage", chat_id

    def send(self, note: dict) -> None:
        self._post(self._url, json={"chat_id": self._chat_id, "text": plain_text(note)[:4000],
                                    "disable_web_page_preview": True})


class EmailChannel(Channel):
    name = "email"
    digests = True

    def __init__(self, channels, timeout: float):
        super().__init__(timeout)
        self._c = channels

    def message(self, note: dict) -> EmailMessage:
        c = self._c
        message = EmailMessage()
        message["Subject"] = subject(note)
        message["From"] = c.smtp_from
        message["To"] = ", ".join(c.email_to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=c.smtp_from.rpartition("@")[2] or None)
        message.set_content(plain_text(note))
        message.add_alternative(html_text(note), subtype="html")
        return message

    def send(self, note: dict) -> None:
        c = self._c
        port = c.smtp_port or (465 if c.smtp_tls == "ssl" else 587 if c.smtp_tls == "starttls" else 25)
        try:
            if c.smtp_tls == "ssl":
                smtp = smtplib.SMTP_SSL(c.smtp_host, port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(c.smtp_host, port, timeout=self.timeout)
            with smtp:
                if c.smtp_tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if c.smtp_user:
                    smtp.login(c.smtp_user, c.smtp_password)
                smtp.send_message(self.message(note))
        except smtplib.SMTPResponseException as error:
            raise ChannelError(f"SMTP {error.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise ChannelError(f"SMTP: {type(error).__name__}") from None


def configured_channels(alerts) -> list[Channel]:
    """The channels whose variables are set, in a fixed order."""
    c, timeout = alerts.channels, alerts.channel_timeout
    found: list[Channel] = []
    if c.webhook_url:
        found.append(WebhookChannel(c.webhook_url, c.webhook_secret, timeout))
    if c.ntfy_url:
        found.append(NtfyChannel(c.ntfy_url, c.ntfy_token, timeout))
    if c.slack_webhook_url:
        found.append(SlackChannel(c.slack_webhook_url, timeout))
    if c.discord_webhook_url:
        found.append(DiscordChannel(c.discord_webhook_url, timeout))
    if c.telegram_bot_token:
        found.append(TelegramChannel(c.telegram_api_url, c.telegram_bot_token, c.telegram_chat_id, timeout))
    if c.email_to:
        found.append(EmailChannel(c, timeout))
    return found
