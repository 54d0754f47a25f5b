"""The guards around the servers, in-process: what every channel does with a message
(length, blank, typed button titles, failures answered kindly), the REST channel,
an unreachable action server, the NLU answer guard, the action server's token,
and the bounded patterns."""

from __future__ import annotations

import asyncio
import json
import logging
import sre_constants
import sre_parse
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from channels import incoming, rest, server_hardening
from nlu_components.answer_guard import AnswerGuard
from tests.e2e.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
run = asyncio.run
SUMMARY_BUTTONS = [
    {"title": "Confirmar y registrar", "payload": "/affirm"},
    {"title": "Corregir cédula", "payload": '/inform{"correction":"cedula"}'},
    {"title": "Cancelar", "payload": "/cancel"},
]


class Trackers:
    def __init__(self, events):
        self.events = events
        self.retrieved = 0

    async def retrieve(self, sender_id):
        self.retrieved += 1
        return SimpleNamespace(events=self.events)


class Agent:
    def __init__(self, events=()):
        self.tracker_store = Trackers(list(events))
        self.domain = SimpleNamespace(
            responses={
                "utter_ask_confirmation": [{"text": "Revise", "buttons": SUMMARY_BUTTONS}],
                "utter_ask_evidence": [
                    {
                        "text": "¿Evidencia?",
                        "buttons": [
                            {"title": "No tengo", "payload": "/deny"},
                            {"title": "Sí, tengo", "payload": "/affirm"},
                        ],
                    }
                ],
                "utter_service_busy": [{"text": "El servicio está ocupado"}],
                "utter_empty_message": [{"text": "No recibí ningún texto"}],
                "utter_message_too_long": [{"text": "Su mensaje es muy largo"}],
            }
        )

    def is_ready(self):
        return True


def offered(buttons):
    return [
        {"event": "user", "text": "antes"},
        {"event": "action", "name": "x"},
        {"event": "bot", "text": "?", "data": {"buttons": buttons}},
        {"event": "action", "name": "action_listen"},
    ]


# --- channels.incoming ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, payload",
    [
        ("Confirmar y registrar", "/affirm"),
        ("  confirmar Y REGISTRAR. ", "/affirm"),
        ("corregir cedula", '/inform{"correction":"cedula"}'),
        ("Cancelar", "/cancel"),
    ],
)
def test_a_typed_title_of_a_button_just_offered_means_that_button(typed, payload):
    assert run(incoming.admit(Agent(offered(SUMMARY_BUTTONS)), "s", typed)).text == payload


def test_a_title_not_offered_now_stays_text_and_other_text_costs_no_lookup():
    agent = Agent(offered([{"title": "No tengo", "payload": "/deny"}]))
    assert run(incoming.admit(agent, "s", "Confirmar y registrar")).text == "Confirmar y registrar"
    retrieved = agent.tracker_store.retrieved
    assert run(incoming.admit(agent, "s", "me pidieron plata para el turno")).text.startswith("me")
    assert agent.tracker_store.retrieved == retrieved  # not a title: no tracker read


@pytest.mark.parametrize(
    "text, reply",
    [
        ("", "utter_empty_message"),
        ("  \n", "utter_empty_message"),
        ("\u200b\u200f", "utter_empty_message"),
        (None, "utter_empty_message"),
        ("a" * (incoming.MAX_MESSAGE_CHARS + 1), "utter_message_too_long"),
    ],
)
def test_blank_and_too_long_messages_never_reach_rasa(text, reply):
    sent = []

    async def on_new_message(message):
        sent.append(message)

    output = CollectingOutputChannel()
    run(incoming.handle(Agent(), on_new_message, text, output, "s", input_channel="rest"))
    assert sent == []
    assert [m["text"] for m in output.messages] == [Agent().domain.responses[reply][0]["text"]]


@pytest.mark.parametrize(
    "failure",
    [
        server_hardening.ActionServerUnavailable("validate_case_form"),
        RuntimeError("0912345675 ana@example.com"),
    ],
)
def test_a_failed_turn_is_answered_kindly_and_logs_no_text(failure, caplog):
    async def on_new_message(message):
        raise failure

    output = CollectingOutputChannel()
    with caplog.at_level(logging.DEBUG):
        run(
            incoming.handle(
                Agent(),
                on_new_message,
                "0912345675 ana@example.com",
                output,
                "s",
                input_channel="rest",
            )
        )
    assert [m["text"] for m in output.messages] == ["El servicio está ocupado"]
    assert "0912345675" not in caplog.text and "ana@example.com" not in caplog.text


# --- the REST channel ---------------------------------------------------------------------------


def rest_app(on_new_message):
    app = Sanic(f"rest_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = Agent()
    app.blueprint(rest.RestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
    return app


def post(app, body: bytes):
    _, answer = run(
        app.asgi_client.post(
            "/webhooks/rest/webhook", content=body, headers={"Content-Type": "application/json"}
        )
    )
    return answer


def test_rest_answers_and_refuses_what_it_should():
    async def echo(message):
        await message.output_channel.send_text_message(message.sender_id, f"eco: {message.text}")

    app = rest_app(echo)
    ok = post(app, json.dumps({"sender": "ana", "message": "hola"}).encode())
    assert ok.status == 200 and ok.json == [{"recipient_id": "ana", "text": "eco: hola"}]
    assert post(app, b"x" * (rest.MAX_BODY_BYTES + 1)).status == 413
    assert post(app, b"{not json").status == 400
    assert post(app, json.dumps({"sender": "a b", "message": "hola"}).encode()).status == 400
    assert post(app, json.dumps({"sender": "ana", "message": 5}).encode()).status == 400


@pytest.mark.parametrize("sender", ["ab12" * 10, "wa-" + "0" * 32])
def test_rest_cannot_walk_into_a_web_or_whatsapp_conversation(sender):
    async def answered(message):  # must not be reached
        raise AssertionError("another channel's conversation was entered")

    app = rest_app(answered)
    refused = post(app, json.dumps({"sender": sender, "message": "hola"}).encode())
    assert refused.status == 403
    assert post(app, b"[1, 2]").status == 400  # JSON, but not an object


def test_a_rest_failure_logs_no_text(caplog):
    async def broken(message):
        raise ValueError("X has 0 features")

    with caplog.at_level(logging.DEBUG):
        answer = post(
            rest_app(broken),
            json.dumps({"sender": "ana", "message": "mi cédula 0912345675"}).encode(),
        )
    assert answer.json[0]["text"] == "El servicio está ocupado"
    assert "0912345675" not in caplog.text


# --- an unreachable action server -------------------------------------------------------------


class Answering(BaseHTTPRequestHandler):
    status = 500

    def do_POST(self):
        body = json.dumps({"error": "x", "action_name": "validate_case_form"}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def call_action(url):
    server_hardening.install()
    domain = Domain.empty()
    tracker = DialogueStateTracker.from_events("s", [])
    action = RemoteAction("validate_case_form", EndpointConfig(url))
    return run(action.run(CollectingOutputChannel(), None, tracker, domain))


@pytest.mark.parametrize("status", [None, 500, 503])
def test_an_action_server_that_is_down_or_failing_stops_the_turn(status):
    if status is None:
        url = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens
        with pytest.raises(server_hardening.ActionServerUnavailable):
            call_action(url)
        return
    handler = type("H", (Answering,), {"status": status})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(server_hardening.ActionServerUnavailable):
            call_action(f"http://127.0.0.1:{server.server_port}/webhook")
    finally:
        server.shutdown()


def test_a_form_rejection_is_still_a_rejection():
    server = HTTPServer(("127.0.0.1", 0), type("H", (Answering,), {"status": 400}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ActionExecutionRejection):
            call_action(f"http://127.0.0.1:{server.server_port}/webhook")
    finally:
        server.shutdown()


def test_debug_logging_of_rasa_is_kept_off():
    logging.getLogger("rasa").setLevel(logging.DEBUG)
    server_hardening.install()
    assert not logging.getLogger("rasa.core.processor").isEnabledFor(logging.DEBUG)


# --- the NLU answer guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, intent, kept",
    [
        ("?", "affirm", False),
        ("👍", "affirm", False),
        ("да", "affirm", False),
        ("sí, claro", "affirm", True),
        ("Confirmar y registrar", "cancel", False),
        ("quiero registrar", "cancel", False),
        ("ya no quiero seguir", "cancel", True),
        ("Sí, tengo", "deny", False),
        ("no tengo", "deny", True),
        ("?", "greet", True),
    ],
)
def test_yes_no_and_cancel_need_their_words(text, intent, kept):
    message = Message(
        {
            "text": text,
            "intent": {"name": intent, "confidence": 0.44},
            "intent_ranking": [{"name": intent, "confidence": 0.44}],
        }
    )
    [guarded] = AnswerGuard().process([message])
    assert (guarded.get("intent")["name"] == intent) is kept
    if not kept:
        assert guarded.get("intent") == {"name": "nlu_fallback", "confidence": 0.44}
        assert guarded.get("intent_ranking")[0]["name"] == "nlu_fallback"


# --- the action server's token -----------------------------------------------------------------


def test_the_action_server_wants_its_token_and_echoes_nothing(monkeypatch, wired):
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.plugin import plugin_manager

    from actions import server_guard

    wired()
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "s3cret")
    server_guard.install()
    app = create_app("actions")
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    call = {
        "next_action": "action_cancel",
        "tracker": {"sender_id": "x", "slots": {"cedula": "0912345675"}},
    }
    _, refused = app.test_client.post("/webhook", json=call)
    assert refused.status == 401
    _, health = app.test_client.get("/health")
    assert health.status == 200
    breaking = {"next_action": "action_cancel", "tracker": ["0912345675"]}  # not a tracker
    _, broken = app.test_client.post(
        "/webhook", json=breaking, headers={"Authorization": "Bearer s3cret"}
    )
    assert broken.status == 500 and "0912345675" not in broken.text


def test_the_action_server_binds_to_loopback_by_default(monkeypatch):
    from actions import server_guard

    monkeypatch.delenv("SANIC_HOST", raising=False)
    server_guard.install()
    import os

    assert os.environ["SANIC_HOST"] == "127.0.0.1"


# --- bounded patterns --------------------------------------------------------------------------


def _unbounded(parsed) -> bool:
    for op, argument in parsed:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, inner = argument
            if high == sre_constants.MAXREPEAT or _unbounded(inner):
                return True
        elif op == sre_constants.SUBPATTERN and _unbounded(argument[-1]):
            return True
        elif op == sre_constants.BRANCH and any(_unbounded(b) for b in argument[1]):
            return True
    return False


def test_every_pattern_of_the_nlu_data_is_bounded():
    data = yaml.safe_load((ROOT / "data/nlu/patterns.yml").read_text())
    patterns = [
        line.lstrip("- ").strip()
        for item in data["nlu"]
        if "regex" in item
        for line in item["examples"].splitlines()
        if line.strip()
    ]
    assert patterns and not [p for p in patterns if _unbounded(sre_parse.parse(p))]
    assert _unbounded(sre_parse.parse(r"[\w.+-]+@[\w-]+\.[\w.-]+"))  # the old e-mail pattern


@pytest.mark.parametrize(
    "typed, admitted",
    [
        ("/affirm", "/affirm"),
        ('/inform{"rating":"4"}', '/inform{"rating":"4"}'),
        ("/mi cedula es 0912345675", "mi cedula es 0912345675"),  # not an intent: text
        ("/inform mi cedula 0912345675", "inform mi cedula 0912345675"),
        ('/inform{"cedula": 0912345675 roto}', 'inform{"cedula": 0912345675 roto}'),
        ("/cualquiera", "cualquiera"),
    ],
)
def test_only_a_well_formed_payload_of_a_known_intent_goes_to_rasa_as_one(typed, admitted):
    agent = Agent()
    agent.domain.intents = ["affirm", "inform"]
    assert run(incoming.admit(agent, "s", typed)).text == admitted


def test_a_lone_slash_is_a_blank_message():
    agent = Agent()
    agent.domain.intents = ["affirm"]
    assert run(incoming.admit(agent, "s", " // ")).reply == incoming.EMPTY
