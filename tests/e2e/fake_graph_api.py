"""A stand-in for Meta's Graph API, as a real HTTP server on 127.0.0.1.

It records every message the bot sends (``POST /<version>/<phone_number_id>/messages``),
serves received files the way the Cloud API does (``GET /<version>/<media_id>``
gives ``{"url": ...}``, then ``GET /media/<media_id>`` gives the bytes), checks
the bearer token on every call, and can be told to fail the next sends with
500 or 429 to exercise the retries.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v21.0"


class FakeGraphApi:
    def __init__(self, access_token: str, phone_number_id: str) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.messages: list[dict] = []  # accepted sends, in order
        self.attempts = 0  # every POST to /messages, failed ones included
        self.unauthorized = 0
        self.media: dict[str, tuple[bytes, str]] = {}
        self.downloads: list[str] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    def start(self) -> FakeGraphApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    def fail_next(self, times: int, status: int = 500) -> None:
        """Answer the next ``times`` sends with ``status`` instead of accepting them."""
        with self._lock:
            self._failures.extend([status] * times)

    def sent_to(self, wa_id: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m.get("to") == wa_id]

    def wait_for(
        self,
        wa_id: str,
        start: int,
        done: Callable[[list[dict]], bool],
        seconds: float = 90,
        settle: float = 0.5,
    ) -> list[dict]:
        """The messages to ``wa_id`` after the first ``start`` ones, once ``done(new)``.

        Waits ``settle`` seconds more so that the rest of the same answer arrives too.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            new = self.sent_to(wa_id)[start:]
            if new and done(new):
                time.sleep(settle)
                return self.sent_to(wa_id)[start:]
            time.sleep(0.1)
        raise AssertionError(
            f"no expected answer within {seconds}s; got {self.sent_to(wa_id)[start:]}"
        )

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: dict):
                self._reply(status, json.dumps(data).encode())

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.access_token}":
                    return True
                with fake._lock:
                    fake.unauthorized += 1
                self._json(401, {"error": {"message": "Invalid OAuth access token", "code": 190}})
                return False

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not self._authorized():
                    return
                if self.path != f"/{VERSION}/{fake.phone_number_id}/messages":
                    return self._json(404, {"error": {"message": "unknown path", "code": 100}})
                with fake._lock:
                    fake.attempts += 1
                    failure = fake._failures.pop(0) if fake._failures else None
                    if failure is None:
                        message = json.loads(body)
                        fake.messages.append(message)
                if failure is not None:
                    return self._json(
                        failure,
                        {"error": {"message": "try later", "code": 4 if failure == 429 else 1}},
                    )
                self._json(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": message.get("to"), "wa_id": message.get("to")}],
                        "messages": [{"id": f"wamid.out{len(fake.messages)}"}],
                    },
                )

            def do_GET(self):
                if not self._authorized():
                    return
                if self.path.startswith("/media/"):
                    media_id = self.path[len("/media/") :]
                    if media_id not in fake.media:
                        return self._json(404, {"error": {"message": "no media", "code": 100}})
                    with fake._lock:
                        fake.downloads.append(media_id)
                    content, mime_type = fake.media[media_id]
                    return self._reply(200, content, mime_type)
                media_id = self.path[len(f"/{VERSION}/") :]
                if not self.path.startswith(f"/{VERSION}/") or media_id not in fake.media:
                    return self._json(404, {"error": {"message": "no media", "code": 100}})
                content, mime_type = fake.media[media_id]
                self._json(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "id": media_id,
                        "url": f"http://127.0.0.1:{fake.port}/media/{media_id}",
                        "mime_type": mime_type,
                        "file_size": len(content),
                        "sha256": "not-checked",
                    },
                )

        return Handler
