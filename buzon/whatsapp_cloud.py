"""WhatsApp Business Cloud API (the Graph API): sending messages, with retries, and
downloading the files citizens send. Used by the WhatsApp channel (replies) and by
the outbox worker (notices about a case)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

logger = logging.getLogger("buzon.whatsapp_cloud")

GRAPH_API_URL = "https://graph.facebook.com/v21.0"
# Where Meta serves the files citizens send (besides the Graph API's own host).
MEDIA_HOST_SUFFIXES = (".fbsbx.com", ".facebook.com", ".fbcdn.net", ".whatsapp.net")


class MediaError(Exception):
    """A file could not be fetched from the Graph API."""


class MediaTooLarge(MediaError):
    """The file is larger than the conversation accepts."""


class GraphClient:
    """Blocking calls to the Graph API (run them in a thread executor).

    Sends retry on 429 and 5xx (and on connection failures) with a growing delay,
    at most ``tries`` times; other 4xx are not retried. Errors are logged with
    their status and Graph error code only, never with the message.
    """

    def __init__(
        self,
        api_url: str,
        access_token: str,
        phone_number_id: str,
        timeout: float = 10.0,
        tries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = (api_url or GRAPH_API_URL).rstrip("/")
        self.phone_number_id = phone_number_id
        self.timeout = timeout
        self.tries = tries
        self.backoff = backoff
        self.sleep = sleep
        self._headers = {"Authorization": f"Bearer {access_token}"}

    def trusted_media_url(self, url: str) -> bool:
        """Whether the access token may go to ``url``: the Graph API's own scheme and
        host, or https on one of Meta's media hosts.

        >>> client = GraphClient("https://graph.facebook.com/v21.0", "t", "1")
        >>> client.trusted_media_url("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
        True
        >>> client.trusted_media_url("http://lookaside.fbsbx.com/x"), client.trusted_media_url("https://evil.example/x")
        (False, False)
        >>> client.trusted_media_url("https://fbsbx.com.evil.example/x")
        False
        """
        try:
            parts, api = urlsplit(url), urlsplit(self.api_url)
        except ValueError:
            return False
        if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
            return True
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and any(host.endswith(s) for s in MEDIA_HOST_SUFFIXES)

    def _delay(self, attempt: int, reply: requests.Response | None) -> float:
        delay = float(self.backoff * 2 ** (attempt - 1))
        retry_after = reply.headers.get("Retry-After") if reply is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 10.0))
        return delay

    def send(self, message: dict[str, Any]) -> bool:
        """POST one message; True once the Graph API accepted it."""
        url = f"{self.api_url}/{self.phone_number_id}/messages"
        problem: Any = None
        for attempt in range(1, self.tries + 1):
            reply = None
            try:
                reply = requests.post(
                    url, json=message, headers=self._headers, timeout=self.timeout
                )
            except requests.ConnectionError as error:
                problem = type(error).__name__
            except requests.RequestException as error:  # e.g. a read timeout: it may have gone out
                logger.error("WhatsApp send failed: %s", type(error).__name__)
                return False
            else:
                if reply.ok:
                    return True
                problem = f"HTTP {reply.status_code} (code {_graph_code(reply)})"
                if reply.status_code != 429 and reply.status_code < 500:
                    logger.error("WhatsApp send refused: %s", problem)
                    return False
            if attempt < self.tries:
                logger.warning(
                    "WhatsApp send failed (%s), try %d of %d", problem, attempt, self.tries
                )
                self.sleep(self._delay(attempt, reply))
        logger.error("WhatsApp send failed after %d tries: %s", self.tries, problem)
        return False

    def download(self, media_id: str, max_bytes: int) -> tuple[bytes, str | None]:
        """The bytes and MIME type of a received file; MediaTooLarge beyond ``max_bytes``."""
        try:
            info = requests.get(
                f"{self.api_url}/{media_id}", headers=self._headers, timeout=self.timeout
            )
            if not info.ok:
                raise MediaError(f"media info HTTP {info.status_code}")
            described = info.json()
            if int(described.get("file_size") or 0) > max_bytes:
                raise MediaTooLarge()
            if not self.trusted_media_url(str(described["url"])):
                raise MediaError("media URL outside the Graph API and Meta's media hosts")
            with requests.get(
                described["url"],
                headers=self._headers,
                stream=True,
                allow_redirects=False,
                timeout=(self.timeout, 30),
            ) as download:
                if not download.ok:
                    raise MediaError(f"media HTTP {download.status_code}")
                content = bytearray()
                for chunk in download.iter_content(64 * 1024):
                    content += chunk
                    if len(content) > max_bytes:
                        raise MediaTooLarge()
            return bytes(content), described.get("mime_type")
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise MediaError(type(error).__name__) from None


def _graph_code(reply: requests.Response) -> Any:
    try:
        return (reply.json().get("error") or {}).get("code")
    except ValueError:
        return None


def text_message(wa_id: str, text: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }


def template_message(wa_id: str, name: str, language: str, parameters: list[str]) -> dict[str, Any]:
    """An approved template: the only message WhatsApp delivers outside the 24-hour window."""
    body = [{"type": "text", "text": value} for value in parameters]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": body}] if body else [],
        },
    }


class NoticeNotSent(RuntimeError):
    """The Graph API did not take a notice (it stays queued and is retried)."""


class NoticeSender:
    """Sends the outbox's WhatsApp notices: free text inside the 24-hour window,
    the approved template (its one parameter: the case number) outside it."""

    def __init__(self, client: GraphClient, window: Any, template: str, language: str) -> None:
        self.client = client
        self.window = window
        self.template = template
        self.language = language

    def send(self, wa_id: str, text: str, case_number: str) -> None:
        if self.window.is_open(wa_id):
            message = text_message(wa_id, text)
        else:
            message = template_message(wa_id, self.template, self.language, [case_number])
        if not self.client.send(message):
            raise NoticeNotSent()
