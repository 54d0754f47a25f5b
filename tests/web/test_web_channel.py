"""The web page channel in-process (no browser): the page, the static files, the
evidence upload with a real evidence store on SQLite, and socket.io sessions bound
to the browser that opened them."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace

import pytest
from sanic import Sanic

from buzon.evidence import MAX_FILES
from channels import evidence_reception, web
from channels.request_body import read_body
from tests import synthetic_files

BROWSER = "a1" * 32  # the page's cookie: 64 hex characters of randomness
OTHER_BROWSER = "b2" * 32


class StubAgent:
    def __init__(self, tracker_store=None):
        self.tracker_store = tracker_store
        self.domain = SimpleNamespace(
            responses={
                "utter_service_busy": [{"text": "ocupado"}],
                "utter_empty_message": [{"text": "vacío"}],
                "utter_message_too_long": [{"text": "muy largo"}],
            }
        )

    def is_ready(self):
        return True


class Trackers:
    """A tracker store with a queja and a denuncia at the evidence step, and one elsewhere."""

    def __init__(self, sessions):
        def tracker(requested_slot, case_kind):
            slots = {
                "requested_slot": requested_slot,
                "case_kind": case_kind,
                "registration_id": "reg-1",
            }
            return SimpleNamespace(active_loop_name="case_form", get_slot=slots.get, events=[])

        self.trackers = {
            sessions.at_evidence: tracker("evidence", "queja"),
            sessions.denuncia: tracker("evidence", "denuncia"),
            sessions.elsewhere: tracker("address", "queja"),
        }

    async def retrieve(self, sender_id):
        return self.trackers.get(sender_id)


@pytest.fixture
def store(evidence_reception_store):
    return evidence_reception_store


@pytest.fixture
def sessions(store):
    """Session ids of this browser (made after the wiring, whose key signs them)."""
    return SimpleNamespace(
        **{
            name: web.session_id_for(BROWSER)
            for name in ("at_evidence", "denuncia", "elsewhere", "unknown")
        }
    )


@pytest.fixture
def app(sessions):
    app = Sanic(f"web_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = StubAgent(Trackers(sessions))

    async def no_text_messages(message):
        raise AssertionError("the web page channel receives no chat messages")

    app.blueprint(
        web.WebPageInput.from_credentials(None).blueprint(no_text_messages),
        url_prefix="/webhooks/web",
    )
    return app


run = asyncio.run  # each call its own event loop, closed afterwards


def multipart(fields: list, boundary: str = "----buzonTest7MA4YWxkTrZu0gW") -> tuple:
    """A multipart/form-data body from (name, value) and (name, filename, bytes) entries."""
    body = b""
    for field in fields:
        body += f"--{boundary}\r\n".encode()
        if len(field) == 2:
            body += f'Content-Disposition: form-data; name="{field[0]}"\r\n\r\n'.encode()
            body += field[1].encode() + b"\r\n"
        else:
            name, filename, content = field
            body += (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(
    app,
    sender: str,
    name: str,
    content: bytes,
    cookie: str | None = BROWSER,
    origin: str | None = None,
):
    body, headers = multipart([("sender", sender), ("file", name, content)])
    if cookie:
        headers["Cookie"] = f"{web.COOKIE}={cookie}"
    if origin:
        headers["Origin"] = origin
    _, answer = run(app.asgi_client.post("/webhooks/web/upload", content=body, headers=headers))
    return answer


def test_the_page_and_its_files_are_served_with_a_strict_policy(app):
    _, page = run(app.asgi_client.get("/webhooks/web/"))
    assert page.status == 200 and "Buzón de Quejas y Denuncias del IESS" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    cookie = page.headers["set-cookie"]
    assert web.browser_secret_of(cookie.split(";")[0]) is not None
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # the embedded profile runs on http://localhost
    _, css = run(app.asgi_client.get("/webhooks/web/static/site.css"))
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    _, script = run(app.asgi_client.get("/webhooks/web/static/site.js"))
    assert script.status == 200 and "text/javascript" in script.headers["content-type"]


def test_the_widget_bundle_comes_from_npm_without_external_fonts(app):
    if web.webchat_bundle() is None:
        pytest.fail("rasa-webchat is not installed: run `npm ci` in web/")
    _, bundle = run(app.asgi_client.get("/webhooks/web/static/webchat.js"))
    assert bundle.status == 200 and b"window" in bundle.body
    assert b"fonts.googleapis.com" not in bundle.body


@pytest.mark.parametrize(
    "name",
    ["../index.html", "..%2Findex.html", ".hidden", "nothing.css", "%2e%2e/%2e%2e/channels/web.py"],
)
def test_nothing_outside_the_static_folder_is_served(app, name):
    _, answer = run(app.asgi_client.get(f"/webhooks/web/static/{name}"))
    assert answer.status == 404


def test_static_file_refuses_paths_that_leave_the_folder(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.css").write_text("a{}")
    (tmp_path / "secret.txt").write_text("no")
    assert (
        web.static_file("a.css", tmp_path / "static") == (tmp_path / "static" / "a.css").resolve()
    )
    for name in ("../secret.txt", "/etc/passwd", "a.css/..", ".a.css", "", "a\\b", "x\x00.css"):
        assert web.static_file(name, tmp_path / "static") is None


def test_a_png_at_the_evidence_step_is_stored_and_the_bot_told(app, store, sessions):
    answer = upload(app, sessions.at_evidence, "receta médica.png", synthetic_files.png())
    assert answer.status == 200
    assert answer.json == {"message": '/inform{"evidence_file": "receta médica.png"}'}
    assert [f.name for f in store.pending(sessions.at_evidence, "reg-1")] == ["receta médica.png"]


@pytest.mark.parametrize(
    "where, name, content, reason",
    [
        ("at_evidence", "informe.pdf", b"esto no es un PDF\n" * 10, "evidence_type"),
        (
            "at_evidence",
            "foto.png",
            synthetic_files.png(padding=2 * 1024 * 1024),
            "evidence_too_large",
        ),
        ("at_evidence", "vacio.png", b"", "evidence_empty"),
        ("elsewhere", "receta.png", synthetic_files.png(), "evidence_not_now"),
        (
            "unknown",
            "receta.png",
            synthetic_files.png(),
            "evidence_not_now",
        ),  # no such conversation
    ],
)
def test_a_refused_file_gets_the_reason_for_the_bot(
    app, store, sessions, where, name, content, reason
):
    sender = getattr(sessions, where)
    answer = upload(app, sender, name, content)
    assert answer.status == 200
    assert json.loads(answer.json["message"][len("/inform") :]) == {"evidence_error": reason}
    assert store.pending(sender, "reg-1") == []


@pytest.mark.parametrize(
    "cookie, origin",
    [
        (None, None),  # no cookie: not a browser that loaded the page
        (OTHER_BROWSER, None),  # a stolen session id, another browser
        ("x" * 64, None),  # not a cookie the page gives
        (BROWSER, "https://evil.example"),  # the right cookie, posted from another site
    ],
)
def test_an_upload_into_someone_elses_conversation_is_refused(app, store, sessions, cookie, origin):
    answer = upload(
        app, sessions.at_evidence, "receta.png", synthetic_files.png(), cookie=cookie, origin=origin
    )
    assert answer.status == 403
    assert store.pending(sessions.at_evidence, "reg-1") == []


def test_a_denuncia_takes_a_2_mb_file_and_at_most_max_files(app, store, sessions):
    big = synthetic_files.png(padding=2 * 1024 * 1024)
    assert "evidence_file" in upload(app, sessions.denuncia, "foto.png", big).json["message"]
    for number in range(1, MAX_FILES):
        assert (
            "evidence_file"
            in upload(
                app, sessions.denuncia, f"f{number}.png", synthetic_files.png(width=number + 1)
            ).json["message"]
        )
    refused = upload(app, sessions.denuncia, "otra.png", synthetic_files.png(width=20))
    assert refused.json["message"] == '/inform{"evidence_error": "evidence_too_many"}'


def test_more_than_20_mb_is_refused_without_keeping_it(app, store, sessions, monkeypatch):
    kept = []
    original = evidence_reception.receive_file

    async def spy(*args):
        kept.append(args)
        return await original(*args)

    monkeypatch.setattr(evidence_reception, "receive_file", spy)
    huge = synthetic_files.png(padding=web.MAX_BODY_BYTES)  # past what is ever read
    answer = upload(app, sessions.denuncia, "video.png", huge)
    assert answer.status == 200
    assert answer.json["message"] == '/inform{"evidence_error": "evidence_too_large"}'
    assert kept == [] and store.pending(sessions.denuncia, "reg-1") == []
    # When the conversation is not asking for evidence, that is the answer.
    assert "evidence_not_now" in upload(app, sessions.elsewhere, "video.png", huge).json["message"]


def test_read_body_keeps_at_most_the_limit():
    class Stream:
        def __init__(self, chunks):
            self.chunks = list(chunks)

        async def read(self):
            return self.chunks.pop(0) if self.chunks else None

    request = SimpleNamespace(stream=Stream([b"a" * 10, b"b" * 10, b"c" * 10]))
    assert run(read_body(request, limit=15)) == (b"a" * 10 + b"b" * 5, True)
    request = SimpleNamespace(stream=Stream([b"a" * 10, b"b" * 5]))
    assert run(read_body(request, limit=15)) == (b"a" * 10 + b"b" * 5, False)


@pytest.mark.parametrize(
    "fields",
    [
        [("sender", "AT_EVIDENCE")],  # no file
        [("file", "a.png", synthetic_files.png())],  # no sender
        [("sender", "ana"), ("file", "a.png", synthetic_files.png())],  # not a session id
        [("sender", "wa-" + "a" * 37), ("file", "a.png", synthetic_files.png())],
    ],
)
def test_a_malformed_upload_is_a_400(app, store, sessions, fields):
    fields = [
        (name, sessions.at_evidence, *rest) if value == "AT_EVIDENCE" else (name, value, *rest)
        for name, value, *rest in fields
    ]
    body, headers = multipart(fields)
    headers["Cookie"] = f"{web.COOKIE}={BROWSER}"
    _, answer = run(app.asgi_client.post("/webhooks/web/upload", content=body, headers=headers))
    assert answer.status == 400
    assert store.pending(sessions.at_evidence, "reg-1") == []


@pytest.mark.parametrize(
    "body, headers",
    [
        (b'{"sender": "x"}', {"Content-Type": "application/json"}),
        (
            b"--x\r\nno colon here\r\n\r\nzzz\r\n--x--\r\n",
            {"Content-Type": "multipart/form-data; boundary=x"},
        ),
    ],
)
def test_a_body_that_is_no_form_is_a_400(app, store, body, headers):
    _, answer = run(app.asgi_client.post("/webhooks/web/upload", content=body, headers=headers))
    assert answer.status == 400


def test_the_channels_are_named_as_rasa_expects():
    assert web.WebPageInput.name() == "web"
    assert web.SocketIOInput.name() == "socketio"
    socketio = web.SocketIOInput.from_credentials({"session_persistence": True})
    assert socketio.session_persistence is True and socketio.url_prefix() == "socketio"


def test_an_upload_before_the_bot_has_loaded_is_a_503(app, store, sessions):
    app.ctx.agent = None
    assert upload(app, sessions.at_evidence, "receta.png", synthetic_files.png()).status == 503


def test_an_upload_while_the_conversation_store_is_down_is_a_503_and_nothing_is_kept(
    app, store, sessions
):
    from persistence.encrypted_tracker_store import TrackerStoreUnavailable

    class Down:
        async def retrieve(self, sender_id):
            raise TrackerStoreUnavailable()

    app.ctx.agent = StubAgent(Down())
    answer = upload(app, sessions.at_evidence, "receta.png", synthetic_files.png())
    assert answer.status == 503 and "message" not in answer.json  # the page: "try again"
    assert store.pending(sessions.at_evidence, "reg-1") == []


# --- socket.io sessions ------------------------------------------------------------------------


def socketio_channel(received: list):
    channel = web.SocketIOInput.from_credentials(
        {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
        }
    )

    async def on_new_message(message):
        received.append(message)

    channel.blueprint(on_new_message)
    channel.app = SimpleNamespace(ctx=SimpleNamespace(agent=StubAgent()))
    calls = []

    async def enter_room(sid, room, namespace=None):  # a coroutine, as in python-socketio >= 5.10
        calls.append(("enter_room", sid, room))

    async def emit(event, data=None, room=None, namespace=None, **kwargs):
        calls.append(("emit", event, data, room))

    channel.sio.enter_room, channel.sio.emit = enter_room, emit
    return channel.sio.handlers["/"], calls


def environ(cookie=BROWSER, origin=None, host="localhost:5005"):
    found = {"HTTP_HOST": host}
    if cookie:
        found["HTTP_COOKIE"] = f"otra=1; {web.COOKIE}={cookie}"
    if origin:
        found["HTTP_ORIGIN"] = origin
    return found


def test_socketio_joins_the_session_room_so_replies_reach_the_browser(store):
    received = []
    handlers, calls = socketio_channel(received)
    mine = web.session_id_for(BROWSER)
    assert run(handlers["connect"]("sid-1", environ(origin="http://localhost:5005"), None))
    run(handlers["session_request"]("sid-1", {"session_id": mine}))
    assert calls == [("enter_room", "sid-1", mine), ("emit", "session_confirm", mine, "sid-1")]
    run(handlers["user_uttered"]("sid-1", {"message": "hola", "session_id": mine}))
    assert [(m.text, m.sender_id, m.input_channel) for m in received] == [
        ("hola", mine, "socketio")
    ]


@pytest.mark.parametrize(
    "connection",
    [
        environ(cookie=None),  # did not load the page
        environ(cookie="zz"),  # a cookie the page never gives
        environ(origin="https://evil.example"),  # a page of another site
    ],
)
def test_socketio_refuses_a_socket_without_the_page_or_from_another_site(store, connection):
    handlers, _ = socketio_channel([])
    assert run(handlers["connect"]("sid-x", connection, None)) is False


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"session_id": None},
        {"session_id": "ana"},
        {"session_id": "wa-" + "a" * 37},
        "texto",
        {"session_id": "c" * 40},
    ],
)
def test_socketio_gives_a_new_session_instead_of_a_foreign_one(store, data):
    received = []
    handlers, calls = socketio_channel(received)
    run(handlers["connect"]("sid-2", environ(), None))
    run(handlers["session_request"]("sid-2", data))
    (_, _, room), (_, event, confirmed, to) = calls
    assert event == "session_confirm" and to == "sid-2" and room == confirmed
    assert web.SESSION_ID.fullmatch(confirmed) and web.belongs_to(confirmed, BROWSER)
    run(handlers["user_uttered"]("sid-2", {"message": "hola", "session_id": "ana"}))
    run(handlers["user_uttered"]("sid-2", {"message": "hola"}))
    assert received == []


def test_a_stolen_session_id_gives_another_browser_nothing(store):
    received = []
    handlers, calls = socketio_channel(received)
    victims = web.session_id_for(BROWSER)
    run(handlers["connect"]("victim", environ(), None))
    run(handlers["session_request"]("victim", {"session_id": victims}))
    run(handlers["connect"]("thief", environ(cookie=OTHER_BROWSER), None))
    run(handlers["session_request"]("thief", {"session_id": victims}))
    thiefs = calls[-1][2]
    assert thiefs != victims and ("enter_room", "thief", victims) not in calls
    run(handlers["user_uttered"]("thief", {"message": "0999999999", "session_id": victims}))
    assert received == []  # cannot type into the victim's conversation


def test_a_second_socket_of_the_same_browser_gets_its_own_session_while_the_first_is_open(store):
    handlers, calls = socketio_channel([])
    first = web.session_id_for(BROWSER)
    for sid in ("tab-1", "tab-2"):
        run(handlers["connect"](sid, environ(), None))
        run(handlers["session_request"](sid, {"session_id": first}))
    assert calls[1][2] == first and calls[3][2] != first
    run(handlers["disconnect"]("tab-1"))
    run(handlers["connect"]("tab-1-again", environ(), None))
    run(handlers["session_request"]("tab-1-again", {"session_id": first}))
    assert calls[-1][2] == first  # reloading the page resumes the conversation


def test_socketio_answers_blank_and_too_long_messages_itself(store):
    received = []
    handlers, calls = socketio_channel(received)
    mine = web.session_id_for(BROWSER)
    run(handlers["connect"]("sid-3", environ(), None))
    run(handlers["session_request"]("sid-3", {"session_id": mine}))
    run(handlers["user_uttered"]("sid-3", {"message": " \u200b ", "session_id": mine}))
    run(handlers["user_uttered"]("sid-3", {"message": "x" * 60_000, "session_id": mine}))
    assert received == []
    replies = [data for kind, event, data, room in calls[2:] if event == "bot_uttered"]
    assert [r["text"] for r in replies] == ["vacío", "muy largo"]


def test_a_large_upload_without_the_chat_cookie_is_refused_unread(app):
    body = b"--x\r\n" + b"a" * (2 * web.NO_COOKIE_BODY_BYTES) + b"\r\n--x--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    _, answer = run(app.asgi_client.post("/webhooks/web/upload", content=body, headers=headers))
    assert answer.status == 403 and answer.json == {"error": "not this browser's conversation"}
