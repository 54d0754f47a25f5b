"""The whole follow-up loop with the real servers: the Rasa server and action server
(WhatsApp channel against the fake Graph API), the staff console, the outbox
worker (``python -m buzon.outbox_worker --once``) and a real SMTP server.

A case that came by WhatsApp: an analyst asks a question on the console's case
page → the e-mail arrives on the SMTP server and the WhatsApp notice at the fake
Graph API (a template: the citizen has not written for more than 24 hours) → the
citizen answers through the bot with text and a PNG → the answer and the file are
in the case's timeline, the case is back "en análisis" and new in the inbox →
the analyst resolves it through the API → the resolution e-mail arrives and the
WhatsApp notice is plain text this time (the citizen wrote minutes ago) → the
citizen sees IESS's answer in "Consultar estado" and rates it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime

import pytest
from cryptography.fernet import Fernet

from buzon import crypto, db
from buzon.cases.store import CaseStore
from tests import synthetic, synthetic_files
from tests.e2e import servers
from tests.e2e.console_server import Console, csrf_of
from tests.e2e.fake_graph_api import FakeGraphApi
from tests.e2e.test_whatsapp import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    Citizen,
    _model,
    ids_of,
    offers,
    said,
    says,
    whatsapp_credentials,
)
from tests.unit.test_case_store import draft

pytestmark = pytest.mark.e2e

EMAIL = "seguimiento.prueba@example.com"
QUESTION = "¿En qué fecha y en qué ventanilla le negaron el turno?"
ANSWER = "Fue el lunes 9 de noviembre en la ventanilla 3 del hospital del sur."
RESOLUTION = "Le asignamos la cita de cardiología para el 2 de diciembre a las 09:00."


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_smtp_server):
    host, port, mailbox = module_smtp_server
    tmp_path = tmp_path_factory.mktemp("followup")
    model = _model()
    graph = FakeGraphApi(ACCESS_TOKEN, PHONE_NUMBER_ID).start()
    credentials = whatsapp_credentials(tmp_path, graph)
    key = Fernet.generate_key().decode()
    env = {
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": key,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        "SMTP_HOST": host,
        "SMTP_PORT": str(port),
        "SMTP_FROM": "IESS <buzon@iess.gob.ec>",
        "SMTP_SECURITY": "none",
        # the worker's WhatsApp notices, through the same fake Graph API
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": graph.api_url,
        "WHATSAPP_NOTICE_TEMPLATE": "actualizacion_caso",
        "WHATSAPP_NOTICE_LANGUAGE": "es",
    }
    db.migrate(env["DATABASE_URL"])
    bot = servers.Bot(
        tmp_path,
        {k: v for k, v in env.items() if not k.startswith("WHATSAPP_")},
        servers.EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"),
        credentials=credentials,
    )
    bot.graph = graph
    console = Console(tmp_path, env)
    default_model, servers.MODEL = servers.MODEL, model
    try:
        bot.start()
        console.start()
    except Exception:
        bot.stop()
        console.stop()
        graph.stop()
        raise
    finally:
        servers.MODEL = default_model
    cipher = crypto.FieldCipher(key)
    world = type("World", (), {})()
    world.bot, world.console, world.graph, world.mailbox = bot, console, graph, mailbox
    world.env, world.store = env, CaseStore(db.make_engine(env["DATABASE_URL"]), cipher)
    yield world
    bot.stop()
    console.stop()
    graph.stop()


def run_worker(world) -> None:
    """One pass of the outbox worker, as ``scripts/run.sh`` runs it in a loop."""
    done = subprocess.run(
        [sys.executable, "-m", "buzon.outbox_worker", "--once"],
        cwd=servers.ROOT,
        env={**os.environ, "PYTHONPATH": str(servers.ROOT), **world.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for secret in (EMAIL, QUESTION, ANSWER):
        assert secret not in done.stdout + done.stderr


def mail_about(mailbox, number: str, fragment: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in mailbox.messages:
            body = message.get_body(preferencelist=("plain",)).get_content()
            if number in message["Subject"] + body and fragment in body:
                return message, body
        time.sleep(0.2)
    raise AssertionError(f"no e-mail about {number} saying {fragment!r}")


def look_up(citizen, number: str, key: str, until) -> list:
    citizen.send(citizen.text("quiero consultar el estado de mi caso"), says("número de caso"))
    citizen.send(citizen.text(number), says("clave de seguimiento"))
    return citizen.send(citizen.text(key), until)


def test_a_question_reaches_the_citizen_and_the_answer_comes_back_into_the_case(world):
    citizen = Citizen(world.bot)
    registration = world.store.register(
        draft(
            cedula=synthetic.cedula(f"171{uuid.uuid4().int % 10**6:06d}"),
            email=EMAIL,
            channel="whatsapp",
            whatsapp_id=citizen.wa_id,
            consent_at=datetime.utcnow(),
        )
    )
    number = registration.number
    analyst = world.console.staff(
        f"analista.{uuid.uuid4().hex[:6]}@iess.gob.ec", "analista", "salud"
    )

    # --- staff ask on the case page ---------------------------------------------------------
    browser = world.console.browser_session(analyst)
    page = browser.get(f"{world.console.url}/cases/{number}", timeout=30)
    assert "Preguntar al ciudadano" in page.text and "Vence" in page.text
    asked = browser.post(
        f"{world.console.url}/cases/{number}/question",
        data={"csrf": csrf_of(page.text), "question": QUESTION},
        timeout=30,
        allow_redirects=False,
    )
    assert asked.status_code == 303
    sent_before = len(world.graph.sent_to(citizen.wa_id))
    run_worker(world)
    message, body = mail_about(world.mailbox, number, QUESTION)
    assert message["To"] == EMAIL
    notice = world.graph.wait_for(citizen.wa_id, sent_before, lambda new: len(new) >= 1)
    assert notice[0]["type"] == "template"  # no message from the citizen in 24 hours
    assert notice[0]["template"]["name"] == "actualizacion_caso"
    parameters = notice[0]["template"]["components"][0]["parameters"]
    assert parameters == [{"type": "text", "text": number}]

    # --- the citizen answers through the bot, with a PNG ----------------------------------
    shown = look_up(citizen, number, registration.tracking_key, offers("/add_information"))
    assert QUESTION in said(shown) and "Se requiere información adicional" in said(shown)
    citizen.send(citizen.tap("/add_information"), says("Escriba lo que desea decirle"))
    citizen.send(citizen.text(ANSWER), offers("/affirm"))  # "¿Desea adjuntar archivos?"
    citizen.send(citizen.tap("/affirm"), says("Envíe sus archivos"))
    png = synthetic_files.png(width=4, height=4)
    world.graph.add_media("MEDIA-ANSWER-1", png, "image/png")
    citizen.send(
        citizen.image("MEDIA-ANSWER-1"),
        lambda answer: says("Recibimos su archivo")(answer) and offers("/affirm")(answer),
    )
    done = citizen.send(citizen.tap("/affirm"), says("agregamos su mensaje", number))
    assert "/register_queja" in ids_of(done)  # the menu again

    # --- the analyst sees it as new, with the file, in the timeline ------------------------
    token = world.console.token(analyst)
    listed = world.console.api(token, "GET", "/cases", params={"number": number}).json()
    line = listed["cases"][0]
    assert line["has_news"] is True and line["status"] == "in_review"
    assert line["due"]["step"] == "resolution"
    case = world.console.api(token, "GET", f"/cases/{number}").json()
    kinds = [event["kind"] for event in case["timeline"]]
    assert kinds[-3:] == ["question", "citizen_message", "status"]
    answered = case["timeline"][-2]
    assert answered["message_from_citizen"] == ANSWER and answered["to"] == "1"
    assert case["timeline"][-3]["message_to_citizen"] == QUESTION
    assert [(f["kind"], f["size"]) for f in case["evidence"]] == [("png", len(png))]
    copy = world.console.api(token, "GET", f"/cases/{number}/evidence/{case['evidence'][0]['id']}")
    assert copy.status_code == 200 and copy.content.startswith(b"\x89PNG")
    timeline_page = browser.get(f"{world.console.url}/cases/{number}", timeout=30).text
    assert ANSWER in timeline_page and "adjuntó 1 archivo" in timeline_page

    # --- the analyst resolves it through the API -------------------------------------------
    resolved = world.console.api(
        token,
        "POST",
        f"/cases/{number}/status",
        json={"status": "resolved", "message": RESOLUTION},
    )
    assert resolved.status_code == 204
    sent_before = len(world.graph.sent_to(citizen.wa_id))
    run_worker(world)
    _, body = mail_about(world.mailbox, number, RESOLUTION)
    assert "fue resuelto" in body
    notice = world.graph.wait_for(citizen.wa_id, sent_before, lambda new: len(new) >= 1)
    assert notice[0]["type"] == "text"  # inside the 24-hour window now
    assert RESOLUTION in notice[0]["text"]["body"]

    # --- the citizen sees the answer and rates it -------------------------------------------
    shown = look_up(citizen, number, registration.tracking_key, offers("/rate_answer"))
    assert RESOLUTION in said(shown) and "/ask_reopen" in ids_of(shown)
    citizen.send(citizen.tap("/rate_answer"), offers('/inform{"rating":"5"}'))
    citizen.send(citizen.tap('/inform{"rating":"4"}', "list_reply"), offers("/deny"))
    citizen.send(citizen.tap("/deny"), says("Gracias por calificar"))
    case = world.console.api(token, "GET", f"/cases/{number}").json()
    assert case["timeline"][-1]["kind"] == "rating" and case["timeline"][-1]["to"] == "4"

    # nothing of it in the servers' logs
    logs = world.bot.all_logs() + world.console.log.read_text()
    for secret in (EMAIL, ANSWER, QUESTION, RESOLUTION, citizen.wa_id):
        assert secret not in logs, secret


def test_a_stranger_with_the_number_but_not_the_key_cannot_answer(world):
    registration = world.store.register(
        draft(
            cedula=synthetic.cedula(f"172{uuid.uuid4().int % 10**6:06d}"),
            email=EMAIL,
            consent_at=datetime.utcnow(),
        )
    )
    stranger = Citizen(world.bot)
    refused = look_up(stranger, registration.number, "AAAA-BBBB-CCCC", says("No encontramos"))
    assert "/add_information" not in ids_of(refused)
    tried = stranger.send(
        stranger.text("quiero agregar informacion a mi caso"), says("número de caso")
    )
    assert re.search("número de caso", said(tried))
    with world.store.engine.connect() as connection:
        from sqlalchemy import text as sql

        written = connection.execute(
            sql(
                "SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id "
                "WHERE c.number = :n AND e.kind = 'citizen_message'"
            ),
            {"n": registration.number},
        ).scalar()
    assert written == 0
