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
happens (python-socketio logs "Cannot publish to redis", never the message).

Configured with the socket.io channel's ``redis_url`` credential (production:
``SOCKETIO_REDIS_URL``, by default the lock store's Redis); without it a server
is on its own, as in development. Use ``rediss://`` with a password when Redis is
on another machine: what is relayed is a bot message, which can hold the
citizen's data (the summary before confirming).
"""

from __future__ import annotations

from typing import Any

import socketio

CHANNEL = "buzon-socketio"
# No read timeout: the listening connection waits for messages as long as none come
# (with one it timed out every few quiet seconds and missed what came meanwhile).
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_keepalive": True}


class SocketRelay(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, publishing only what this server cannot deliver."""

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=CHANNEL, redis_options=dict(REDIS_OPTIONS))

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
