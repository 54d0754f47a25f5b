"""End to end: the promises of confidentiality kept by the running servers.

The real Rasa server (with ``--debug``, to prove even debug logs hold no citizen
text) and action server on the embedded profile; the HTTP API on behind a token
so the tests can read conversations, as an operator could. Each test tries a
door an attacker or a confused citizen would try, and checks the refusal.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import text

from buzon import crypto, db
from buzon.cases.store import CaseStore
from tests import synthetic
from tests.e2e.servers import EMBEDDED_ENDPOINTS, Bot, texts

pytestmark = pytest.mark.e2e

CEDULA = synthetic.cedula("091122334")
PHONE, EMAIL = "0981112233", "confidencial.prueba@example.com"
ADDRESS = "Av. Quito 1234 y Padre Solano"
ASK_CEDULA = "Escriba su número de cédula"
STORY = "en el dispensario me pidieron 20 dolares para darme el turno con el traumatologo"


@pytest.fixture(scope="module")
def bot(tmp_path_factory, module_smtp_server):
    host, port, mailbox = module_smtp_server
    tmp_path = tmp_path_factory.mktemp("confidential")
    key = Fernet.generate_key().decode()
    env = {
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": key,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        "SMTP_HOST": host,
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
    }
    db.migrate(env["DATABASE_URL"])
    server = Bot(tmp_path, env, EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"), debug=True)
    server.mailbox = mailbox
    server.cipher = crypto.FieldCipher(key)
    server.store = CaseStore(db.make_engine(env["DATABASE_URL"]), server.cipher)
    server.tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    server.start()
    yield server
    server.stop()


def sender() -> str:
    return f"conf-{uuid.uuid4().hex[:10]}"


def to_consent(bot, who) -> None:
    assert "Protección de Datos" in texts(bot.say(who, "/register_denuncia"))


def from_cedula_to_evidence(bot, who, story=STORY) -> None:
    for answer in (
        CEDULA,
        PHONE,
        EMAIL,
        "duran",
        ADDRESS,
        story,
        '/inform{"category":"denuncia_coima"}',
    ):
        bot.say(who, answer)


def to_summary(bot, who, story=STORY) -> str:
    to_consent(bot, who)
    assert ASK_CEDULA in texts(bot.say(who, "/affirm"))
    from_cedula_to_evidence(bot, who, story)
    return texts(bot.say(who, "/deny"))


def stored_events(bot, who) -> str:
    """Everything the tracker store holds of a conversation, decrypted."""
    with db.make_engine(bot.tracker_url).connect() as connection:
        rows = (
            connection.execute(text("SELECT data FROM events WHERE sender_id = :s"), {"s": who})
            .scalars()
            .all()
        )
    return "\n".join(bot.cipher.decrypt(row) for row in rows)


# --- the HTTP API --------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/conversations/{who}/tracker"),
        ("POST", "/conversations/{who}/tracker/events"),
        ("DELETE", "/model"),
        ("PUT", "/model"),
        ("POST", "/model/parse"),
        ("GET", "/status"),
    ],
)
def test_the_api_needs_its_token(bot, method, path):
    who = sender()
    bot.say(who, "hola")
    url = bot.url + path.format(who=who)
    for params in ({}, {"token": "not-the-token"}):
        answer = requests.request(
            method,
            url,
            params=params,
            json={},
            timeout=30,
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}
    assert "Hola" in texts(bot.say(who, "hola")), "the model is still there"


def test_no_page_of_another_site_may_read_an_answer(bot):
    answer = requests.options(
        f"{bot.url}/webhooks/rest/webhook",
        timeout=10,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}


# --- the action server ------------------------------------------------------------------


def test_a_forged_tracker_sent_to_the_action_server_registers_nothing(bot):
    forged_cedula = "' OR 1=1 --"
    slots = {
        "case_kind": "denuncia",
        "category": "denuncia_coima",
        "consent": True,
        "consent_version": "forjada",
        "consent_at": "2026-11-30T10:00:00",
        "cedula": forged_cedula,
        "phone": "+593981112233",
        "email": "atacante@example.com",
        "province": "X",
        "province_code": "99",
        "canton": "Y",
        "canton_code": "9901",
        "address": "calle 1 y 2",
        "description": "una descripción cualquiera de prueba",
        "evidence": "ninguna",
        "confirmation": "yes",
        "registration_id": "r",
    }
    call = {
        "next_action": "action_finish_case",
        "sender_id": "forjado",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "forjado",
            "slots": slots,
            "events": [],
            "latest_message": {"intent": {"name": "affirm"}, "text": "/affirm"},
            "latest_input_channel": "rest",
            "active_loop": {},
        },
    }
    answer = requests.post(f"http://127.0.0.1:{bot.actions_port}/webhook", json=call, timeout=30)
    assert answer.status_code == 200
    said = [r.get("response") for r in answer.json()["responses"]]
    assert "utter_case_registered" not in said and "utter_case_field_refused" in said
    with bot.store.engine.connect() as connection:
        assert connection.execute(
            text("SELECT count(*) FROM cases")
        ).scalar() == 0 or forged_cedula not in bot.store.numbers_for_cedula(forged_cedula)
    assert bot.store.numbers_for_cedula(forged_cedula) == []
    assert not [m for m in bot.mailbox.messages if m["To"] == "atacante@example.com"]


def test_the_action_server_error_does_not_echo_the_request(bot):
    broken = {"next_action": "action_finish_case", "tracker": {"slots": {"cedula": CEDULA}}}
    answer = requests.post(f"http://127.0.0.1:{bot.actions_port}/webhook", json=broken, timeout=30)
    assert CEDULA not in answer.text


# --- consent and confirmation ---------------------------------------------------------------

NOISE = ["?", "...", "👍", "/", "\u200b", "\u200f\u200e", "да", "🙂🙂", "¿¿??"]


@pytest.mark.parametrize("noise", NOISE)
def test_noise_is_no_consent(bot, noise):
    who = sender()
    to_consent(bot, who)
    answer = texts(bot.say(who, noise))
    assert ASK_CEDULA not in answer
    assert "acepta" in answer.lower() or "No recibí ningún texto" in answer
    slots = bot.tracker(who)["slots"]
    assert slots["consent"] is None and slots["consent_at"] is None
    assert ASK_CEDULA in texts(bot.say(who, "sí, acepto"))  # plain words still work


def test_noise_at_the_summary_registers_nothing_and_typed_labels_mean_their_button(bot):
    who = sender()
    summary = to_summary(bot, who)
    assert "Revise sus datos" in summary
    for noise in ("👍", "?", "ok?? no se"):
        answer = texts(bot.say(who, noise))
        assert "IESS-D-" not in answer
        assert "Confirmar y registrar" in answer or "Revise sus datos" in answer
    done = texts(bot.say(who, "Confirmar y registrar"))  # typed, not tapped
    assert "IESS-D-" in done and "cancelé" not in done


def test_typed_labels_at_the_evidence_step_and_after_repeated_failures(bot):
    who = sender()
    to_consent(bot, who)
    bot.say(who, "/affirm")
    for wrong in ("123", "456", "789"):
        answer = texts(bot.say(who, wrong))
    assert (
        "Intentar otra vez" in json.dumps(bot.tracker(who)["events"][-3:], ensure_ascii=False)
        or "otra vez" in answer
    )
    again = texts(bot.say(who, "Intentar otra vez"))  # typed: not a cancel
    assert ASK_CEDULA in again and "cancelé" not in again
    from_cedula_to_evidence(bot, who)
    upload = texts(bot.say(who, "Sí, tengo"))  # typed: not a "no"
    assert "Envíe sus archivos" in upload


@pytest.mark.parametrize(
    "message", ["quiero registrar otra cosa", "Confirmar y registrar", "registrar"]
)
def test_cancel_is_never_read_into_registrar(bot, message):
    who = sender()
    to_consent(bot, who)
    bot.say(who, "/affirm")
    answer = texts(bot.say(who, message))
    assert "cancelé" not in answer
    assert bot.tracker(who)["active_loop"].get("name") == "case_form"


# --- forgetting -------------------------------------------------------------------------------


def test_after_no_acepto_nothing_of_the_conversation_is_kept(bot):
    who = sender()
    bot.say(who, STORY)
    bot.say(who, "/affirm")
    assert "no guardamos" in texts(bot.say(who, "/deny"))
    kept = stored_events(bot, who)
    assert "traumatologo" not in kept and "20 dolares" not in kept


def test_after_cancel_the_data_given_is_gone_from_the_conversation(bot):
    who = sender()
    to_consent(bot, who)
    bot.say(who, "/affirm")
    bot.say(who, CEDULA)
    bot.say(who, PHONE)
    assert "¿Seguro que desea cancelar" in texts(bot.say(who, "cancelar"))
    assert "cancelé" in texts(bot.say(who, "/affirm"))  # «Sí, cancelar»
    kept = stored_events(bot, who)
    assert CEDULA not in kept and "981112233" not in kept
    assert all(
        value is None
        for name, value in bot.tracker(who)["slots"].items()
        if name in ("cedula", "phone")
    )


def test_after_registration_the_conversation_keeps_no_summary_and_no_key(bot):
    who = sender()
    to_summary(bot, who)
    done = texts(bot.say(who, "/affirm"))
    key = done.split("Clave de seguimiento: ")[1].split()[0]
    kept = stored_events(bot, who)
    for secret in (CEDULA, "981112233", EMAIL, "Padre Solano", "traumatologo", key):
        assert secret not in kept
    assert "action_finish_case" in kept  # the shape of the conversation stays


# --- nothing one message can break ---------------------------------------------------------------


def test_a_huge_message_is_refused_at_once_and_others_are_served(bot):
    who, other = sender(), sender()
    huge = ("a" * 60_000) + "@example"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        flood = pool.submit(
            requests.post,
            f"{bot.url}/webhooks/rest/webhook",
            json={"sender": who, "message": huge},
            timeout=60,
        )
        greeting = pool.submit(bot.say, other, "hola")
        assert "Hola" in texts(greeting.result())
        assert flood.result().status_code == 413
    long_text = "palabra " * 600  # 4,800 characters: over the limit, under the body limit
    assert "muy largo" in texts(bot.say(who, long_text))
    worst = ("x" * 3990) + "@"  # the longest accepted message, the e-mail pattern's worst case
    bot.say(who, worst)
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("blank", ["", "   ", "\n\t", "\u200b"])
def test_a_blank_message_gets_a_kind_answer(bot, blank):
    who = sender()
    assert "No recibí ningún texto" in texts(bot.say(who, blank))


def test_while_the_action_server_is_down_the_citizen_is_told_and_nothing_is_lost(bot):
    who = sender()
    to_consent(bot, who)
    bot.say(who, "/affirm")
    bot.say(who, CEDULA)
    bot.stop_actions()
    try:
        busy = texts(bot.say(who, PHONE))
        assert "ocupado" in busy
    finally:
        bot.restart_actions()
    assert "correo" in texts(bot.say(who, PHONE))  # the form goes on where it was
    assert bot.tracker(who)["slots"]["cedula"] == CEDULA


def test_no_citizen_text_in_any_log_even_with_debug(bot):
    logs = bot.all_logs()
    for secret in (CEDULA, "981112233", EMAIL, "Padre Solano", "traumatologo", "atacante"):
        assert secret not in logs
    assert "Traceback" not in logs
