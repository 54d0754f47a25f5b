"""An answer reaches the citizen's socket on whichever Rasa server holds it.

With several Rasa servers behind nginx, the server that finishes a turn is not
always the one holding the citizen's socket: when a server dies, its browsers
reconnect to the other one while their last message still waits there for the
conversation's lock (Rasa's ticket of the dead server lives out its 60 s), and
the answer is emitted on a server where the citizen no longer is. Without a relay
that answer was lost: the citizen saw nothing, typed again, and the retyped text
was taken as the answer to the next question.

:class:`SocketRelay` is python-socketio's Redis manager (pub/sub between the
servers, nothing kept in Redis): every answer is emitted on this server and
published for the others, which emit it to their own sockets in the room. (Publishing
only when no socket of this server was in the room failed: a long-polling socket the
browser had left still counted as here until its ping timeout, and took the answer.)

What crosses Redis is sealed with the case key (AES-GCM: encrypted and authenticated;
``buzon.crypto``): an answer can hold the citizen's data (the summary before
confirming), and Redis sees none of it. Whoever can publish on Redis cannot steer the
sockets: only sealed ``emit`` orders are obeyed; python-socketio's other pub/sub orders
(put a socket in a room, disconnect it) are never sent by this project and are
ignored, so a Redis client cannot join a citizen's room nor speak as the bot. A
publish waits at most ``PUBLISH_SECONDS``: it runs inside the turn (held answers are
released inside the conversation's lock), and a hung Redis must not hold the turn.
When Redis cannot be reached the local delivery still happens (the relay logs that
Redis was unreachable, never the message).

Configured with the socket.io channel's ``redis_url`` credential (production:
``SOCKETIO_REDIS_URL``, by default the lock store's Redis); without it a server
is on its own, as in development.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

import socketio
from cryptography.fernet import InvalidToken

from buzon import wiring

logger = logging.getLogger(__name__)

CHANNEL = "buzon-socketio"
# No read timeout: the listening connection waits for messages as long as none come
# (with one it timed out every few quiet seconds and missed what came meanwhile).
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_keepalive": True}
PUBLISH_SECONDS = 1.5


class Sealer(Protocol):
    def encrypt(self, value: str) -> str: ...

    def decrypt(self, token: str) -> str: ...


def sealed(message: dict[str, Any], cipher: Sealer) -> str:
    """``message`` as published: JSON, encrypted and authenticated."""
    return cipher.encrypt(json.dumps(message, separators=(",", ":")))


def opened(published: Any, cipher: Sealer) -> dict[str, Any] | None:
    """The emit order inside a published message, or None when it is not one we sealed."""
    try:
        text = published.decode("ascii") if isinstance(published, bytes) else published
        message = json.loads(cipher.decrypt(text))
    except (InvalidToken, ValueError, TypeError, AttributeError):
        return None
    return message if isinstance(message, dict) and message.get("method") == "emit" else None


class SocketRelay(socketio.AsyncRedisManager):
    """python-socketio's Redis manager with sealed messages and only emits obeyed."""

    def __init__(self, url: str, cipher: Sealer | None = None) -> None:
        super().__init__(url, channel=CHANNEL, redis_options=dict(REDIS_OPTIONS))
        self._cipher = cipher

    @property
    def cipher(self) -> Sealer:
        if self._cipher is None:
            self._cipher = wiring.current().cipher
        return self._cipher

    async def _publish(self, data):
        if data.get("method") != "emit":
            return None  # rooms are this server's own business
        try:
            return await asyncio.wait_for(
                self._publish_raw(sealed(data, self.cipher)), PUBLISH_SECONDS
            )
        except asyncio.TimeoutError:
            logger.error("socket.io relay: Redis did not take an answer in time")
            self.connected = False  # a fresh connection next time
            return None

    async def _publish_raw(self, payload: str):
        """python-socketio's publish (two tries), of an already sealed payload."""
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    self._redis_connect()
                return await self.redis.publish(self.channel, payload)
            except Exception as error:  # what python-socketio catches too
                self.connected = False
                if not retries_left:
                    logger.error("socket.io relay: Redis unreachable (%s)", type(error).__name__)
        return None

    async def _listen(self):
        async for published in super()._listen():
            message = opened(published, self.cipher)
            if message is None:
                logger.warning("socket.io relay: a message not sealed by a server ignored")
                continue
            yield message


def relay_answers(server: socketio.AsyncServer, url: str | None) -> None:
    """Give ``server`` the relay (before its first connection), when ``url`` is set."""
    if not url:
        return
    relay = SocketRelay(url)
    # What AsyncServer(client_manager=...) does; Rasa builds the server itself.
    server.manager = relay
    relay.set_server(server)
    server.manager_initialized = False
