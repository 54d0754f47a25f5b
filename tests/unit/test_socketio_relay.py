"""Answers relayed between Rasa servers through Redis, sealed, and only answers
(channels/socketio_relay.py), on the machine's Redis.

Two python-socketio servers, each with its relay, stand for two Rasa servers; a
socket is a participant registered with the server's manager (what a connection
and ``enter_room`` do), and what a server would write to a socket is captured.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import redis
import socketio
from cryptography.fernet import Fernet

from buzon.crypto import FieldCipher
from channels.socketio_relay import CHANNEL, SocketRelay, relay_answers, sealed

URL = "redis://127.0.0.1:6379/1"
CIPHER = FieldCipher(Fernet.generate_key().decode())  # the servers' case key


@pytest.fixture()
def redis_url():
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI: {error}")
        pytest.skip(f"Redis not reachable: {error}")
    return URL


class Server:
    """A socket.io server with the relay, and what it wrote to each of its sockets."""

    def __init__(self, url: str) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi", client_manager=SocketRelay(url, CIPHER))
        self.written: list[tuple[str, object]] = []

        async def capture(eio_sid, eio_packet):  # an Engine.IO message: "2" + JSON
            self.written.append((eio_sid, json.loads(eio_packet.data[1:])))

        self.sio._send_eio_packet = capture  # the socket's transport, captured
        self.sio.manager.initialize()  # what its first connection does: listen to Redis

    async def socket_in(self, room: str, eio_sid: str) -> None:
        sid = await self.sio.manager.connect(eio_sid, "/")
        await self.sio.manager.enter_room(sid, "/", room, eio_sid=eio_sid)

    def received(self, eio_sid: str) -> list:
        return [data for to, data in self.written if to == eio_sid]


async def published_while(url: str, action) -> list[bytes]:
    """What reached Redis on the relay's channel while ``action`` ran, as Redis has it."""
    listener = redis.asyncio.Redis.from_url(url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    await action()
    messages = []
    deadline = asyncio.get_running_loop().time() + 1.0
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(timeout=0.2)
        if message is not None:
            messages.append(message["data"])
    await pubsub.close()
    await listener.close()
    return messages


def test_an_answer_goes_to_the_socket_here_and_to_redis_sealed(redis_url):
    async def scenario():
        here = Server(redis_url)
        await here.socket_in("conversation-1", "socket-a")

        async def answer():
            await here.sio.emit(
                "bot_uttered", {"text": "Cédula: 0912345675"}, room="conversation-1"
            )

        published = await published_while(redis_url, answer)
        return here.received("socket-a"), published

    received, published = asyncio.run(scenario())
    assert received == [["bot_uttered", {"text": "Cédula: 0912345675"}]]  # once, here
    assert len(published) == 1
    assert b"0912345675" not in published[0] and b"conversation-1" not in published[0]
    assert json.loads(CIPHER.decrypt(published[0].decode()))["room"] == "conversation-1"


def test_an_answer_for_a_socket_on_the_other_server_reaches_it_there(redis_url):
    async def scenario():
        finished_here, holds_socket = Server(redis_url), Server(redis_url)
        await holds_socket.socket_in("conversation-2", "socket-b")
        await listening(redis_url, 2)

        async def answer():
            await finished_here.sio.emit(
                "bot_uttered", {"text": "¿En qué cantón?"}, room="conversation-2"
            )

        published = await published_while(redis_url, answer)
        await arrived(holds_socket, "socket-b", 1)
        # A quiet while later (a citizen thinking), the relay still listens.
        await asyncio.sleep(4)
        await finished_here.sio.emit("bot_uttered", {"text": "Gracias"}, room="conversation-2")
        await arrived(holds_socket, "socket-b", 2)
        return finished_here.written, holds_socket.received("socket-b"), published

    written_here, received, published = asyncio.run(scenario())
    assert written_here == []
    assert received == [
        ["bot_uttered", {"text": "¿En qué cantón?"}],
        ["bot_uttered", {"text": "Gracias"}],
    ]
    assert [json.loads(CIPHER.decrypt(m.decode()))["room"] for m in published] == ["conversation-2"]


async def listening(url: str, servers: int) -> None:
    """Until ``servers`` relays are subscribed (pub/sub drops what comes before)."""
    client = redis.asyncio.Redis.from_url(url)
    for _ in range(50):
        if dict(await client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) >= servers:
            break
        await asyncio.sleep(0.1)
    await client.close()


async def arrived(server: Server, eio_sid: str, count: int) -> None:
    for _ in range(30):
        if len(server.received(eio_sid)) >= count:
            return
        await asyncio.sleep(0.1)


def test_without_a_url_a_server_keeps_its_own_manager_with_one_it_gets_the_relay():
    sio = socketio.AsyncServer(async_mode="asgi")
    manager = sio.manager
    relay_answers(sio, None)
    relay_answers(sio, "")
    assert sio.manager is manager and not isinstance(manager, SocketRelay)
    relay_answers(sio, URL)
    assert isinstance(sio.manager, SocketRelay) and sio.manager.server is sio


def test_only_sealed_emits_from_a_server_are_obeyed(redis_url):
    """Someone who can publish on Redis cannot put a socket in a citizen's room nor
    speak as the bot."""

    async def scenario():
        here = Server(redis_url)
        await here.socket_in("conversation-4", "socket-d")
        await here.socket_in("lobby", "socket-intruder")
        await listening(redis_url, 1)
        publisher = redis.asyncio.Redis.from_url(redis_url)
        emit = {
            "method": "emit", "event": "bot_uttered", "data": [{"text": "falso"}],
            "binary": False, "namespace": "/", "room": "conversation-4", "skip_sid": None,
            "callback": None, "host_id": "intruder",
        }  # fmt: skip
        intruder_sid = here.sio.manager.sid_from_eio_sid("socket-intruder", "/")
        enter = {
            "method": "enter_room", "sid": intruder_sid, "namespace": "/",
            "room": "conversation-4", "host_id": "intruder",
        }  # fmt: skip
        other_key = FieldCipher(Fernet.generate_key().decode())
        await publisher.publish(CHANNEL, json.dumps(emit))  # python-socketio's own format
        await publisher.publish(CHANNEL, sealed(emit, other_key))  # another key
        await publisher.publish(CHANNEL, sealed(enter, CIPHER))  # sealed, but not an emit
        await asyncio.sleep(1)
        await publisher.publish(CHANNEL, sealed({**emit, "data": [{"text": "real"}]}, CIPHER))
        await arrived(here, "socket-d", 1)
        await publisher.close()
        rooms = here.sio.manager.get_rooms(intruder_sid, "/")
        return here.received("socket-d"), here.received("socket-intruder"), rooms

    received, intruder, rooms = asyncio.run(scenario())
    assert received == [["bot_uttered", {"text": "real"}]]  # only the sealed emit
    assert intruder == [] and "conversation-4" not in rooms


def test_redis_unreachable_the_local_socket_still_gets_its_answer():
    async def scenario():
        here = Server("redis://127.0.0.1:1/0")  # nothing listens on port 1
        await here.socket_in("conversation-3", "socket-c")
        await here.sio.emit("bot_uttered", {"text": "intente de nuevo"}, room="conversation-3")
        # a room with no socket here: published, which fails, and nothing breaks
        await here.sio.emit("bot_uttered", {"text": "x"}, room="elsewhere")
        return here.received("socket-c")

    assert asyncio.run(scenario()) == [["bot_uttered", {"text": "intente de nuevo"}]]
