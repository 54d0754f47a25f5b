"""The citizens' web page, served by the Rasa server itself.

Rasa mounts this channel at ``/webhooks/web/``:

- ``GET  /webhooks/web/``                   the page (``web/index.html``); it also sets the
  browser's chat cookie (see below);
- ``GET  /webhooks/web/static/<file>``      ``web/static/*`` and ``webchat.js``, the
  rasa-webchat bundle installed by npm in ``web/node_modules`` (served from here:
  no CDN, and its ``@import`` of Google Fonts is removed, so the page loads
  nothing from another site);
- ``POST /webhooks/web/upload``             an evidence file: a multipart form with
  ``file`` and ``sender`` (the widget's session id). The answer is
  ``{"message": "/inform{...}"}``, the text the page then sends to the bot
  through the widget so that the bot says in the chat what was accepted or why
  not (see :mod:`channels.evidence_reception`).

The chat itself goes over socket.io: :class:`SocketIOInput` is Rasa's
``socketio`` channel (same name, same options, same ``/socket.io/`` path) with
these changes:

- It awaits ``enter_room``, a coroutine since python-socketio 5.10 that Rasa 3.6
  calls without ``await`` (with ``session_persistence`` the browser never joined
  its room and never received a reply).
- **A conversation belongs to the browser that opened it.** The page gives each
  browser a random secret in an HttpOnly, SameSite=Strict cookie (``buzon_chat``);
  a session id is a random nonce plus a MAC of the nonce under that secret
  (:func:`session_id_for`). A socket may resume only a session id whose MAC
  matches its own cookie, only while no other socket holds it, and only the
  socket that holds a session may send messages in it. An upload must come
  with the cookie of the session's browser. A stolen session id is worth
  nothing without the cookie, which scripts cannot read.
- A socket from another site (an ``Origin`` that is not this server) is refused.
- Every message goes through :mod:`channels.incoming` (length, blank, typed
  button titles, an unreachable action server answered kindly).
- With ``redis_url`` (production, several Rasa servers), an answer finished on a
  server the citizen's socket has left reaches it on the other
  (:mod:`channels.socketio_relay`).

Configured in ``credentials.yml``::

    channels.web.SocketIOInput:        # instead of `socketio:`
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
    channels.web.WebPageInput:

Privacy: nothing here logs a file, its name, a message or a session id.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable
from hashlib import sha256
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput
from sanic import Blueprint, response
from sanic.headers import parse_content_header
from sanic.request import Request, parse_multipart_form

from buzon import wiring
from channels import evidence_reception, incoming
from channels.request_body import read_body
from channels.socketio_relay import relay_answers
from persistence.encrypted_tracker_store import TrackerStoreUnavailable

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = ROOT / "web"
STATIC_DIR = WEB_DIR / "static"
WEBCHAT_BUNDLE = WEB_DIR / "node_modules" / "rasa-webchat" / "lib" / "index.js"
WEBCHAT_NAME = "webchat.js"

# The largest file any case accepts (a denuncia's), plus one byte: reading one
# byte more than the limit is enough to know a file is too large.
MAX_FILE_BYTES = evidence_reception.MAX_BYTES + 1
# Room for the multipart framing and the small ``sender`` field.
FORM_OVERHEAD = 64 * 1024
MAX_BODY_BYTES = MAX_FILE_BYTES + FORM_OVERHEAD
NO_COOKIE_BODY_BYTES = 64 * 1024
# A session id: a 24-hex nonce and the 16-hex MAC binding it to a browser's cookie.
SESSION_ID = re.compile(r"[0-9a-f]{40}")
NONCE_HEX, MAC_HEX = 24, 16
COOKIE = "buzon_chat"
BROWSER_SECRET = re.compile(r"[0-9a-f]{64}")
COOKIE_MAX_AGE = 24 * 3600
TOO_LARGE = "evidence_too_large"
# One chat message at its longest, 4 UTF-8 bytes a character, and the framing around it.
MAX_SOCKET_MESSAGE_BYTES = 4 * incoming.MAX_MESSAGE_CHARS + 4096

# The bundle's CSS asks for the Inter font from Google; the page uses system fonts.
_EXTERNAL_FONT = re.compile(rb"@import url\(https://fonts\.googleapis\.com/[^)]*\);")

# The page loads everything from this server; the widget talks to /socket.io/.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the widget injects its own <style> tags
        "img-src 'self' data:",
        "font-src 'self' data:",  # the widget's carousel icon font is inline
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
}

_bundle_cache: dict[Path, tuple[float, bytes]] = {}


def webchat_bundle(path: Path = WEBCHAT_BUNDLE) -> bytes | None:
    """The rasa-webchat bundle without its external font import (None if not installed)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _bundle_cache.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, _EXTERNAL_FONT.sub(b"", path.read_bytes()))
        _bundle_cache[path] = cached
    return cached[1]


def static_file(name: str, folder: Path = STATIC_DIR) -> Path | None:
    """The file ``name`` under ``folder``, or None (missing, hidden, or outside it)."""
    if not name or "\x00" in name or "\\" in name:
        return None
    parts = name.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    base = folder.resolve()
    candidate = (base / name).resolve()
    if base not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def bad_request(reason: str) -> response.HTTPResponse:
    return response.json({"error": reason}, status=400)


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields and files of a multipart body; ValueError if it is not one.

    A body cut short loses only its last, unfinished part.
    """
    kind, parameters = parse_content_header(content_type or "")
    boundary = parameters.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise ValueError("not multipart/form-data")
    try:
        return parse_multipart_form(body, boundary.encode("utf-8"))
    except (ValueError, UnicodeDecodeError, IndexError) as error:
        raise ValueError("malformed multipart body") from error


# --- binding a conversation to one browser ----------------------------------------


def _session_key() -> bytes:
    return wiring.current().cipher.hash_key("web-session")


def session_mac(browser_secret: str, nonce: str, key: bytes | None = None) -> str:
    return hmac.new(
        key or _session_key(), f"{browser_secret}:{nonce}".encode(), sha256
    ).hexdigest()[:MAC_HEX]


def session_id_for(browser_secret: str, key: bytes | None = None) -> str:
    """A new session id that only the browser holding ``browser_secret`` can use."""
    nonce = secrets.token_hex(NONCE_HEX // 2)
    return nonce + session_mac(browser_secret, nonce, key)


def belongs_to(session_id: Any, browser_secret: str | None, key: bytes | None = None) -> bool:
    """Whether ``session_id`` was made for the browser holding ``browser_secret``.

    >>> key = b"k" * 32
    >>> mine = session_id_for("a" * 64, key)
    >>> belongs_to(mine, "a" * 64, key), belongs_to(mine, "b" * 64, key)
    (True, False)
    >>> belongs_to("x", "a" * 64, key)
    False
    """
    if not (isinstance(session_id, str) and SESSION_ID.fullmatch(session_id) and browser_secret):
        return False
    nonce, mac = session_id[:NONCE_HEX], session_id[NONCE_HEX:]
    return hmac.compare_digest(mac, session_mac(browser_secret, nonce, key))


def browser_secret_of(cookie_header: str | None) -> str | None:
    """The browser's chat secret from a ``Cookie`` header, if well formed."""
    try:
        jar = SimpleCookie(cookie_header or "")
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    value = morsel.value if morsel else ""
    return value if BROWSER_SECRET.fullmatch(value) else None


def same_origin(origin: str | None, host: str | None) -> bool:
    """No Origin (a same-origin GET) or an Origin naming this very host.

    >>> host = "buzon.iess.gob.ec"
    >>> same_origin(None, host), same_origin("https://buzon.iess.gob.ec", host)
    (True, True)
    >>> same_origin("https://evil.example", "buzon.iess.gob.ec"), same_origin("null", "x")
    (False, False)
    """
    if origin is None:
        return True
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def chat_cookie(secret: str, secure: bool) -> str:
    attributes = [
        f"{COOKIE}={secret}",
        "Path=/",
        f"Max-Age={COOKIE_MAX_AGE}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


class WebPageInput(InputChannel):
    """The page with the chat widget and the evidence upload (name ``web``)."""

    @classmethod
    def name(cls) -> str:
        return "web"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        web = Blueprint("web_page_webhook", __name__)

        @web.route("/", methods=["GET"])
        async def page(request: Request) -> response.HTTPResponse:
            index = WEB_DIR / "index.html"
            if not index.is_file():
                return response.empty(status=404)
            headers = dict(PAGE_HEADERS)
            secret = browser_secret_of(request.headers.get("cookie")) or secrets.token_hex(32)
            headers["Set-Cookie"] = chat_cookie(
                secret, secure=not wiring.current().settings.embedded
            )
            return response.html(index.read_text(encoding="utf-8"), headers=headers)

        @web.route("/static/<name:path>", methods=["GET"])
        async def static(request: Request, name: str) -> response.HTTPResponse:
            if name == WEBCHAT_NAME:
                bundle = webchat_bundle()
                if bundle is None:
                    logger.error("rasa-webchat is not installed: run `npm ci` in web/")
                    return response.empty(status=404)
                return response.raw(
                    bundle, content_type=STATIC_TYPES[".js"], headers=STATIC_HEADERS
                )
            found = static_file(name)
            if found is None:
                return response.empty(status=404)
            content_type = STATIC_TYPES.get(found.suffix) or (
                mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            )
            return response.raw(
                found.read_bytes(), content_type=content_type, headers=STATIC_HEADERS
            )

        @web.route("/upload", methods=["POST"], stream=True)
        async def upload(request: Request) -> response.HTTPResponse:
            if not same_origin(request.headers.get("origin"), request.headers.get("host")):
                return response.json({"error": "another site"}, status=403)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or agent.tracker_store is None or not agent.is_ready():
                return response.json({"error": "the bot is starting"}, status=503)
            secret = browser_secret_of(request.headers.get("cookie"))
            # Without the chat cookie no file can be accepted: read no more than it
            # takes to say what is wrong with a small request, never 20 MB.
            body, too_large = await read_body(
                request, MAX_BODY_BYTES if secret else NO_COOKIE_BODY_BYTES
            )
            if too_large and secret is None:
                return response.json({"error": "not this browser's conversation"}, status=403)
            try:
                fields, files = parse_form(request.headers.get("content-type", ""), body)
            except ValueError as error:
                return bad_request(str(error))
            sender = (fields.get("sender") or "").strip()
            if not SESSION_ID.fullmatch(sender):
                return bad_request("sender must be the widget's session id")
            if not belongs_to(sender, secret):
                return response.json({"error": "not this browser's conversation"}, status=403)
            try:
                if too_large:
                    # Bigger than any case accepts: refused without keeping the rest,
                    # unless the conversation is not asking for evidence at all.
                    if await evidence_reception.size_limit(agent.tracker_store, sender) is None:
                        message = evidence_reception.refused(evidence_reception.NOT_NOW)
                    else:
                        message = evidence_reception.refused(TOO_LARGE)
                    return response.json({"message": message})
                uploaded = files.get("file")
                if uploaded is None:
                    return bad_request("no file")
                message = await evidence_reception.receive_file(
                    agent.tracker_store, sender, uploaded.name, uploaded.body
                )
            except TrackerStoreUnavailable:  # the conversation cannot be read right now
                return response.json({"error": "the bot is busy, send it again"}, status=503)
            return response.json({"message": message})

        return web


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io channel (name ``socketio``), fixed and bound to one browser."""

    redis_url: str | None = None  # several servers: answers relayed (channels/socketio_relay)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        channel = super().from_credentials(credentials)
        channel.redis_url = (credentials or {}).get("redis_url") or None
        return channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        socketio_blueprint = super().blueprint(on_new_message)
        sio = self.sio
        relay_answers(sio, self.redis_url)
        sio.eio.max_http_buffer_size = MAX_SOCKET_MESSAGE_BYTES
        namespace = self.namespace
        browsers: dict[str, str] = {}  # socket id -> its browser's cookie secret
        holders: dict[str, str] = {}  # session id -> the socket holding it
        self.app: Any = None  # the Sanic app, for its agent

        @socketio_blueprint.listener("before_server_start")
        async def remember_app(app, _loop) -> None:
            self.app = app

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if not same_origin(environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST")):
                logger.info("socket.io connection from another site refused")
                return False
            secret = browser_secret_of(environ.get("HTTP_COOKIE"))
            if secret is None:
                logger.info("socket.io connection without the page's cookie refused")
                return False
            browsers[sid] = secret
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str) -> None:
            browsers.pop(sid, None)
            for session_id in [s for s, holder in holders.items() if holder == sid]:
                holders.pop(session_id, None)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            secret = browsers.get(sid)
            if secret is None:
                return
            requested = data.get("session_id") if isinstance(data, dict) else None
            holder = holders.get(requested) if isinstance(requested, str) else None
            if belongs_to(requested, secret) and holder in (None, sid):
                session_id = requested
            else:  # someone else's, forged, or open in another tab: a new conversation
                session_id = session_id_for(secret)
            holders[session_id] = sid
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id, namespace=namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def user_message(sid: str, data: dict) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not isinstance(session_id, str) or holders.get(session_id) != sid:
                logger.warning("socket.io message for a session this socket does not hold ignored")
                return
            text = data.get("message")
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            agent = getattr(self.app.ctx, "agent", None) if self.app is not None else None
            output = SocketIOOutput(sio, self.bot_message_evt)
            if agent is None:
                return
            await incoming.handle(
                agent,
                on_new_message,
                text if isinstance(text, str) else None,
                output,
                session_id,
                input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else {},
            )

        return socketio_blueprint
