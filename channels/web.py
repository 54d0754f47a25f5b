"""The citizens' web page, served by the Rasa server itself.

Rasa mounts this channel at ``/webhooks/web/``:

- ``GET  /webhooks/web/``                   the page (``web/index.html``);
- ``GET  /webhooks/web/static/<file>``      ``web/static/*`` and ``webchat.js``, the
  rasa-webchat bundle installed by npm in ``web/node_modules`` (served from here:
  no CDN, and its ``@import`` of Google Fonts is removed, so the page loads
  nothing from another site);
- ``POST /webhooks/web/upload``             an evidence file: a multipart form with
  ``file`` and ``sender`` (the widget's socket.io session id). The answer is
  ``{"message": "/inform{...}"}``, the text the page then sends to the bot
  through the widget so that the bot says in the chat what was accepted or why
  not (see :mod:`channels.evidence_intake`).

The chat itself goes over socket.io: :class:`SocketIOInput` is Rasa's
``socketio`` channel (same name, same options, same ``/socket.io/`` path) with
two changes. It awaits ``enter_room``, a coroutine since python-socketio 5.10
that Rasa 3.6 calls without ``await``: with ``session_persistence`` the browser
never joined its room and never received a reply. And a session id is what
Rasa makes (``uuid4().hex``): a client cannot name another conversation (a REST
or WhatsApp one) as its own. Configured in ``credentials.yml``::

    channels.web.SocketIOInput:        # instead of `socketio:`
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
    channels.web.WebPageInput:

Privacy: nothing here logs a file, its name or a session id.
"""
from __future__ import annotations

import inspect
import logging
import mimetypes
import re
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, response
from sanic.headers import parse_content_header
from sanic.request import Request, parse_multipart_form

from channels import evidence_intake

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = ROOT / "web"
STATIC_DIR = WEB_DIR / "static"
WEBCHAT_BUNDLE = WEB_DIR / "node_modules" / "rasa-webchat" / "lib" / "index.js"
WEBCHAT_NAME = "webchat.js"

# The largest file any case accepts (a denuncia's), plus one byte: reading one
# byte more than the limit is enough to know a file is too large.
MAX_FILE_BYTES = evidence_intake.MAX_BYTES + 1
# Room for the multipart framing and the small ``sender`` field.
FORM_OVERHEAD = 64 * 1024
MAX_BODY_BYTES = MAX_FILE_BYTES + FORM_OVERHEAD
# rasa-webchat's session id is the one Rasa's socket.io channel makes: uuid4().hex.
SESSION_ID = re.compile(r"[0-9a-f]{32}")
TOO_LARGE = "evidence_too_large"

# The bundle's CSS asks for the Inter font from Google; the page uses system fonts.
_EXTERNAL_FONT = re.compile(rb"@import url\(https://fonts\.googleapis\.com/[^)]*\);")

# The page loads everything from this server; the widget talks to /socket.io/.
CONTENT_SECURITY_POLICY = "; ".join([
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
])
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
                ".html": "text/html; charset=utf-8"}

_bundle_cache: Dict[Path, Tuple[float, bytes]] = {}


def webchat_bundle(path: Path = WEBCHAT_BUNDLE) -> Optional[bytes]:
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


def static_file(name: str, folder: Path = STATIC_DIR) -> Optional[Path]:
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


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> Tuple[bytes, bool]:
    """At most ``limit`` bytes of a streamed body, and whether there was more.

    The rest of a larger body is read and dropped, never kept, so that the
    browser receives the answer instead of a reset connection.
    """
    kept, size, overflow = [], 0, False
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        if overflow:
            continue
        if size + len(chunk) > limit:
            kept.append(chunk[: limit - size])
            size = limit
            overflow = True
            continue
        kept.append(chunk)
        size += len(chunk)
    return b"".join(kept), overflow


def parse_form(content_type: str, body: bytes) -> Tuple[Dict[str, Any], Dict[str, Any]]:
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


class WebPageInput(InputChannel):
    """The page with the chat widget and the evidence upload (name ``web``)."""

    @classmethod
    def name(cls) -> Text:
        return "web"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        return cls()

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        web = Blueprint("web_page_webhook", __name__)

        @web.route("/", methods=["GET"])
        async def page(request: Request) -> response.HTTPResponse:
            index = WEB_DIR / "index.html"
            if not index.is_file():
                return response.text("La página no está instalada.", status=404)
            return response.html(index.read_text(encoding="utf-8"), headers=PAGE_HEADERS)

        @web.route("/static/<name:path>", methods=["GET"])
        async def static(request: Request, name: str) -> response.HTTPResponse:
            if name == WEBCHAT_NAME:
                bundle = webchat_bundle()
                if bundle is None:
                    logger.error("rasa-webchat is not installed: run `npm ci` in web/")
                    return response.text("webchat no instalado", status=404)
                return response.raw(bundle, content_type=STATIC_TYPES[".js"],
                                    headers=STATIC_HEADERS)
            found = static_file(name)
            if found is None:
                return response.text("no encontrado", status=404)
            content_type = STATIC_TYPES.get(found.suffix) or (
                mimetypes.guess_type(found.name)[0] or "application/octet-stream")
            return response.raw(found.read_bytes(), content_type=content_type,
                                headers=STATIC_HEADERS)

        @web.route("/upload", methods=["POST"], stream=True)
        async def upload(request: Request) -> response.HTTPResponse:
            body, too_large = await read_body(request)
            try:
                fields, files = parse_form(request.headers.get("content-type", ""), body)
            except ValueError as error:
                return bad_request(str(error))
            sender = (fields.get("sender") or "").strip()
            if not SESSION_ID.fullmatch(sender):
                return bad_request("sender must be the widget's session id")
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or agent.tracker_store is None:
                return response.json({"error": "the bot is starting"}, status=503)
            if too_large:
                # Bigger than any case accepts: refused without keeping the rest,
                # unless the conversation is not asking for evidence at all.
                if await evidence_intake.size_limit(agent.tracker_store, sender) is None:
                    message = evidence_intake.refused(evidence_intake.NOT_NOW)
                else:
                    message = evidence_intake.refused(TOO_LARGE)
                return response.json({"message": message})
            uploaded = files.get("file")
            if uploaded is None:
                return bad_request("no file")
            message = await evidence_intake.receive_file(
                agent.tracker_store, sender, uploaded.name, uploaded.body
            )
            return response.json({"message": message})

        return web


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io channel (name ``socketio``), fixed for the web page's widget."""

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        socketio_blueprint = super().blueprint(on_new_message)
        sio = self.sio
        namespace = self.namespace or "/"
        handle_message = sio.handlers[namespace][self.user_message_evt]

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if isinstance(requested, str) and SESSION_ID.fullmatch(
                requested) else uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id, namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_message(sid: Text, data: Dict) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if self.session_persistence and not (
                isinstance(session_id, str) and SESSION_ID.fullmatch(session_id)
            ):
                logger.warning("socket.io message without a valid session id ignored")
                return
            await handle_message(sid, data)

        return socketio_blueprint
