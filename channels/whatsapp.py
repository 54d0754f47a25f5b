"""WhatsApp Business Cloud API as a Rasa channel.

Meta calls ``/webhooks/whatsapp/webhook``: a GET to verify the subscription, a
POST for each batch of messages and statuses, signed with the app secret
(``X-Hub-Signature-256``). The bot answers through the Graph API
(``POST {api_url}/{phone_number_id}/messages``).

Privacy: the WhatsApp id (``wa_id``) is the citizen's phone number. The Rasa
conversation is named ``wa-`` + a keyed hash of it (:func:`sender_id_for`, keyed
by the case key, so rotating Meta's app secret renames nothing), so the number
never reaches the tracker store, the case tables or the logs; the real ``wa_id``
lives only inside the :class:`WhatsAppOutput` of one request, to reply. Nothing
here logs a ``wa_id``, a message text or a file.

Robustness: a body over ``MAX_WEBHOOK_BYTES`` is refused before it is read
whole; each message goes through :mod:`channels.incoming` (length, blank,
typed button titles, an unreachable action server answered kindly); a
message is marked as processed only after it was (in Redis when
``dedup_redis_url`` is set, so a restart or a second server does not process a
redelivery again), and a failure answers Meta with 500 so it delivers again.
The access token goes only to the Graph API's own address or, over https, to
Meta's media hosts.

Configured in ``credentials.yml``::

    channels.whatsapp.WhatsAppInput:
      verify_token: ${WHATSAPP_VERIFY_TOKEN}
      app_secret: ${WHATSAPP_APP_SECRET}
      access_token: ${WHATSAPP_ACCESS_TOKEN}
      phone_number_id: ${WHATSAPP_PHONE_NUMBER_ID}
      api_url: ${WHATSAPP_API_URL}        # default https://graph.facebook.com/v21.0
      dedup_redis_url: redis://127.0.0.1:6379/1   # optional; in-process otherwise

Without an app secret or a verify token the webhook refuses every request (403).
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple
from urllib.parse import urlsplit

import requests
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from buzon import wiring
from channels import evidence_intake, incoming
from channels.request_body import read_body

logger = logging.getLogger(__name__)

GRAPH_API_URL = "https://graph.facebook.com/v21.0"
# Limits of the Cloud API (messages, interactive reply buttons and list messages).
TEXT_LIMIT = 4096
BUTTON_BODY_LIMIT = 1024
LIST_BODY_LIMIT = 4096
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LABEL = "Ver opciones"
# Words a shortened title should not end with ("Corregir provincia o…").
_DANGLING = {"a", "al", "con", "de", "del", "e", "el", "en", "la", "las", "lo", "los",
             "o", "para", "por", "u", "un", "una", "y"}
ELLIPSIS = "…"
FILE_TYPES = ("image", "document")
NOT_FILES = ("audio", "video", "sticker")
# A webhook batch is a few kilobytes; nothing legitimate comes near this.
MAX_WEBHOOK_BYTES = 1024 * 1024
# Where Meta serves the files citizens send (besides the Graph API's own host).
MEDIA_HOST_SUFFIXES = (".fbsbx.com", ".facebook.com", ".fbcdn.net", ".whatsapp.net")


# --- incoming ---------------------------------------------------------------------

def signature_ok(app_secret: str, body: bytes, header: Optional[str]) -> bool:
    """Whether ``header`` is ``sha256=`` + the HMAC-SHA256 of the raw body."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().encode())


def sender_id_for(key: bytes, wa_id: str) -> str:
    """The Rasa conversation id of a WhatsApp user: a keyed hash, never the number."""
    return "wa-" + hmac.new(key, wa_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def sender_key() -> bytes:
    """The key of :func:`sender_id_for`, derived from the case key (stable across rotations)."""
    return wiring.current().cipher.hash_key("whatsapp-sender")


@dataclass(frozen=True)
class Incoming:
    """One message a citizen sent: ``text`` for text and button/list replies,
    ``media_id`` for a file; ``kind`` is WhatsApp's message type."""

    message_id: str
    wa_id: str
    kind: str
    text: Optional[str] = None
    media_id: Optional[str] = None
    file_name: Optional[str] = None


def _reply_id(message: Dict[str, Any]) -> Optional[str]:
    interactive = message.get("interactive") or {}
    kind = interactive.get("type")
    if kind in ("button_reply", "list_reply"):
        return (interactive.get(kind) or {}).get("id")
    return None


def _typed(text: Optional[str]) -> Optional[str]:
    # Only buttons we sent may carry a Rasa payload ("/affirm"): a typed leading
    # slash is dropped so typing cannot inject intents or entities.
    cleaned = (text or "").strip().lstrip("/").strip()
    return cleaned or None


def parse_message(message: Dict[str, Any]) -> Optional[Incoming]:
    """An :class:`Incoming` for a message the bot handles, else None."""
    kind, message_id, wa_id = message.get("type"), message.get("id"), message.get("from")
    if not message_id or not wa_id:
        return None
    if kind == "text":
        text = _typed((message.get("text") or {}).get("body"))
        return Incoming(message_id, wa_id, kind, text=text) if text else None
    if kind == "interactive":
        reply = _reply_id(message)
        return Incoming(message_id, wa_id, kind, text=reply) if reply else None
    if kind == "button":  # the quick-reply button of a template message
        payload = (message.get("button") or {}).get("payload")
        return Incoming(message_id, wa_id, kind, text=payload) if payload else None
    if kind in FILE_TYPES:
        media = message.get(kind) or {}
        if not media.get("id"):
            return None
        return Incoming(message_id, wa_id, kind, media_id=media["id"],
                        file_name=media.get("filename"))
    if kind in NOT_FILES:  # files the evidence never accepts
        return Incoming(message_id, wa_id, kind)
    return None  # reactions, locations, contacts, system and unsupported messages


def parse_webhook(payload: Dict[str, Any], phone_number_id: Optional[str] = None) -> List[Incoming]:
    """The messages of a webhook payload, in order; statuses and other fields ignored.

    With ``phone_number_id``, changes addressed to another business number are skipped.
    """
    found: List[Incoming] = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages":
                continue
            addressed_to = (value.get("metadata") or {}).get("phone_number_id")
            if phone_number_id and addressed_to and str(addressed_to) != str(phone_number_id):
                continue
            for message in value.get("messages") or []:
                parsed = parse_message(message)
                if parsed is not None:
                    found.append(parsed)
    return found


class SeenMessages:
    """Which message ids were processed, so that a redelivery is processed once.

    Meta redelivers a webhook it thinks failed. :meth:`claim` takes an id for
    processing (False if it was processed or is being processed); :meth:`done`
    marks it processed for ``ttl`` seconds; :meth:`release` gives it back after a
    failure so that the redelivery is processed. This one lives in the process
    (a TTL cache); :class:`RedisSeenMessages` is shared by every server.
    """

    def __init__(self, ttl: float = 24 * 3600, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic, claim_ttl: float = 300) -> None:
        self.ttl = ttl
        self.claim_ttl = claim_ttl
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: "collections.OrderedDict[str, float]" = collections.OrderedDict()

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, until in self._expiry.items() if until <= now]:
            del self._expiry[key]

    def claim(self, message_id: str) -> bool:
        self._expire()
        if message_id in self._expiry:
            return False
        self._expiry[message_id] = self.clock() + self.claim_ttl
        while len(self._expiry) > self.max_entries:
            self._expiry.popitem(last=False)
        return True

    def done(self, message_id: str) -> None:
        self._expiry[message_id] = self.clock() + self.ttl
        self._expiry.move_to_end(message_id)

    def release(self, message_id: str) -> None:
        self._expiry.pop(message_id, None)

    def first_time(self, message_id: str) -> bool:
        """Claim and mark at once (True the first time an id is seen within the TTL)."""
        if not self.claim(message_id):
            return False
        self.done(message_id)
        return True


class RedisSeenMessages:
    """:class:`SeenMessages` in Redis (``SET NX EX``): shared by servers, kept over restarts."""

    PREFIX = "buzon:whatsapp:seen:"

    def __init__(self, url: str, ttl: int = 24 * 3600, claim_ttl: int = 300) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.ttl = ttl
        self.claim_ttl = claim_ttl

    def _key(self, message_id: str) -> str:
        return self.PREFIX + hashlib.sha256(message_id.encode()).hexdigest()

    def claim(self, message_id: str) -> bool:
        return bool(self.redis.set(self._key(message_id), b"processing", nx=True,
                                   ex=self.claim_ttl))

    def done(self, message_id: str) -> None:
        self.redis.set(self._key(message_id), b"done", ex=self.ttl)

    def release(self, message_id: str) -> None:
        self.redis.delete(self._key(message_id))


# --- outgoing: pure message building ------------------------------------------------

def split_text(text: str, limit: int = TEXT_LIMIT) -> List[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, line or word."""
    pieces, rest = [], (text or "").strip()
    while len(rest) > limit:
        window = rest[:limit + 1]
        cut = next((at for at in (window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
                    if at > 0), limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def split_tail(text: str, limit: int) -> Tuple[str, str]:
    """``(head, tail)``: the longest tail of at most ``limit`` characters that starts
    at a paragraph, line or word (the body of an interactive message)."""
    text = (text or "").strip()
    if len(text) <= limit:
        return "", text
    start = len(text) - limit
    window = text[start - 1:]  # one character more: a boundary right at the cut counts
    at = next((at for at in (window.find("\n\n"), window.find("\n"), window.find(" "))
               if at >= 0), None)
    cut = start if at is None else start - 1 + at
    return text[:cut].rstrip(), text[cut:].strip()


def shorten(title: str, limit: int) -> str:
    """``title`` within ``limit`` characters: whole words, ending in "…" when cut."""
    title = " ".join((title or "").split())
    if len(title) <= limit:
        return title
    words, kept = title.split(" "), []
    for word in words:
        if len(" ".join(kept + [word])) + len(ELLIPSIS) > limit:
            break
        kept.append(word)
    while len(kept) > 1 and kept[-1].lower().strip(",;:.") in _DANGLING:
        kept.pop()
    short = " ".join(kept).rstrip(",;:.-–— ")
    if not short:  # a single word longer than the limit
        short = title[:limit - len(ELLIPSIS)].rstrip()
    return short + ELLIPSIS


def _unique(titles: List[str], limit: int) -> List[str]:
    """WhatsApp refuses two equal titles in one message: number the repeats."""
    seen: Dict[str, int] = {}
    unique = []
    for title in titles:
        count = seen.get(title, 0) + 1
        seen[title] = count
        if count > 1:
            suffix = f" {count}"
            title = shorten(title.rstrip(ELLIPSIS), limit - len(suffix)) + suffix
        unique.append(title)
    return unique


def _payload(button: Dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "").strip()


def text_message(wa_id: str, text: str) -> Dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id,
            "type": "text", "text": {"preview_url": False, "body": text}}


def _interactive(wa_id: str, interactive: Dict[str, Any]) -> Dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id,
            "type": "interactive", "interactive": interactive}


def button_message(wa_id: str, body: str, buttons: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Interactive reply buttons (at most 3); each id carries the Rasa payload."""
    titles = _unique([shorten(str(b.get("title", "")), BUTTON_TITLE_LIMIT) for b in buttons],
                     BUTTON_TITLE_LIMIT)
    return _interactive(wa_id, {
        "type": "button",
        "body": {"text": body},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": _payload(button), "title": title}}
            for button, title in zip(buttons, titles)
        ]},
    })


def list_message(wa_id: str, body: str, buttons: List[Dict[str, Any]]) -> Dict[str, Any]:
    """An interactive list (at most 10 rows); a shortened title is whole in the description."""
    full = [" ".join(str(b.get("title", "")).split()) for b in buttons]
    titles = _unique([shorten(title, ROW_TITLE_LIMIT) for title in full], ROW_TITLE_LIMIT)
    rows = []
    for button, title, whole in zip(buttons, titles, full):
        row = {"id": _payload(button), "title": title}
        if title != whole:
            row["description"] = shorten(whole, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return _interactive(wa_id, {
        "type": "list",
        "body": {"text": body},
        "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
    })


def build_messages(wa_id: str, text: str, buttons: Optional[List[Dict[str, Any]]] = None
                   ) -> List[Dict[str, Any]]:
    """The Cloud API messages for one bot response, in sending order.

    Text alone: text messages of at most 4096 characters. Up to 3 buttons:
    reply buttons; 4 to 10: a list; more: a list of the first 10 and the rest as
    numbered text. Buttons whose payload does not fit an id go to that text too.
    Text too long for the interactive body goes first as plain text.
    """
    buttons = [b for b in (buttons or []) if _payload(b)]
    if not buttons:
        return [text_message(wa_id, piece) for piece in split_text(text)]
    id_limit = BUTTON_ID_LIMIT if len(buttons) <= MAX_BUTTONS else ROW_ID_LIMIT
    fitting = [b for b in buttons if len(_payload(b)) <= id_limit]
    shown, rest = fitting[:MAX_ROWS], fitting[MAX_ROWS:] + [b for b in buttons if b not in fitting]
    if not shown:
        return build_messages(wa_id, text) + _numbered(wa_id, rest, 1)
    as_buttons = len(shown) <= MAX_BUTTONS
    head, body = split_tail(text, BUTTON_BODY_LIMIT if as_buttons else LIST_BODY_LIMIT)
    messages = [text_message(wa_id, piece) for piece in split_text(head)]
    body = body or ELLIPSIS  # the body is required
    if as_buttons:
        messages.append(button_message(wa_id, body, shown))
    else:
        messages.append(list_message(wa_id, body, shown))
    return messages + _numbered(wa_id, rest, len(shown) + 1)


def _numbered(wa_id: str, buttons: List[Dict[str, Any]], first: int) -> List[Dict[str, Any]]:
    if not buttons:
        return []
    lines = "\n".join(f"{first + n}. {' '.join(str(b.get('title', '')).split())}"
                      for n, b in enumerate(buttons))
    return [text_message(wa_id, piece) for piece in split_text(lines)]


# --- the Graph API ----------------------------------------------------------------

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

    def __init__(self, api_url: str, access_token: str, phone_number_id: str,
                 timeout: float = 10.0, tries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
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

    def _delay(self, attempt: int, reply: Optional[requests.Response]) -> float:
        delay = self.backoff * 2 ** (attempt - 1)
        retry_after = reply.headers.get("Retry-After") if reply is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 10.0))
        return delay

    def send(self, message: Dict[str, Any]) -> bool:
        """POST one message; True once the Graph API accepted it."""
        url = f"{self.api_url}/{self.phone_number_id}/messages"
        problem: Any = None
        for attempt in range(1, self.tries + 1):
            reply = None
            try:
                reply = requests.post(url, json=message, headers=self._headers, timeout=self.timeout)
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
                logger.warning("WhatsApp send failed (%s), try %d of %d", problem, attempt, self.tries)
                self.sleep(self._delay(attempt, reply))
        logger.error("WhatsApp send failed after %d tries: %s", self.tries, problem)
        return False

    def download(self, media_id: str, max_bytes: int) -> Tuple[bytes, Optional[str]]:
        """The bytes and MIME type of a received file; MediaTooLarge beyond ``max_bytes``."""
        try:
            info = requests.get(f"{self.api_url}/{media_id}", headers=self._headers,
                                timeout=self.timeout)
            if not info.ok:
                raise MediaError(f"media info HTTP {info.status_code}")
            described = info.json()
            if int(described.get("file_size") or 0) > max_bytes:
                raise MediaTooLarge()
            if not self.trusted_media_url(str(described["url"])):
                raise MediaError("media URL outside the Graph API and Meta's media hosts")
            with requests.get(described["url"], headers=self._headers, stream=True,
                              allow_redirects=False, timeout=(self.timeout, 30)) as download:
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


async def in_thread(function: Callable, *args: Any) -> Any:
    """Run a blocking call without blocking Sanic's event loop."""
    return await asyncio.to_thread(function, *args)


# --- Rasa channels ------------------------------------------------------------------

class WhatsAppOutput(OutputChannel):
    """Sends the bot's responses of one request to one WhatsApp user.

    ``recipient_id`` (the hashed conversation id) is ignored: the real ``wa_id``
    is known only here.
    """

    def __init__(self, client: GraphClient, wa_id: str) -> None:
        self.client = client
        self.wa_id = wa_id

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    async def _send_all(self, messages: List[Dict[str, Any]]) -> None:
        for message in messages:
            await in_thread(self.client.send, message)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send_all(build_messages(self.wa_id, text))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self._send_all(build_messages(self.wa_id, text, buttons))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send_all([{"messaging_product": "whatsapp", "to": self.wa_id,
                               "type": "image", "image": {"link": image}}])

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any],
                               **kwargs: Any) -> None:
        """A custom response that is a Cloud API message (it has a ``type``) is sent as is."""
        if isinstance(json_message, dict) and json_message.get("type"):
            await self._send_all([{**json_message, "messaging_product": "whatsapp",
                                   "to": self.wa_id}])
        else:
            logger.warning("WhatsApp: custom response without a message type not sent")


class WhatsAppInput(InputChannel):
    """The webhook Meta calls: ``/webhooks/whatsapp/webhook``."""

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WhatsAppInput":
        credentials = credentials or {}

        def value(key: str) -> str:
            found = credentials.get(key)
            return "" if found is None else str(found).strip()

        redis_url = value("dedup_redis_url")
        return cls(value("verify_token"), value("app_secret"), value("access_token"),
                   value("phone_number_id"), value("api_url") or GRAPH_API_URL,
                   seen=RedisSeenMessages(redis_url) if redis_url else None)

    def __init__(self, verify_token: str, app_secret: str, access_token: str,
                 phone_number_id: str, api_url: str = GRAPH_API_URL,
                 seen: "SeenMessages | RedisSeenMessages | None" = None,
                 sender_key: Optional[bytes] = None) -> None:
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.client = GraphClient(api_url, access_token, phone_number_id)
        self.seen = seen or SeenMessages()
        self._sender_key = sender_key
        self._tails: Dict[str, "asyncio.Task[None]"] = {}
        self._warned = False

    @property
    def configured(self) -> bool:
        return bool(self.verify_token and self.app_secret)

    def sender_id(self, wa_id: str) -> str:
        if self._sender_key is None:
            self._sender_key = sender_key()
        return sender_id_for(self._sender_key, wa_id)

    def _refuse(self) -> response.HTTPResponse:
        if not self.configured and not self._warned:
            self._warned = True
            logger.warning("WhatsApp is not configured (empty WHATSAPP_APP_SECRET or "
                           "WHATSAPP_VERIFY_TOKEN): its webhook refuses every request")
        return response.text("", status=403)

    def verify(self, request: Request) -> response.HTTPResponse:
        """Meta's subscription check: echo ``hub.challenge`` for the right token."""
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if (self.configured and request.args.get("hub.mode") == "subscribe" and challenge
                and hmac.compare_digest(token.encode(), self.verify_token.encode())):
            return response.text(challenge)
        return self._refuse()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("whatsapp_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> response.HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> response.HTTPResponse:
            return self.verify(request)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> response.HTTPResponse:
            if not self.configured:
                return self._refuse()
            body, too_large = await read_body(request, MAX_WEBHOOK_BYTES)
            if too_large:
                logger.warning("WhatsApp webhook refused: body over %d bytes", MAX_WEBHOOK_BYTES)
                return response.text("", status=413)
            if not signature_ok(self.app_secret, body,
                                request.headers.get("X-Hub-Signature-256")):
                logger.info("WhatsApp webhook refused: missing or wrong signature")
                return self._refuse()
            try:
                payload = json.loads(body)
            except ValueError:
                return response.text("", status=400)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():  # still loading: Meta will deliver again
                return response.text("", status=503)
            tasks = []
            for message in parse_webhook(payload if isinstance(payload, dict) else {},
                                         self.phone_number_id):
                if await in_thread(self.seen.claim, message.message_id):
                    tasks.append(self._enqueue(message, on_new_message, agent))
            if tasks:
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                if any(isinstance(outcome, BaseException) for outcome in outcomes):
                    return response.text("", status=500)  # Meta delivers the failed ones again
            return response.text("")

        return hook

    def _enqueue(self, incoming_message: Incoming, on_new_message, agent) -> "asyncio.Task[None]":
        """Handle a message after the earlier ones of the same user (in arrival order)."""
        sender_id = self.sender_id(incoming_message.wa_id)
        previous = self._tails.get(sender_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await self._handle(incoming_message, sender_id, on_new_message, agent)
            except Exception as error:  # never the message itself in the log
                logger.error("WhatsApp %s message failed: %s", incoming_message.kind,
                             type(error).__name__)
                await in_thread(self.seen.release, incoming_message.message_id)
                raise
            await in_thread(self.seen.done, incoming_message.message_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tails[sender_id] = task
        task.add_done_callback(lambda done: self._tails.pop(sender_id, None)
                               if self._tails.get(sender_id) is done else None)
        return task

    async def _handle(self, incoming_message: Incoming, sender_id: str, on_new_message,
                      agent) -> None:
        text = incoming_message.text
        if text is None:
            text = await self._file_text(incoming_message, sender_id, agent)
        output = WhatsAppOutput(self.client, incoming_message.wa_id)
        await incoming.handle(agent, on_new_message, text, output, sender_id, reraise=True,
                              input_channel=self.name(), message_id=incoming_message.message_id)

    async def _file_text(self, incoming_message: Incoming, sender_id: str, agent
                         ) -> Optional[str]:
        """Download a file the form is waiting for and hand it to the evidence intake."""
        limit = await evidence_intake.size_limit(agent, sender_id)
        if limit is None:
            return evidence_intake.refused(evidence_intake.NOT_NOW)
        if incoming_message.media_id is None:  # audio, video, sticker
            return evidence_intake.refused("evidence_type")
        try:
            content, _mime = await in_thread(self.client.download, incoming_message.media_id,
                                             limit)
        except MediaTooLarge:
            return evidence_intake.refused("evidence_too_large")
        except MediaError as error:
            logger.warning("WhatsApp file download failed: %s", error)
            return evidence_intake.refused("evidence_damaged")
        return await evidence_intake.receive_file(agent, sender_id, incoming_message.file_name,
                                                  content)
