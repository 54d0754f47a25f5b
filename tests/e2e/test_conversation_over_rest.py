"""End to end: the real Rasa server and action server, a whole conversation over
the REST channel, then the case read from the database and the confirmation
e-mail read from a real SMTP server.

Two profiles: the embedded one of `make run` (SQLite for cases and
conversations) and the production one (PostgreSQL for both, Redis for the
conversation locks, with the real endpoints.production.yml).
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlparse

import pytest
import redis
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import text

from buzon import crypto, db
from buzon.cases.store import CaseStore
from tests import synthetic
from tests.e2e.servers import EMBEDDED_ENDPOINTS, ROOT, Bot, payloads, texts

pytestmark = pytest.mark.e2e

CEDULA = synthetic.cedula("092345678")
PHONE_TYPED, PHONE = "098 123 4567", "+593981234567"
EMAIL = "afiliada.prueba@example.com"
ADDRESS = "Cdla. La Garzota Mz 12 Villa 7"


@pytest.fixture(scope="module", params=["embedded", "production"])
def bot(request, tmp_path_factory, module_smtp_server):
    host, port, mailbox = module_smtp_server
    mailbox.messages.clear()  # case numbers start again in each profile's database
    tmp_path = tmp_path_factory.mktemp(request.param)
    key = Fernet.generate_key().decode()
    env = {
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": key,
        "SMTP_HOST": host,
        "SMTP_PORT": str(port),
        "SMTP_FROM": "IESS <buzon@iess.gob.ec>",
        "SMTP_SECURITY": "none",
    }  # the test's aiosmtpd speaks plain SMTP
    if request.param == "embedded":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cases.db'}"
        server = Bot(tmp_path, env, EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"))
    else:
        url = request.getfixturevalue("postgres_url")
        parts = urlparse(url)
        env.update(
            DATABASE_URL=url,
            TRACKER_DB_HOST=parts.hostname,
            TRACKER_DB_PORT=str(parts.port),
            TRACKER_DB_NAME=parts.path.lstrip("/"),
            TRACKER_DB_USER=parts.username or "",
            TRACKER_DB_PASSWORD=parts.password or "",
            REDIS_HOST="127.0.0.1",
            REDIS_PORT="6379",
            REDIS_DB="1",
        )
        env.update(
            BUZON_PROFILE="production",
            ACTION_SERVER_TOKEN="token-de-prueba",
            WHATSAPP_DEDUP_REDIS_URL="redis://127.0.0.1:6379/1",
            SOCKETIO_REDIS_URL="redis://127.0.0.1:6379/1",
            SMTP_SECURITY="none",
        )
        server = Bot(
            tmp_path,
            env,
            (ROOT / "endpoints.production.yml").read_text(),
            credentials=production_credentials_with_rest(tmp_path),
        )
        server.env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{server.actions_port}/webhook"
    db.migrate(env["DATABASE_URL"])
    server.profile = request.param
    tracker_url = (
        env["DATABASE_URL"]
        if request.param == "production"
        else f"sqlite:///{tmp_path / 'tracker.db'}"
    )
    server.tracker_engine = lambda: db.make_engine(tracker_url)
    server.mailbox = mailbox
    server.store = CaseStore(db.make_engine(env["DATABASE_URL"]), crypto.FieldCipher(key))
    server.start()
    yield server
    server.stop()


def production_credentials_with_rest(folder):
    """credentials.production.yml plus the REST channel these tests talk through.

    The production profile itself has no REST channel (test_confidentiality checks it).
    """
    channels = yaml.safe_load((ROOT / "credentials.production.yml").read_text())
    channels["channels.rest.RestInput"] = None
    path = folder / "credentials.yml"
    path.write_text(yaml.safe_dump(channels))
    return path


def wait_for_mail(mailbox, number: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [m for m in mailbox.messages if number in m["Subject"]]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no e-mail for {number} within {seconds}s")


def fill_personal_data(bot: Bot, sender: str) -> None:
    """Consent, cédula (after one mistake), phone, e-mail, a canton alone, address."""
    assert "cédula" in texts(bot.say(sender, "/affirm"))
    wrong = bot.say(sender, CEDULA[:9])
    assert "9 dígitos" in texts(wrong) and "cédula" in texts(wrong)
    assert "teléfono" in texts(bot.say(sender, CEDULA))
    assert "correo" in texts(bot.say(sender, PHONE_TYPED))
    assert "provincia" in texts(bot.say(sender, EMAIL))
    assert "calle y número" in texts(bot.say(sender, "duran"))  # the canton fills the province


def register_and_read_case(bot: Bot, sender: str, replies: list, phone: str = PHONE) -> dict:
    assert "Revise sus datos" in texts(replies)
    summary = texts(replies)
    for shown in (CEDULA, phone, EMAIL, "Durán, Guayas", ADDRESS):
        assert shown in summary
    done = texts(bot.say(sender, "/affirm"))
    number = next(word for word in done.split() if word.startswith("IESS-"))
    key = done.split("Clave de seguimiento: ")[1].split()[0]
    return {"number": number, "key": key, "text": done}


def test_citizens_register_a_queja_and_a_denuncia_and_look_them_up(bot):
    # --- a queja told without the menu -----------------------------------------
    queja = f"queja-{uuid.uuid4().hex[:8]}"
    story = "hace tres meses que llamo al call center y no me dan turno para el cardiologo"
    guessed = bot.say(queja, story)
    assert "queja" in texts(guessed) and "¿Es correcto?" in texts(guessed)
    assert "/affirm" in payloads(guessed)
    consent = bot.say(queja, "/affirm")
    assert "Protección de Datos Personales" in texts(consent)
    fill_personal_data(bot, queja)
    more = bot.say(queja, ADDRESS)
    assert story in texts(more)  # the first message is kept as the description
    evidence = bot.say(queja, "/deny")  # "No, es todo"
    assert "hasta 1 MB" in texts(evidence)
    queja_case = register_and_read_case(bot, queja, bot.say(queja, "/deny"))
    assert queja_case["number"].startswith("IESS-Q-")

    # --- a denuncia from the menu, with a correction from the summary ------------
    denuncia = f"denuncia-{uuid.uuid4().hex[:8]}"
    assert "Registrar denuncia" in str(bot.say(denuncia, "hola"))
    bot.say(denuncia, "/register_denuncia")
    fill_personal_data(bot, denuncia)
    assert "Cuéntenos qué pasó" in texts(bot.say(denuncia, ADDRESS))
    facts = "la licenciada de farmacia vende las pastillas de la presion que el IESS entrega gratis"
    options = bot.say(denuncia, facts)
    assert '/inform{"category":"denuncia_venta_medicamentos"}' in payloads(options)
    assert "hasta 20 MB" in texts(
        bot.say(denuncia, '/inform{"category":"denuncia_venta_medicamentos"}')
    )
    bot.say(denuncia, "/deny")
    assert "teléfono" in texts(bot.say(denuncia, '/inform{"correction":"phone"}'))
    bad_phone = texts(bot.say(denuncia, "12345"))
    assert "ecuatoriano" in bad_phone
    denuncia_case = register_and_read_case(
        bot, denuncia, bot.say(denuncia, "0998765432"), phone="+593998765432"
    )
    assert "Equipo especializado de gestión de denuncias" in denuncia_case["text"]

    # --- both cases are stored, encrypted, routed and confirmed by e-mail -----------
    stored_queja = bot.store.reveal(queja_case["number"])
    assert stored_queja["category"] == "queja_turnos" and stored_queja["kind"] == "queja"
    assert (stored_queja["cedula"], stored_queja["phone"], stored_queja["email"]) == (
        CEDULA,
        PHONE,
        EMAIL,
    )
    assert stored_queja["canton_code"] == "0907" and stored_queja["province_code"] == "09"
    assert stored_queja["description"].startswith(story)
    assert stored_queja["channel"] == "rest" and stored_queja["consent_version"]
    stored_denuncia = bot.store.reveal(denuncia_case["number"])
    assert stored_denuncia["phone"] == "+593998765432"
    assert stored_denuncia["area"] == "denuncias"
    with bot.store.engine.connect() as connection:
        raw = " ".join(str(row) for row in connection.execute(text("SELECT * FROM cases")))
    for secret in (CEDULA, "981234567", EMAIL, "Garzota", "cardiologo", "vende las pastillas"):
        assert secret not in raw

    for case in (queja_case, denuncia_case):
        mail = wait_for_mail(bot.mailbox, case["number"])
        assert mail["To"] == EMAIL
        assert case["key"] in mail.get_content()

    # --- the personal slots are cleared from the conversation --------------------
    slots = bot.tracker(queja)["slots"]
    assert all(
        slots.get(name) is None for name in ("cedula", "phone", "email", "address", "description")
    )

    # --- status look-up: right pair, wrong key, unknown number ------------------------
    asker = f"consulta-{uuid.uuid4().hex[:8]}"
    assert "número de caso" in texts(bot.say(asker, "/check_status"))
    bot.say(asker, queja_case["number"].lower())
    found = texts(bot.say(asker, queja_case["key"].replace("-", "")))
    assert "Registrado" in found and "Dirección del Seguro General de Salud" in found
    bot.say(asker, "/check_status")
    bot.say(asker, queja_case["number"])
    wrong_key = texts(bot.say(asker, "ABCD-2345-EFGH"))
    bot.say(asker, "/check_status")
    bot.say(asker, "IESS-Q-2020-999999")
    unknown = texts(bot.say(asker, queja_case["key"]))
    assert wrong_key == unknown and "No encontramos un caso con esos datos" in unknown

    # --- the conversation history is encrypted too ----------------------------------
    with bot.tracker_engine().connect() as connection:
        history = " ".join(str(row) for row in connection.execute(text("SELECT * FROM events")))
    assert "action_finish_case" in history  # the table is the one Rasa wrote to
    for secret in (CEDULA, "981234567", EMAIL, "Garzota", "cardiologo"):
        assert secret not in history

    # --- nothing personal in any server log ------------------------------------------
    logs = bot.all_logs()
    for secret in (CEDULA, "981234567", EMAIL, "Garzota"):
        assert secret not in logs
    assert "Traceback" not in logs


def test_consent_refused_stores_nothing_and_cancel_discards(bot):
    sender = f"norefused-{uuid.uuid4().hex[:8]}"
    cedula = synthetic.cedula("010203045")  # nobody else in these tests uses it
    bot.say(sender, "/register_queja")
    refused = texts(bot.say(sender, "/deny"))
    assert "gestiondenuncias@iess.gob.ec" in refused and "no guardamos" in refused
    bot.say(sender, "/register_denuncia")
    bot.say(sender, "/affirm")
    bot.say(sender, cedula)
    sure = texts(bot.say(sender, "cancelar"))
    assert "¿Seguro que desea cancelar" in sure and "cancelé" not in sure
    assert "teléfono" in texts(bot.say(sender, "no"))  # "no": the form goes on where it was
    assert "¿Seguro que desea cancelar" in texts(bot.say(sender, "cancelar"))
    cancelled = texts(bot.say(sender, "/affirm"))  # «Sí, cancelar»
    assert "cancelé el registro" in cancelled
    slots = bot.tracker(sender)["slots"]
    assert slots.get("cedula") is None and slots.get("consent") is None
    assert bot.store.numbers_for_cedula(cedula) == []


def test_each_profile_keeps_conversations_where_it_says(bot):
    sender = f"perfil-{uuid.uuid4().hex[:8]}"
    sets_before = _redis_set_calls()
    bot.say(sender, "hola")
    if bot.profile == "production":
        assert _redis_set_calls() > sets_before, "the Redis lock store was not used"
    with bot.tracker_engine().connect() as connection:
        stored = connection.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
        ).scalar()
    assert stored > 0


def _redis_set_calls() -> int:
    stats = redis.Redis(host="127.0.0.1", port=6379, db=1).info("commandstats")
    return stats.get("cmdstat_set", {}).get("calls", 0)


def test_a_pensioner_asks_before_answering_and_changes_the_kind_midway(bot):
    """Questions in the middle answered and the question asked again; values inside
    sentences; "no, en realidad es una denuncia" keeps every answer; the case looked up
    later with number and key in one message, the key in lower case."""
    sender = f"pensioner-{uuid.uuid4().hex[:8]}"
    consent = texts(bot.say(sender, "Buenos días señores del IESS, quisiera poner una queja"))
    assert "Protección de Datos Personales" in consent
    why = texts(bot.say(sender, "¿y qué pasa si no acepto? ¿para qué quieren mis datos?"))
    assert "no guardamos nada" in why and "Protección de Datos Personales" in why
    assert "cédula" in texts(bot.say(sender, "Sí, acepto"))
    assert "teléfono" in texts(bot.say(sender, f"Mi cédula es la {CEDULA}, señorita"))
    assert "correo" in texts(bot.say(sender, "mi teléfono es el 098 123 4567"))
    assert "provincia" in texts(bot.say(sender, f"correo: {EMAIL}"))
    assert "calle y número" in texts(bot.say(sender, "Vivo en Durán, Guayas"))
    switched = texts(bot.say(sender, "no, en realidad es una denuncia"))
    assert "registraremos una denuncia" in switched and "calle y número" in switched
    how_long = texts(bot.say(sender, "¿y cuánto tiempo se demoran en contestar?"))
    assert "días hábiles" in how_long and "calle y número" in how_long
    assert "Cuéntenos qué pasó" in texts(bot.say(sender, ADDRESS))
    facts = "el guardia de emergencia cobra cinco dolares por hacer pasar sin la fila"
    categories = bot.say(sender, facts)
    assert '/inform{"category":"denuncia_coima"}' in payloads(categories)
    bot.say(sender, '/inform{"category":"denuncia_coima"}')
    case = register_and_read_case(bot, sender, bot.say(sender, "/deny"))
    assert case["number"].startswith("IESS-D-")
    stored = bot.store.reveal(case["number"])
    assert (stored["kind"], stored["cedula"], stored["phone"], stored["email"]) == (
        "denuncia",
        CEDULA,
        PHONE,
        EMAIL,
    )

    later = f"pensioner-later-{uuid.uuid4().hex[:8]}"
    asked = f"{case['number'].lower()} clave {case['key'].lower().replace('-', ' ')}"
    status = texts(bot.say(later, asked))
    assert f"Caso {case['number']}" in status and "Estado:" in status  # found at once
    assert "Escriba su número de caso" not in status


def test_an_angry_relative_tells_everything_at_once(bot):
    """A story with the cédula and phone in it keeps both (taken once consent is given),
    only what is missing is asked, an address by reference, and «no» to "anything else?"
    is no cancel."""
    sender = f"relative-{uuid.uuid4().hex[:8]}"
    story = (
        f"ES EL COLMO!!! soy el hijo, mi cedula es {CEDULA}, mi cel 098 123 4567, a mi mama la "
        "tuvieron 9 horas sentada en la sala de espera de emergencia sin que nadie la atienda"
    )
    guessed = bot.say(sender, story)
    assert "/affirm" in payloads(guessed) or "/deny" in payloads(guessed)
    if '/inform{"category":"queja_tiempo_espera"}' in payloads(guessed):
        bot.say(sender, '/inform{"category":"queja_tiempo_espera"}')
    else:
        assert "tiempos de espera" in texts(guessed)
        bot.say(sender, "si")
    asked = texts(bot.say(sender, "si, acepto"))
    assert "correo" in asked and "cédula" not in asked  # cédula and phone came with the story
    assert "provincia" in texts(bot.say(sender, EMAIL.upper()))
    assert "calle y número" in texts(bot.say(sender, "duran"))
    more = texts(bot.say(sender, "frente a la escuela fiscal, diagonal al parque"))
    assert "9 horas" in more  # the story is the description so far
    evidence = texts(bot.say(sender, "no, ya le conte todo"))
    assert "evidencia" in evidence.lower() and "cancel" not in evidence.lower()
    summary = texts(bot.say(sender, "/deny"))
    assert "Revise sus datos" in summary and PHONE in summary and CEDULA in summary
    done = texts(bot.say(sender, "/affirm"))
    number = next(word for word in done.split() if word.startswith("IESS-Q-"))
    stored = bot.store.reveal(number)
    assert stored["category"] == "queja_tiempo_espera"
    assert (stored["cedula"], stored["phone"]) == (CEDULA, PHONE)
    assert stored["email"].lower() == EMAIL  # the domain keeps what it was given
    assert stored["address"] == "frente a la escuela fiscal, diagonal al parque"
