"""End to end over WhatsApp: the real Rasa server and action server with the
``channels.whatsapp.WhatsAppInput`` channel, Meta's side played by signed
webhook calls and a fake Graph API (a real HTTP server that records what the
bot sends and serves the files the citizen sends).

A queja is registered entirely through WhatsApp, with a photo as evidence that
is downloaded, stored encrypted and linked to the case. The webhook's
verification, signatures, redeliveries and the retries of the sends are checked
against the running server. Embedded profile (SQLite).

The model must know the evidence upload (``models/current.tar.gz`` newer than
``domain.yml``: ``make train``). ``BUZON_E2E_MODEL`` points these tests at
another trained model.
"""

from __future__ import annotations

import os
import re
import tarfile
import time
from pathlib import Path

import pytest
import requests
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import text as sql

from buzon import crypto, db
from buzon.cases.store import CaseStore
from channels import whatsapp as wa
from tests import synthetic, synthetic_files
from tests.e2e import servers, whatsapp_client
from tests.e2e.fake_graph_api import FakeGraphApi
from tests.e2e.whatsapp_client import (
    WhatsAppUser,
    ids_of,
    kinds,
    offers,
    post_signed,
    said,
    says,
)

pytestmark = pytest.mark.e2e

VERIFY_TOKEN = "verify-token-for-tests"
APP_SECRET = "app-secret-for-tests"
ACCESS_TOKEN = "access-token-for-tests"
PHONE_NUMBER_ID = "109876543210"
# What the citizen types: the values of the REST end-to-end test, so both depend
# on the NLU alike (only button ids are independent of it).
CEDULA = synthetic.cedula("092345678")
EMAIL = "afiliada.prueba@example.com"
ADDRESS = "Cdla. La Garzota Mz 12 Villa 7"
STORY = "hace tres meses que llamo al call center y no me dan turno para el cardiologo"


def _model() -> Path:
    """The model to serve; the tests fail at once when it predates ``domain.yml``."""
    model = Path(os.environ.get("BUZON_E2E_MODEL") or servers.MODEL)
    with tarfile.open(model) as archive:
        member = next(m for m in archive if m.name.endswith("domain_provider/domain.yml"))
        trained = yaml.safe_load(archive.extractfile(member))
    current = yaml.safe_load((servers.ROOT / "domain.yml").read_text())
    missing = sorted(
        name
        for part in ("slots", "responses", "actions")
        for name in set(current.get(part) or []) - set(trained.get(part) or [])
    )
    if missing:
        pytest.fail(
            f"{model} is older than domain.yml (it lacks {', '.join(missing[:5])}): "
            "run `make train`"
        )
    return model


def whatsapp_credentials(folder: Path, graph: FakeGraphApi) -> Path:
    """A credentials.yml with REST and the WhatsApp channel talking to ``graph``."""
    credentials = folder / "credentials.yml"
    credentials.write_text(
        yaml.safe_dump(
            {
                "channels.rest.RestInput": None,
                "channels.whatsapp.WhatsAppInput": {
                    "verify_token": VERIFY_TOKEN,
                    "app_secret": APP_SECRET,
                    "access_token": ACCESS_TOKEN,
                    "phone_number_id": PHONE_NUMBER_ID,
                    "api_url": graph.api_url,
                },
            }
        )
    )
    return credentials


@pytest.fixture(scope="module")
def bot(tmp_path_factory, module_smtp_server):
    host, port, _mailbox = module_smtp_server
    tmp_path = tmp_path_factory.mktemp("whatsapp")
    model = _model()
    graph = FakeGraphApi(ACCESS_TOKEN, PHONE_NUMBER_ID).start()
    credentials = whatsapp_credentials(tmp_path, graph)
    key = Fernet.generate_key().decode()
    env = {
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": key,
        "SMTP_HOST": host,
        "SMTP_PORT": str(port),
        "SMTP_FROM": "IESS <buzon@iess.gob.ec>",
        "SMTP_SECURITY": "none",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
    }
    db.migrate(env["DATABASE_URL"])
    server = servers.Bot(
        tmp_path,
        env,
        servers.EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"),
        credentials=credentials,
    )
    server.graph = graph
    server.var_dir = tmp_path / "var"
    server.cipher = crypto.FieldCipher(key)
    server.store = CaseStore(db.make_engine(env["DATABASE_URL"]), server.cipher)
    server.tracker_engine = db.make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    default_model, servers.MODEL = servers.MODEL, model
    try:
        server.start()
    except Exception:
        server.stop()
        graph.stop()
        raise
    finally:
        servers.MODEL = default_model
    yield server
    server.stop()
    graph.stop()


def webhook_url(bot) -> str:
    return f"http://127.0.0.1:{bot.rasa_port}/webhooks/whatsapp/webhook"


def envelope(*messages, statuses=None) -> dict:
    return whatsapp_client.envelope(PHONE_NUMBER_ID, *messages, statuses=statuses)


def deliver(
    bot, payload: dict, secret: str = APP_SECRET, signature: str = None
) -> requests.Response:
    return post_signed(webhook_url(bot), payload, secret, signature)


class Citizen(WhatsAppUser):
    """A WhatsApp user (a made-up number) writing to the bot."""

    def __init__(self, bot):
        super().__init__(webhook_url(bot), bot.graph, PHONE_NUMBER_ID, APP_SECRET)
        self.bot = bot


def within_whatsapp_limits(message: dict) -> None:
    assert message["messaging_product"] == "whatsapp"
    if message["type"] == "text":
        assert 0 < len(message["text"]["body"]) <= 4096
        return
    interactive = message["interactive"]
    action = interactive["action"]
    if interactive["type"] == "button":
        assert 0 < len(interactive["body"]["text"]) <= 1024
        assert 1 <= len(action["buttons"]) <= 3
        titles = [b["reply"]["title"] for b in action["buttons"]]
        assert all(0 < len(t) <= 20 for t in titles) and len(set(titles)) == len(titles)
        assert all(0 < len(b["reply"]["id"]) <= 256 for b in action["buttons"])
    else:
        assert interactive["type"] == "list"
        assert 0 < len(interactive["body"]["text"]) <= 4096
        assert action["button"] == "Ver opciones"
        rows = [r for s in action["sections"] for r in s["rows"]]
        assert 1 <= len(rows) <= 10
        assert all(0 < len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
        assert all(0 < len(r["id"]) <= 200 for r in rows)


def test_the_webhook_is_verified_with_the_verify_token(bot):
    challenge = "1158201444"
    ok = requests.get(
        webhook_url(bot),
        timeout=10,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": challenge,
        },
    )
    assert ok.status_code == 200 and ok.text == challenge
    assert ok.headers["Content-Type"].startswith("text/plain")
    wrong = requests.get(
        webhook_url(bot),
        timeout=10,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "not-the-token",
            "hub.challenge": challenge,
        },
    )
    assert wrong.status_code == 403 and challenge not in wrong.text


def test_a_citizen_registers_a_queja_with_a_photo_entirely_through_whatsapp(bot):
    citizen = Citizen(bot)
    greeting = citizen.send(citizen.text("hola"), offers("/register_queja"))
    assert "list" in kinds(greeting)  # four menu options: an interactive list
    consent = citizen.send(citizen.tap("/register_queja", "list_reply"), offers("/affirm"))
    assert "Protección de Datos Personales" in said(consent) and "button" in kinds(consent)
    citizen.send(citizen.tap("/affirm"), says("cédula"))
    one_tap = '/inform{"phone_source":"whatsapp"}'
    asked = citizen.send(citizen.text(CEDULA), offers(one_tap))  # the number they write from
    assert "teléfono" in said(asked)
    citizen.send(citizen.tap(one_tap), says("correo"))
    citizen.send(citizen.text(EMAIL), says("provincia"))
    citizen.send(citizen.text("duran"), says("calle y número"))
    citizen.send(citizen.text(ADDRESS), says("Cuéntenos qué pasó"))
    categories = citizen.send(citizen.text(STORY), offers('/inform{"category":"queja_turnos"}'))
    assert "list" in kinds(categories)
    evidence = citizen.send(
        citizen.tap('/inform{"category":"queja_turnos"}', "list_reply"), offers("/deny")
    )
    assert "hasta 1 MB" in said(evidence) and "/affirm" in ids_of(evidence)
    citizen.send(citizen.tap("/affirm"), says("Envíe sus archivos"))  # "Sí, tengo"

    png = synthetic_files.png(width=3, height=3)
    bot.graph.add_media("MEDIA-PHOTO-1", png, "image/png")
    received = citizen.send(
        citizen.image("MEDIA-PHOTO-1"),
        lambda answer: says("Recibimos su archivo")(answer) and offers("/affirm")(answer),
    )  # and the "Listo" button again
    assert "evidencia.png" in said(received)
    assert bot.graph.downloads == ["MEDIA-PHOTO-1"]

    summary = citizen.send(citizen.tap("/affirm"), says("Revise sus datos"))  # "Listo"
    assert "Evidencia: 1 archivo" in said(summary)
    # Confirmar · Corregir · Cancelar as visible reply buttons; the fields behind Corregir
    assert ids_of(summary[-1:]) == ["/affirm", "/deny", "/cancel"]
    fields = citizen.send(citizen.tap("/deny"), offers('/inform{"correction":"phone"}'))
    assert "list" in kinds(fields) and "Revise sus datos" in said(fields)  # and the summary
    done = citizen.send(citizen.tap("/affirm"), says("IESS-Q-", "analizará su queja"))
    number = re.search(r"IESS-Q-\d{4}-\d{6}", said(done)).group(0)

    # --- the case, its evidence and the file -----------------------------------------------
    case = bot.store.reveal(number)
    assert case["evidence_count"] == 1 and case["channel"] == "whatsapp"
    assert (case["cedula"], case["email"], case["canton_code"]) == (CEDULA, EMAIL, "0907")
    assert case["phone"] == f"+{citizen.wa_id}"  # one tap, validated, stored encrypted
    assert case["category"] == "queja_turnos" and case["description"].startswith(STORY)
    with bot.store.engine.connect() as connection:
        case_id = connection.execute(
            sql("SELECT id FROM cases WHERE number = :n"), {"n": number}
        ).scalar()
        rows = connection.execute(
            sql("SELECT id, case_id, kind, size, content_enc FROM evidence")
        ).all()
    assert [(r.case_id, r.kind, r.size) for r in rows] == [(case_id, "png", len(png))]
    assert png not in bytes(rows[0].content_enc)  # encrypted at rest
    assert bot.cipher.decrypt_bytes(bytes(rows[0].content_enc)) == png
    assert not (bot.var_dir / "evidence").exists()  # nothing on one server's disk

    # --- every message fitted WhatsApp, buttons and lists were used ----------------------------
    sent = bot.graph.sent_to(citizen.wa_id)
    for message in sent:
        within_whatsapp_limits(message)
    assert {"button", "list"} <= kinds(sent)
    assert bot.graph.unauthorized == 0

    # --- the phone number is nowhere but in the replies -------------------------------------------
    with bot.tracker_engine.connect() as connection:
        senders = set(connection.execute(sql("SELECT DISTINCT sender_id FROM events")).scalars())
    assert wa.sender_id_for(bot.cipher.hash_key("whatsapp-sender"), citizen.wa_id) in senders
    assert not any(citizen.wa_id in sender for sender in senders)
    logs = bot.all_logs()
    for secret in (citizen.wa_id, CEDULA, EMAIL, "Garzota", "cardiologo"):
        assert secret not in logs
    assert "Traceback" not in logs


def test_a_badly_signed_webhook_is_refused_and_nothing_is_sent(bot):
    citizen = Citizen(bot)
    attempts = bot.graph.attempts
    payload = envelope(citizen.text("hola"))
    assert deliver(bot, payload, secret="not-the-app-secret").status_code == 403
    assert deliver(bot, payload, signature="").status_code == 403
    assert deliver(bot, payload, signature="sha256=" + "0" * 64).status_code == 403
    statuses = envelope(
        statuses=[{"id": "wamid.out1", "status": "read", "recipient_id": citizen.wa_id}]
    )
    assert deliver(bot, statuses).status_code == 200  # a status callback: accepted, ignored
    time.sleep(3)
    assert bot.graph.sent_to(citizen.wa_id) == [] and bot.graph.attempts == attempts


def test_a_file_sent_when_no_evidence_is_asked_is_not_downloaded(bot):
    citizen = Citizen(bot)
    bot.graph.add_media("MEDIA-NOT-NOW", synthetic_files.png(), "image/png")
    assert deliver(bot, envelope(citizen.image("MEDIA-NOT-NOW"))).status_code == 200
    time.sleep(3)
    assert "MEDIA-NOT-NOW" not in bot.graph.downloads


def test_a_redelivered_message_is_answered_once(bot):
    citizen = Citizen(bot)
    payload = envelope(citizen.text("hola"))
    assert deliver(bot, payload).status_code == 200
    assert deliver(bot, payload).status_code == 200  # Meta delivers the same message again
    bot.graph.wait_for(citizen.wa_id, 0, offers("/register_queja"))
    time.sleep(3)
    greetings = [m for m in bot.graph.sent_to(citizen.wa_id) if "/register_queja" in ids_of([m])]
    assert len(greetings) == 1


def test_a_send_the_graph_api_fails_is_retried_and_delivered(bot):
    citizen = Citizen(bot)
    attempts = bot.graph.attempts
    bot.graph.fail_next(1, 500)
    bot.graph.fail_next(1, 429)
    greeting = citizen.send(citizen.text("hola"), offers("/register_queja"))
    assert len(greeting) == 1  # one message, delivered on the third try
    assert bot.graph.attempts - attempts == 3


def test_a_young_worker_types_everything_the_way_people_do_on_whatsapp(bot):
    """Values inside sentences, two at once, no e-mail of one's own, a question in the
    middle, an address by reference, "no, ya le conté todo": a case all the same."""
    citizen = Citizen(bot)
    citizen.send(citizen.text("hola buenas noches"), offers("/register_queja"))
    voice = citizen._message("audio", audio={"id": "MEDIA-VOICE-1", "voice": True})
    citizen.send(voice, says("escribir"))  # a voice note: please write it, nothing lost
    assert "MEDIA-VOICE-1" not in bot.graph.downloads
    story = "en el hospital un man me dijo q si le doy 40 dolares me opera mas rapido"
    guessed = citizen.send(citizen.text(story), offers("/affirm"))
    assert "coima" in said(guessed)
    citizen.send(citizen.text("si eso"), says("Protección de Datos Personales"))
    citizen.send(citizen.text("si acepto"), says("cédula"))
    both = citizen.send(
        citizen.text(f"mi cedula es {CEDULA} y mi cel 0981234567"), says("correo")
    )  # the phone came with the cédula: not asked
    assert "teléfono" not in said(both)
    citizen.send(citizen.text("no tengo correo"), says("familiar"))
    sister = "el correo de mi hermana es ana.prueba@example.com"
    citizen.send(citizen.text(sister), says("provincia"))
    citizen.send(citizen.text("soy de duran"), says("calle y número"))
    answered = citizen.send(
        citizen.text("y esto es anonimo? no quiero q se entere nadie"), says("calle y número")
    )
    assert "confidencial" in said(answered)
    more = citizen.send(citizen.text("no se el numero, junto al mercado de duran"), offers("/deny"))
    assert "40 dolares" in said(more)  # the story told first is the description
    citizen.send(citizen.text("no, ya le conte todo"), says("evidencia"))
    summary = citizen.send(citizen.text("no tengo"), says("Revise sus datos"))
    assert "+593981234567" in said(summary) and "ana.prueba@example.com" in said(summary)
    done = citizen.send(citizen.tap("/affirm"), says("IESS-D-"))
    number = re.search(r"IESS-D-\d{4}-\d{6}", said(done)).group(0)
    case = bot.store.reveal(number)
    assert (case["cedula"], case["phone"], case["email"]) == (
        CEDULA,
        "+593981234567",
        "ana.prueba@example.com",
    )
    assert case["category"] == "denuncia_coima" and case["canton_code"] == "0907"
    assert case["address"] == "no se el numero, junto al mercado de duran"
    assert case["description"].startswith(story)


def test_a_citizen_without_email_goes_on_and_is_told_by_whatsapp(bot):
    """«No tengo correo», then «Seguir sin correo»: the case is registered, the choice
    recorded, no e-mail queued, and the number and key stay in the chat."""
    citizen = Citizen(bot)
    citizen.send(citizen.text("hola"), offers("/register_queja"))
    citizen.send(citizen.tap("/register_queja", "list_reply"), offers("/affirm"))
    citizen.send(citizen.tap("/affirm"), says("cédula"))
    one_tap = '/inform{"phone_source":"whatsapp"}'
    citizen.send(citizen.text(CEDULA), offers(one_tap))
    citizen.send(citizen.tap(one_tap), says("correo"))
    without = '/inform{"contact_preference":"whatsapp"}'
    offered = citizen.send(citizen.text("no tengo correo mijo"), offers(without))
    assert "familiar" in said(offered) and "button" in kinds(offered)
    citizen.send(citizen.tap(without), says("provincia"))
    citizen.send(citizen.text("duran"), says("calle y número"))
    citizen.send(citizen.text(ADDRESS), says("Cuéntenos qué pasó"))
    categories = citizen.send(citizen.text(STORY), offers('/inform{"category":"queja_turnos"}'))
    assert "list" in kinds(categories)
    citizen.send(citizen.tap('/inform{"category":"queja_turnos"}', "list_reply"), offers("/deny"))
    summary = citizen.send(citizen.text("no"), says("Revise sus datos"))
    assert "WhatsApp" in said(summary) and "None" not in said(summary)
    done = citizen.send(citizen.tap("/affirm"), says("IESS-Q-", "por este WhatsApp"))
    number = re.search(r"IESS-Q-\d{4}-\d{6}", said(done)).group(0)
    assert re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", said(done))  # the key, here
    case = bot.store.reveal(number)
    assert case["email"] is None and case["contact_preference"] == "whatsapp"
    assert case["whatsapp_id"] == citizen.wa_id and case["phone"] == f"+{citizen.wa_id}"
    with bot.store.engine.connect() as connection:
        queued = connection.execute(
            sql(
                "SELECT count(*) FROM outbox JOIN cases ON cases.id = outbox.case_id"
                " WHERE cases.number = :n"
            ),
            {"n": number},
        ).scalar()
    assert queued == 0  # no confirmation e-mail to nobody
