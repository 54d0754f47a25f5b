"""A citizen's browser on the socket.io channel, without a browser: the page's cookie,
the widget's session handshake and messages, as rasa-webchat does them."""

from __future__ import annotations

import threading
import time

import requests
import socketio


class SocketChat:
    """One socket.io connection to the bot.

    ``cookie`` is the browser's chat cookie (``page_cookie`` fetches one as the
    page gives it); ``origin`` what the browser would send as ``Origin``.
    """

    def __init__(
        self,
        base_url: str,
        cookie: str | None,
        origin: str | None = None,
        transport: str = "websocket",
    ) -> None:
        self.base_url = base_url
        self.messages: list[dict] = []
        self.session_id: str | None = None
        self._confirmed = threading.Event()
        self._arrived = threading.Condition()
        # websocket-client sends an Origin of its own (this server's) unless told another.
        self.client = socketio.Client(
            reconnection=False, websocket_extra_options={"origin": origin} if origin else {}
        )
        self.client.on("session_confirm", self._on_confirm)
        self.client.on("bot_uttered", self._on_bot)
        self.headers = {"Cookie": f"buzon_chat={cookie}"} if cookie else {}
        self.transport = transport

    @staticmethod
    def page_cookie(base_url: str) -> str:
        page = requests.get(f"{base_url}/webhooks/web/", timeout=10)
        page.raise_for_status()
        return page.cookies["buzon_chat"]

    def _on_confirm(self, session_id) -> None:
        self.session_id = (
            session_id.get("session_id") if isinstance(session_id, dict) else session_id
        )
        self._confirmed.set()

    def _on_bot(self, message) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def connect(self, session_id: str | None = None) -> SocketChat:
        self.client.connect(
            self.base_url,
            headers=self.headers,
            transports=[self.transport],
            socketio_path="/socket.io/",
            wait_timeout=10,
        )
        self.client.emit("session_request", {"session_id": session_id})
        if not self._confirmed.wait(10):
            raise TimeoutError("no session_confirm")
        return self

    def send(self, text: str, session_id: str | None = None) -> None:
        self.client.emit(
            "user_uttered",
            {
                "message": text,
                "customData": {"language": "es"},
                "session_id": session_id or self.session_id,
            },
        )

    def say(self, text: str, quiet: float = 1.2, seconds: float = 30.0) -> list[dict]:
        """Send ``text``; the bot messages that arrive until ``quiet`` seconds pass without one."""
        start = len(self.messages)
        self.send(text)
        return self.wait_for_messages(start, quiet, seconds)

    def wait_for_messages(
        self, start: int, quiet: float = 1.2, seconds: float = 30.0
    ) -> list[dict]:
        deadline = time.monotonic() + seconds
        with self._arrived:
            while time.monotonic() < deadline:
                count = len(self.messages)
                self._arrived.wait(quiet)
                if len(self.messages) == count and count > start:
                    break
        return self.messages[start:]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)
