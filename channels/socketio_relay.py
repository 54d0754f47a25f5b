"""An answer reaches the citizen's socket on whichever Rasa server holds it.

With several Rasa servers behind nginx, the server that finishes a turn is not
always the one holding the citizen's socket: when a server dies, its browsers
reconnect to the other one while their last message still waits there for the
conversation's lock (Rasa's ticket of the dead server lives out its 60 s), and
the answer is emitted on a server where the citizen no longer is. Without a relay
that answer was lost: the citizen saw nothing, typed again, and the retyped text
was taken as the answer to the next question.

:class:`SocketRelay` is python-socketio's Redis manager (pub/sub between the
servers, no copy kept in Redis) that goes through Redis only when it must: an
answer for a room with a socket on this server is emitted here only, as before;
only an answer for a room none of this server's sockets is in is published, for
the server that holds it. So, in the usual case, no message of the conversation
crosses to Redis at all. When Redis cannot be reached the local delivery still
happens (the relay logs that Redis was unreachable, never the message).

Whoever can publish on Redis must not steer the sockets: the relay obeys only
``emit`` messages signed with a key derived from the case key (an HMAC the servers
share and Redis never sees); python-socketio's other pub/sub orders (put a socket in
a room, disconnect it) are never sent by this project and are ignored, so a Redis
client cannot join a citizen's room and read the answers. A publish waits at most
``PUBLISH_SECONDS``: it runs inside the turn (held answers are released inside the
conversation's lock), and a hung Redis must not hold the turn.

Configured with the socket.io channel's ``redis_url`` credential (production:
``SOCKETIO_REDIS_URL``, by default the lock store's Redis); without it a server
is on its own, as in development. Use ``rediss://`` with a password when Redis is
on another machine: what is relayed is a bot message, which can hold the
citizen's data (the summary before confirming).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from hashlib import sha256
from typing import Any

import socketio

from buzon import wiring

logger = logging.getLogger(__name__)

CHANNEL = "buzon-socketio"
# No read timeout: the listening connection waits for messages as long as none come
# (with one it timed out every few quiet seconds and missed what came meanwhile).
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_keepalive": True}
PUBLISH_SECONDS = 1.5


def _relay_key() -> bytes:
    return wiring.current().cipher.hash_key("socketio-relay")


def signed(message: dict[str, Any], key: bytes) -> str:
    """``message`` as JSON with its HMAC, as published."""
    body = json.dumps(message, sort_keys=True, separators=(",", ":"))
    return json.dumps({"body": body, "mac": hmac.new(key, body.encode(), sha256).hexdigest()})


def verified(published: Any, key: bytes) -> dict[str, Any] | None:
    """The emit order inside a published message, or None when it is not one we signed."""
    try:
        outer = json.loads(published)
        body, mac = outer["body"], outer["mac"]
        expected = hmac.new(key, body.encode(), sha256).hexdigest()
        if not (isinstance(mac, str) and hmac.compare_digest(mac, expected)):
            return None
        message = json.loads(body)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return message if isinstance(message, dict) and message.get("method") == "emit" else None


class SocketRelay(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, publishing only what this server cannot deliver,
    signed, and obeying only signed emits."""

    def __init__(self, url: str, key: bytes | None = None) -> None:
        super().__init__(url, channel=CHANNEL, redis_options=dict(REDIS_OPTIONS))
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = _relay_key()
        return self._key

    async def _publish(self, data):
        if data.get("method") != "emit":
            return None  # rooms are this server's own business
        try:
            return await asyncio.wait_for(
                self._publish_raw(signed(data, self.key)), PUBLISH_SECONDS
            )
        except asyncio.TimeoutError:
            logger.error("socket.io relay: Redis did not take an answer in time")
            self.connected = False  # a fresh connection next time
            return None

    async def _publish_raw(self, payload: str):
        """python-socketio's publish (two tries), of an already encoded payload."""
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
            message = verified(published, self.key)
            if message is None:
                logger.warning("socket.io relay: a message not signed by a server ignored")
                continue
            yield message

    def delivers_here(self, namespace: str | None, room: Any) -> bool:
        """Whether a socket of this server is in ``room``."""
        if room is None or isinstance(room, (list, tuple, set)):
            return False
        return next(iter(self.get_participants(namespace or "/", room)), None) is not None

    async def emit(
        self,
        event,
        data,
        namespace=None,
        room=None,
        skip_sid=None,
        callback=None,
        to=None,
        **kwargs,
    ):
        room = to or room
        if callback is None and self.delivers_here(namespace, room):
            kwargs["ignore_queue"] = True  # emitted on this server only
        return await super().emit(
            event,
            data,
            namespace=namespace,
            room=room,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )


def relay_answers(server: socketio.AsyncServer, url: str | None) -> None:
    """Give ``server`` the relay (before its first connection), when ``url`` is set."""
    if not url:
        return
    relay = SocketRelay(url)
    # What AsyncServer(client_manager=...) does; Rasa builds the server itself.
    server.manager = relay
    relay.set_server(server)
    server.manager_initialized = False
