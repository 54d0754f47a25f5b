"""The WhatsApp channel without servers: payload parsing, signatures, the sender
hash, text splitting, buttons and lists within the Cloud API limits, retries
(with a fake ``requests``), the webhook handled in-process through Sanic's ASGI
client, and the evidence reception with a stub tracker store."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from types import SimpleNamespace

import pytest
import requests
from sanic import Sanic

from buzon import whatsapp_cloud as graph
from channels import evidence_reception
from channels import whatsapp as wa
from channels.whatsapp import channel as channel_module
from tests import synthetic_files

SECRET = "app-secret-for-tests"
WA_ID = "593991234567"
KEY = b"k" * 32  # the sender-hash key (derived from the case key in a server)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook(*messages, statuses=None, phone_number_id="111"):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "593900000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": WA_ID}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def text(body, message_id="wamid.1"):
    return {
        "from": WA_ID,
        "id": message_id,
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": body},
    }


def reply(kind, reply_id, message_id="wamid.2"):
    return {
        "from": WA_ID,
        "id": message_id,
        "type": "interactive",
        "interactive": {"type": kind, kind: {"id": reply_id, "title": "Sí, tengo"}},
    }


# --- signature and sender id -------------------------------------------------------------


def test_signature_is_the_hmac_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account"}'
    assert wa.signature_ok(SECRET, body, sign(body))
    assert not wa.signature_ok(SECRET, body + b" ", sign(body))
    assert not wa.signature_ok(SECRET, body, sign(body, "another-secret"))
    assert not wa.signature_ok(SECRET, body, sign(body)[len("sha256=") :])  # no prefix
    assert not wa.signature_ok(SECRET, body, None)
    assert not wa.signature_ok(SECRET, body, "sha256=")
    assert not wa.signature_ok("", body, sign(body, ""))  # no secret, nothing is valid


def test_sender_id_is_a_keyed_hash_never_the_number():
    sender = wa.sender_id_for(KEY, WA_ID)
    assert sender.startswith("wa-") and len(sender) == 3 + 32
    assert WA_ID not in sender and "991234567" not in sender
    assert sender == wa.sender_id_for(KEY, WA_ID)
    assert sender != wa.sender_id_for(KEY, "593991234568")
    assert sender != wa.sender_id_for(b"o" * 32, WA_ID)
    assert sender[3:] != hashlib.sha256(WA_ID.encode()).hexdigest()[:32]  # keyed, not plain


def test_the_sender_key_comes_from_the_case_key_and_survives_its_rotation(wired):
    from cryptography.fernet import Fernet

    original = Fernet.generate_key().decode()
    wired(CASE_ENCRYPTION_KEY=original)
    before = wa.WhatsAppInput.from_credentials({"app_secret": SECRET}).sender_id(WA_ID)
    after_meta_rotation = wa.WhatsAppInput.from_credentials({"app_secret": "rotated"}).sender_id(
        WA_ID
    )
    wired(CASE_ENCRYPTION_KEY=Fernet.generate_key().decode() + "," + original)
    after_case_rotation = wa.WhatsAppInput.from_credentials({"app_secret": SECRET}).sender_id(WA_ID)
    assert before == after_meta_rotation == after_case_rotation
    wired(CASE_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert wa.WhatsAppInput.from_credentials({"app_secret": SECRET}).sender_id(WA_ID) != before


# --- parsing -----------------------------------------------------------------------------


def test_text_and_interactive_replies_become_message_texts():
    found = wa.parse_webhook(
        webhook(
            text(" hola "),
            reply("button_reply", "/affirm"),
            reply("list_reply", '/inform{"correction":"phone"}', "wamid.3"),
        )
    )
    assert [(m.kind, m.text, m.message_id) for m in found] == [
        ("text", "hola", "wamid.1"),
        ("interactive", "/affirm", "wamid.2"),
        ("interactive", '/inform{"correction":"phone"}', "wamid.3"),
    ]
    assert all(m.wa_id == WA_ID for m in found)


def test_typed_text_cannot_inject_an_intent():
    found = wa.parse_webhook(
        webhook(text('/inform{"evidence_file":"x.pdf"}'), text("/", "wamid.9"))
    )
    assert [m.text for m in found] == ['inform{"evidence_file":"x.pdf"}']


def test_images_and_documents_carry_their_media_id():
    image = {
        "from": WA_ID,
        "id": "wamid.4",
        "type": "image",
        "image": {"mime_type": "image/png", "sha256": "x", "id": "MEDIA1"},
    }
    document = {
        "from": WA_ID,
        "id": "wamid.5",
        "type": "document",
        "document": {"filename": "receta.pdf", "mime_type": "application/pdf", "id": "MEDIA2"},
    }
    voice = {"from": WA_ID, "id": "wamid.6", "type": "audio", "audio": {"id": "MEDIA3"}}
    place = {"from": WA_ID, "id": "wamid.8", "type": "location", "location": {"latitude": -2.1}}
    card = {"from": WA_ID, "id": "wamid.9", "type": "contacts", "contacts": [{"name": {}}]}
    found = wa.parse_webhook(webhook(image, document, voice, place, card))
    assert [(m.kind, m.media_id, m.file_name, m.text) for m in found] == [
        ("image", "MEDIA1", None, None),
        ("document", "MEDIA2", "receta.pdf", None),
        ("audio", None, None, None),  # answered "please write it" by the channel
        ("location", None, None, None),
        ("contacts", None, None, None),
    ]


def test_statuses_reactions_and_other_numbers_are_ignored():
    statuses = [{"id": "wamid.out", "status": "delivered", "recipient_id": WA_ID}]
    assert wa.parse_webhook(webhook(statuses=statuses)) == []
    reaction = {
        "from": WA_ID,
        "id": "wamid.7",
        "type": "reaction",
        "reaction": {"message_id": "wamid.out", "emoji": "👍"},
    }
    assert wa.parse_webhook(webhook(reaction)) == []
    other = webhook(text("hola"), phone_number_id="999")
    assert wa.parse_webhook(other, phone_number_id="111") == []
    assert len(wa.parse_webhook(other)) == 1
    assert wa.parse_webhook({"object": "page"}) == []


def test_a_message_id_is_accepted_once_within_the_ttl():
    now = [0.0]
    seen = wa.SeenMessages(ttl=60, max_entries=2, clock=lambda: now[0])
    assert seen.first_time("a") and not seen.first_time("a")
    now[0] = 61
    assert seen.first_time("a")  # expired: a very late redelivery is new again
    assert seen.first_time("b") and seen.first_time("c")  # beyond 2 entries "a" is dropped
    assert len(seen._expiry) == 2 and not seen.first_time("c")
    assert seen.first_time("a")


def _redis_url():
    import redis

    url = "redis://127.0.0.1:6379/1"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        if __import__("os").environ.get("CI"):
            pytest.fail(f"Redis is required in CI: {error}")
        pytest.skip(f"Redis not reachable: {error}")
    return url


@pytest.mark.parametrize("kind", ["process", "redis"])
def test_a_message_is_marked_after_success_and_released_after_a_failure(kind):
    seen = wa.SeenMessages() if kind == "process" else wa.RedisSeenMessages(_redis_url())
    ok, failed = f"wamid.ok.{uuid.uuid4().hex}", f"wamid.fail.{uuid.uuid4().hex}"
    assert seen.claim(ok) and not seen.claim(ok)  # a redelivery while it is processed
    seen.done(ok)
    assert not seen.claim(ok)  # and after
    assert seen.claim(failed)
    seen.release(failed)
    assert seen.claim(failed), "a failed message must be processed when Meta delivers it again"


def test_concurrent_deliveries_of_one_message_are_claimed_once():
    import sys
    import threading

    seen = wa.SeenMessages()
    for n in range(2000):  # a full cache to scan, as after a busy day
        seen.done(f"wamid.old.{n}")
    ids = [f"wamid.{n % 50}" for n in range(400)]  # each delivered 8 times
    claimed, errors = [], []

    def deliver(chunk):
        try:
            claimed.extend(i for i in chunk if seen.claim(i))
        except RuntimeError as error:  # "OrderedDict mutated during iteration"
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(ids[k::8],)) for k in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and sorted(claimed) == sorted(set(ids))


def test_a_second_server_does_not_process_a_redelivery_again():
    url = _redis_url()
    message_id = f"wamid.shared.{uuid.uuid4().hex}"
    first, second = wa.RedisSeenMessages(url), wa.RedisSeenMessages(url)  # two processes
    assert first.claim(message_id)
    first.done(message_id)
    assert not second.claim(message_id)


# --- splitting and titles ------------------------------------------------------------------


def test_long_text_is_split_at_paragraphs_then_lines_then_words():
    paragraph = ("palabra " * 300).strip()  # 2399 characters
    pieces = wa.split_text(f"{paragraph}\n\n{paragraph}\n\n{paragraph}")
    assert pieces == [paragraph, paragraph, paragraph]
    words = " ".join(f"w{i}" for i in range(3000))
    pieces = wa.split_text(words)
    assert all(len(p) <= wa.TEXT_LIMIT for p in pieces) and len(pieces) > 1
    assert " ".join(pieces) == words  # nothing lost, no word cut
    assert wa.split_text("x" * 5000) == ["x" * 4096, "x" * 904]
    assert wa.split_text("corto") == ["corto"] and wa.split_text("  ") == []


def test_the_tail_for_an_interactive_body_starts_at_a_boundary():
    head, tail = wa.split_tail("uno dos\n\ntres cuatro", 12)
    assert (head, tail) == ("uno dos", "tres cuatro")
    head, tail = wa.split_tail("uno dos tres cuatro", 12)
    assert (head, tail) == ("uno dos", "tres cuatro") and len(tail) <= 12
    assert wa.split_tail("corto", 12) == ("", "corto")


@pytest.mark.parametrize(
    "title, limit, short",
    [
        ("Registrar queja", 20, "Registrar queja"),
        ("¿Qué puedo reportar?", 20, "¿Qué puedo reportar?"),
        ("No, elegir otra opción", 20, "No, elegir otra…"),
        ("Corregir provincia o cantón", 24, "Corregir provincia…"),
        ("Demora o error en un trámite", 24, "Demora o error…"),
        ("Supercalifragilisticoexpialidoso", 20, "Supercalifragilisti…"),
    ],
)
def test_titles_are_shortened_at_words(title, limit, short):
    assert wa.shorten(title, limit) == short
    assert len(wa.shorten(title, limit)) <= limit


# --- building messages ---------------------------------------------------------------------


def buttons(*titles):
    return [{"title": t, "payload": f"/p{i}"} for i, t in enumerate(titles)]


def test_plain_text_is_sent_as_text_messages_of_at_most_4096():
    messages = wa.build_messages(WA_ID, "palabra " * 1000)
    assert [m["type"] for m in messages] == ["text", "text"]
    assert all(m["to"] == WA_ID and len(m["text"]["body"]) <= 4096 for m in messages)


def test_up_to_three_buttons_are_reply_buttons_with_the_payload_as_id():
    [message] = wa.build_messages(
        WA_ID,
        "¿Acepta?",
        [{"title": "Acepto", "payload": "/affirm"}, {"title": "No acepto", "payload": "/deny"}],
    )
    interactive = message["interactive"]
    assert message["type"] == "interactive" and interactive["type"] == "button"
    assert interactive["body"]["text"] == "¿Acepta?"
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "/affirm", "title": "Acepto"},
        {"id": "/deny", "title": "No acepto"},
    ]
    [message] = wa.build_messages(WA_ID, "x", buttons("No, elegir otra opción", "Sí, continuar"))
    titles = [b["reply"]["title"] for b in message["interactive"]["action"]["buttons"]]
    assert titles == ["No, elegir otra…", "Sí, continuar"]


def test_four_to_ten_buttons_are_a_list_with_the_whole_title_in_the_description():
    payload = '/inform{"correction":"province"}'
    options = buttons("Registrar queja", "Registrar denuncia", "Consultar estado") + [
        {"title": "Corregir provincia o cantón", "payload": payload}
    ]
    [message] = wa.build_messages(WA_ID, "¿Qué desea hacer?", options)
    interactive = message["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Ver opciones"
    rows = interactive["action"]["sections"][0]["rows"]
    assert rows[0] == {"id": "/p0", "title": "Registrar queja"}
    assert rows[3] == {
        "id": payload,
        "title": "Corregir provincia…",
        "description": "Corregir provincia o cantón",
    }


def test_more_than_ten_buttons_list_ten_and_number_the_rest():
    options = buttons(*[f"Opción {n}" for n in range(1, 13)])
    messages = wa.build_messages(WA_ID, "Elija", options)
    assert [m["type"] for m in messages] == ["interactive", "text"]
    assert len(messages[0]["interactive"]["action"]["sections"][0]["rows"]) == 10
    assert messages[1]["text"]["body"] == "11. Opción 11\n12. Opción 12"


def test_a_long_body_goes_first_as_text_and_the_rest_in_the_interactive_body():
    consent = "\n\n".join([("párrafo " * 40).strip()] * 4) + "\n\n¿Acepta?"
    messages = wa.build_messages(WA_ID, consent, buttons("Acepto", "No acepto"))
    assert [m["type"] for m in messages] == ["text", "interactive"]
    body = messages[1]["interactive"]["body"]["text"]
    assert len(body) <= wa.BUTTON_BODY_LIMIT and body.endswith("¿Acepta?")
    assert messages[0]["text"]["body"] + "\n\n" + body == consent


def test_ids_and_titles_stay_within_the_limits_and_unique():
    long_payload = "/inform" + json.dumps({"x": "y" * 300})
    options = [
        {"title": "Una opción con un título muy largo", "payload": f"/p{i}"} for i in range(5)
    ]
    options.append({"title": "Demasiado larga", "payload": long_payload})
    messages = wa.build_messages(WA_ID, "Elija", options)
    rows = messages[0]["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 5 and all(len(r["id"]) <= wa.ROW_ID_LIMIT for r in rows)
    assert all(len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
    assert len({r["title"] for r in rows}) == 5
    assert messages[1]["text"]["body"] == "6. Demasiado larga"  # its id would not fit
    [message] = wa.build_messages(
        WA_ID, "x", [{"title": "A" * 30, "payload": "/a"}, {"title": "A" * 30, "payload": "/b"}]
    )
    titles = [b["reply"]["title"] for b in message["interactive"]["action"]["buttons"]]
    assert len(set(titles)) == 2 and all(len(t) <= 20 for t in titles)


# --- sending with retries ---------------------------------------------------------------------


class FakeReply:
    def __init__(self, status, headers=None):
        self.status_code = status
        self.ok = status < 400
        self.headers = headers or {}

    def json(self):
        return {"error": {"code": 131000}}


@pytest.fixture
def posts(monkeypatch):
    """Replaces requests.post with a queue of answers; records every call."""
    calls, answers = [], []

    def post(url, json=None, headers=None, timeout=None):
        calls.append({"url": url, "json": json, "headers": headers, "timeout": timeout})
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return FakeReply(answer)

    monkeypatch.setattr(graph.requests, "post", post)
    return calls, answers


def client(sleeps):
    return wa.GraphClient("https://graph.example/v21.0/", "TOKEN", "111", sleep=sleeps.append)


def test_a_send_is_retried_on_5xx_and_429_with_growing_delays(posts):
    calls, answers = posts
    sleeps = []
    answers.extend([500, 429, 200])
    assert client(sleeps).send({"type": "text"}) is True
    assert len(calls) == 3 and sleeps == [0.5, 1.0]
    assert calls[0]["url"] == "https://graph.example/v21.0/111/messages"
    assert calls[0]["headers"] == {"Authorization": "Bearer TOKEN"}
    assert calls[0]["timeout"] == 10.0


def test_a_send_gives_up_after_three_tries_and_never_retries_other_4xx(posts):
    calls, answers = posts
    answers.extend([503, 503, 503])
    assert client([]).send({}) is False and len(calls) == 3
    calls.clear()
    answers.extend([400])
    assert client([]).send({}) is False and len(calls) == 1
    calls.clear()
    answers.extend([requests.ConnectionError("refused"), 200])
    assert client([]).send({}) is True and len(calls) == 2


# --- the webhook, in-process ------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.messages = []

    async def __call__(self, message):
        self.messages.append(message)


class StubAgent:
    """What the channel asks of Rasa's agent: readiness, the domain's responses, trackers."""

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


def app_with(channel: wa.WhatsAppInput, on_new_message):
    app = Sanic(f"whatsapp_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = StubAgent()
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/whatsapp")
    return app


def configured():
    channel = wa.WhatsAppInput.from_credentials(
        {
            "verify_token": "verify-me",
            "app_secret": SECRET,
            "access_token": "TOKEN",
            "phone_number_id": 111,
            "api_url": "http://127.0.0.1:9/v21.0",
        }
    )
    channel._sender_key = KEY
    channel._window = None  # no database here
    return channel


async def post(app, payload, signature=None, body=None):
    body = body if body is not None else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature if signature is not None else sign(body),
    }
    _, answer = await app.asgi_client.post(
        "/webhooks/whatsapp/webhook", content=body, headers=headers
    )
    return answer


async def get(app, url):
    _, answer = await app.asgi_client.get(url)
    return answer


run = asyncio.run  # each call its own event loop, closed afterwards


VERIFY = (
    "/webhooks/whatsapp/webhook?hub.mode={mode}&hub.challenge=1158201444&hub.verify_token={token}"
)


def test_the_subscription_is_verified_with_the_right_token_only():
    app = app_with(configured(), Recorder())

    async def check():
        ok = await get(app, VERIFY.format(mode="subscribe", token="verify-me"))
        assert ok.status == 200 and ok.text == "1158201444"
        assert ok.headers["content-type"].startswith("text/plain")
        wrong = await get(app, VERIFY.format(mode="subscribe", token="verify-you"))
        assert wrong.status == 403 and wrong.text == ""
        other_mode = await get(app, VERIFY.format(mode="unsubscribe", token="verify-me"))
        assert other_mode.status == 403

    run(check())


def test_an_unconfigured_channel_refuses_everything_and_says_so_once(caplog):
    channel = wa.WhatsAppInput.from_credentials(
        {
            "verify_token": "",
            "app_secret": "",
            "access_token": "",
            "phone_number_id": "",
            "api_url": "",
        }
    )
    assert channel.client.api_url == wa.GRAPH_API_URL
    recorder = Recorder()
    app = app_with(channel, recorder)

    async def check():
        assert (await get(app, VERIFY.format(mode="subscribe", token=""))).status == 403
        assert (await post(app, webhook(text("hola")), signature=sign(b"", ""))).status == 403
        assert (await post(app, webhook(text("hola")))).status == 403
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger="channels.whatsapp"):
        run(check())
    assert recorder.messages == []
    assert [r.getMessage() for r in caplog.records].count(
        "WhatsApp is not configured (empty WHATSAPP_APP_SECRET or WHATSAPP_VERIFY_TOKEN): "
        "its webhook refuses every request"
    ) == 1


def test_unsigned_or_badly_signed_posts_are_refused_and_not_processed():
    recorder = Recorder()
    app = app_with(configured(), recorder)

    async def check():
        assert (await post(app, webhook(text("hola")), signature="")).status == 403
        assert (await post(app, webhook(text("hola")), signature=sign(b"other"))).status == 403
        await asyncio.sleep(0.05)

    run(check())
    assert recorder.messages == []


def test_messages_are_handled_once_in_order_with_the_hashed_sender(caplog):
    recorder = Recorder()
    app = app_with(configured(), recorder)
    payload = webhook(text("hola", "wamid.A"), reply("button_reply", "/register_queja", "wamid.B"))

    async def check():
        assert (await post(app, payload)).status == 200
        assert (await post(app, payload)).status == 200  # redelivered by Meta
        assert (await post(app, webhook(statuses=[{"id": "x", "status": "read"}]))).status == 200
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.DEBUG):
        run(check())
    assert [m.text for m in recorder.messages] == ["hola", "/register_queja"]
    first = recorder.messages[0]
    assert first.sender_id == wa.sender_id_for(KEY, WA_ID)
    # the number rides along (for the case's notices), in the encrypted tracker only
    assert first.input_channel == "whatsapp" and first.metadata == {"wa_id": WA_ID}
    # held until the turn is stored (channels.held_answers), then sent to that number
    sends_to = first.output_channel.output
    assert isinstance(sends_to, wa.WhatsAppOutput) and sends_to.wa_id == WA_ID
    assert first.output_channel.name() == "whatsapp"  # responses chosen for WhatsApp
    assert WA_ID not in caplog.text and "hola" not in caplog.text


def test_a_failed_message_is_answered_500_and_processed_when_delivered_again():
    calls = []

    async def fails_once(message):
        calls.append(message.text)
        if len(calls) == 1:
            raise RuntimeError("database down")

    app = app_with(configured(), fails_once)
    payload = webhook(text("hola", "wamid.X"))

    async def check():
        assert (await post(app, payload)).status == 500  # Meta will deliver it again
        assert (await post(app, payload)).status == 200
        assert (await post(app, payload)).status == 200  # now a redelivery of a done one

    run(check())
    assert calls == ["hola", "hola"]


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole():
    recorder = Recorder()
    app = app_with(configured(), recorder)
    huge = b'{"entry": "' + b"x" * (wa.MAX_WEBHOOK_BYTES + 10) + b'"}'

    async def check():
        assert (await post(app, None, body=huge, signature=sign(huge))).status == 413

    run(check())
    assert recorder.messages == []


def test_a_long_or_typed_button_message_goes_through_the_common_reception():
    sent = []

    class Output(wa.WhatsAppOutput):
        async def _send_all(self, messages):
            sent.extend(messages)

    recorder = Recorder()
    channel = configured()
    app = app_with(channel, recorder)
    original = channel_module.WhatsAppOutput
    channel_module.WhatsAppOutput = Output
    try:
        run(post(app, webhook(text("x" * 4001, "wamid.L"))))
    finally:
        channel_module.WhatsAppOutput = original
    assert recorder.messages == []  # never reached Rasa
    assert [m["text"]["body"] for m in sent] == ["muy largo"]


def test_the_access_token_goes_only_to_the_graph_api_and_metas_media_hosts(monkeypatch):
    client = wa.GraphClient("https://graph.facebook.com/v21.0", "TOKEN", "111")
    fetched = []

    class Reply:
        ok, status_code = True, 200

        def __init__(self, url):
            self.url = url

        def json(self):
            return {"url": "https://attacker.example/steal", "file_size": 10}

    def fake_get(url, headers=None, **kwargs):
        fetched.append((url, headers))
        return Reply(url)

    monkeypatch.setattr(graph.requests, "get", fake_get)
    with pytest.raises(wa.MediaError):
        client.download("MEDIA1", 1024)
    assert [url for url, _ in fetched] == ["https://graph.facebook.com/v21.0/MEDIA1"]


# --- the evidence reception ----------------------------------------------------------------------


class StubTrackers:
    """A tracker store whose only conversation sits where the test puts it."""

    def __init__(self, active_loop="case_form", requested_slot="evidence", case_kind="queja"):
        slots = {
            "requested_slot": requested_slot,
            "case_kind": case_kind,
            "registration_id": "reg-1",
        }
        self.tracker = SimpleNamespace(active_loop_name=active_loop, get_slot=slots.get)

    async def retrieve(self, sender_id):
        return self.tracker


@pytest.fixture
def reception_store(evidence_reception_store):
    return evidence_reception_store


def test_a_file_is_stored_only_while_the_form_asks_for_evidence(reception_store):
    png = synthetic_files.png()
    answer = run(evidence_reception.receive_file(StubTrackers(), "wa-1", 'mi "foto"\n{1}.png', png))
    assert json.loads(answer[len("/inform") :]) == {"evidence_file": "mi foto1.png"}
    assert [e.name for e in reception_store.pending("wa-1", "reg-1")] == ["mi foto1.png"]
    agent = SimpleNamespace(tracker_store=StubTrackers(requested_slot="email"))
    assert (
        run(evidence_reception.receive_file(agent, "wa-1", "b.png", png))
        == '/inform{"evidence_error": "evidence_not_now"}'
    )
    assert (
        run(evidence_reception.receive_file(StubTrackers(active_loop=None), "wa-1", "b.png", png))
        == '/inform{"evidence_error": "evidence_not_now"}'
    )
    assert len(reception_store.pending("wa-1", "reg-1")) == 1


def test_refusals_carry_the_reason_and_the_limit_follows_the_case_kind(reception_store):
    big = synthetic_files.png(padding=2 * 1024 * 1024)
    queja, denuncia = StubTrackers(case_kind="queja"), StubTrackers(case_kind="denuncia")
    assert (
        run(evidence_reception.receive_file(queja, "wa-2", "big.png", big))
        == '/inform{"evidence_error": "evidence_too_large"}'
    )
    assert "evidence_file" in run(evidence_reception.receive_file(denuncia, "wa-2", "big.png", big))
    assert (
        run(evidence_reception.receive_file(queja, "wa-2", "x.pdf", b"MZ\x90\x00 program"))
        == '/inform{"evidence_error": "evidence_type"}'
    )
    assert run(evidence_reception.size_limit(queja, "wa-2")) == 1024 * 1024
    assert (
        run(evidence_reception.size_limit(StubTrackers(requested_slot="address"), "wa-2")) is None
    )


# --- files received over WhatsApp -------------------------------------------------------------


def file_message(kind="image", media_id="MEDIA1", file_name=None):
    return wa.Incoming("wamid.F", WA_ID, kind, media_id=media_id, file_name=file_name)


@pytest.fixture
def downloads(monkeypatch):
    """The channel's Graph client answers with the queued results; records the ids."""
    channel, asked, results = configured(), [], []

    def download(media_id, max_bytes):
        asked.append((media_id, max_bytes))
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result, "image/png"

    monkeypatch.setattr(channel.client, "download", download)
    return channel, asked, results


def test_a_file_is_downloaded_within_the_limit_and_handed_to_the_intake(downloads, reception_store):
    channel, asked, results = downloads
    results.append(synthetic_files.png())
    agent = SimpleNamespace(tracker_store=StubTrackers(case_kind="denuncia"))
    answer = run(channel._file_text(file_message("document", file_name="foto.png"), "wa-3", agent))
    assert answer == '/inform{"evidence_file": "foto.png"}'
    assert asked == [("MEDIA1", 20 * 1024 * 1024)]


def test_files_are_refused_without_downloading_when_not_expected_or_not_evidence(downloads):
    channel, asked, _ = downloads
    not_now = SimpleNamespace(tracker_store=StubTrackers(requested_slot="cedula"))
    assert (
        run(channel._file_text(file_message(), "wa-4", not_now))
        == '/inform{"evidence_error": "evidence_not_now"}'
    )
    waiting = SimpleNamespace(tracker_store=StubTrackers())
    assert (
        run(channel._file_text(file_message("video", media_id=None), "wa-4", waiting))
        == '/inform{"evidence_error": "evidence_type"}'
    )
    assert asked == []


def test_a_too_large_or_failed_download_is_refused_with_its_reason(downloads):
    channel, asked, results = downloads
    results.extend([wa.MediaTooLarge(), wa.MediaError("media HTTP 404")])
    agent = SimpleNamespace(tracker_store=StubTrackers(case_kind="queja"))
    assert (
        run(channel._file_text(file_message(), "wa-5", agent))
        == '/inform{"evidence_error": "evidence_too_large"}'
    )
    assert (
        run(channel._file_text(file_message(), "wa-5", agent))
        == '/inform{"evidence_error": "evidence_damaged"}'
    )
    assert [limit for _, limit in asked] == [1024 * 1024, 1024 * 1024]
