"""The trainers' export: conversations full of made-up personal data are saved through
the real encrypted tracker store (the registered and cancelled ones forgotten by it),
exported as a function and by ``make export-conversations``, and no name, cédula,
phone, e-mail, address, case number or key, nor any of their digit runs, is in any
file; the files load with Rasa's own readers; the queue and the report count right."""

import asyncio
import csv
import io
import os
import re
import subprocess
import warnings
from pathlib import Path
from urllib.parse import urlparse

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.training_data.loading import load_data

from buzon.training import conversation_report, conversations, redaction, training_files
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from scripts import export_conversations
from tests import synthetic
from tests.conftest import _postgres_database

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
SETTINGS = export_conversations.settings_from(ROOT / "config.yml")

CEDULA_A = synthetic.cedula("171122334")
CEDULA_B = synthetic.cedula("092233445")
CEDULA_C = synthetic.cedula("060708091")
CEDULA_C_DASHED = f"{CEDULA_C[:9]}-{CEDULA_C[9]}"
RUC = synthetic.cedula("170998877") + "001"
PHONE_A = "099 123 4567"
PHONE_C = "+593 98 111 2233"
PHONE_D = "593987776655"
PHONE_B = "02-2345678"
EMAIL_A = "gladys.chimbo.t@correo.ec"
EMAIL_C = "W.Quishpe77@mail.com.ec"
ADDRESS_A = "Av. Amazonas N34-120 y Atahualpa"
ADDRESS_D = "mz 14 villa 9 de la cdla. Las Orquídeas"
ADDRESS_E = "calle Los Cedros 458, barrio La Floresta"
CASE_G = "IESS-Q-2026-000123"
CASE_G_LOOSE = "iess d 2026 45"
KEY_G = "ab3d ef5h jk7m"
KEY_G_DASHED = "7HK2-M9PQ-X4RT"

# Everything personal the conversations below contain, as the citizens wrote it.
SECRETS = [
    "Wilmer Quishpe",
    "wilmer",
    "Quishpe",
    "gladys chimbo tapia",
    "Gladys",
    "juan carlos pazmiño",
    "pazmiño",
    "maribel andrango",
    "Andrango",
    "Rosa Mendoza",
    "Mendoza",
    CEDULA_A,
    CEDULA_B,
    CEDULA_C,
    CEDULA_C_DASHED,
    RUC,
    PHONE_A,
    PHONE_B,
    PHONE_C,
    PHONE_D,
    EMAIL_A,
    EMAIL_C,
    ADDRESS_A,
    ADDRESS_D,
    ADDRESS_E,
    CASE_G,
    CASE_G_LOOSE,
    KEY_G,
    KEY_G_DASHED,
    "+593991234567",  # the phone as the form stored it
]
# Words of the secrets that are not personal by themselves (they stay in the files).
COMMON_WORDS = {
    "calle",
    "los",
    "las",
    "barrio",
    "cdla",
    "villa",
    "iess",
    "correo",
    "mail",
    "com",
    "mz",
    "y",
    "de",
    "la",
}


@pytest.fixture()
def store(tmp_path, wired):
    wired()
    return EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))


def save(store, sender, events):
    tracker = asyncio.run(store.retrieve(sender)) or DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    asyncio.run(store.save(tracker))


def said(text, intent, confidence=1.0, ranking=None, entities=()):
    ranking = ranking or [(intent, confidence)]
    return UserUttered(
        text,
        {"name": intent, "confidence": confidence},
        list(entities),
        {"intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]},
    )


def bot(response):
    return BotUttered("(texto del bot)", {}, {"utter_action": response})


def asks(slot, form="case_form"):
    return [ActionExecuted(form), SlotSet("requested_slot", slot), ActionExecuted("action_listen")]


def listen():
    return ActionExecuted("action_listen")


def start(store, sender):
    save(store, sender, [ActionExecuted("action_session_start"), SessionStarted(), listen()])


def answer(store, sender, message, slot, value, next_slot, form="case_form"):
    events = [message, ActionExecuted(form)]
    if slot:
        events.append(SlotSet(slot, value))
    save(store, sender, events + asks(next_slot, form)[1:])


def registered_from_a_free_story(store):
    """A: the story is guessed right, the form filled, the case registered (then forgotten)."""
    s = "ciudadana-a"
    start(store, s)
    story = f"el doctor Wilmer Quishpe me cobró 20 dólares para darme el turno, cédula {CEDULA_A}"
    save(
        store,
        s,
        [
            said(
                story,
                "denuncia_coima",
                0.82,
                [("denuncia_coima", 0.82), ("denuncia_cobro_indebido", 0.10)],
            ),
            ActionExecuted("action_classify_report"),
            bot("utter_confirm_classification"),
            SlotSet("description_start", story),
            SlotSet("case_kind", "denuncia"),
            SlotSet("category", "denuncia_coima"),
            listen(),
        ],
    )
    save(
        store,
        s,
        [
            said("/affirm", "affirm"),
            ActionExecuted("action_start_case"),
            SlotSet("registration_id", "4f1c0ffee0123456789abcdef0123456"),
            bot("utter_start_denuncia"),
            ActionExecuted("case_form"),
            ActiveLoop("case_form"),
            SlotSet("requested_slot", "consent"),
            listen(),
        ],
    )
    answer(store, s, said("/affirm", "affirm"), "consent", True, "cedula")
    answer(store, s, said(CEDULA_A, "inform", 0.71), "cedula", CEDULA_A, "phone")
    answer(store, s, said(PHONE_A, "inform", 0.64), "phone", "+593991234567", "email")
    answer(store, s, said(EMAIL_A, "inform", 0.88), "email", EMAIL_A, "province")
    answer(store, s, said("Pichincha", "inform", 0.93), "province", "Pichincha", "canton")
    answer(store, s, said("Quito", "inform", 0.92), "canton", "Quito", "address")
    answer(store, s, said(ADDRESS_A, "inform", 0.40), "address", ADDRESS_A, "description")
    answer(store, s, said("/deny", "deny"), "description", story, "evidence")
    answer(store, s, said("/deny", "deny"), "evidence", "0", "confirmation")
    save(
        store,
        s,
        [
            said("/affirm", "affirm"),
            ActionExecuted("case_form"),
            SlotSet("confirmation", "yes"),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            ActionExecuted("action_finish_case"),
            bot("utter_case_registered"),
            bot("utter_case_registered_denuncia_note"),
            SlotSet("cedula", None),
            SlotSet("forget_conversation", "registered"),
            listen(),
        ],
    )


def abandoned_at_the_phone(store):
    """B: a queja from the menu, left at the phone question; nothing forgotten."""
    s = "ciudadano-b"
    start(store, s)
    save(
        store,
        s,
        [
            said("/register_queja", "register_queja"),
            ActionExecuted("action_start_case"),
            ActionExecuted("case_form"),
            ActiveLoop("case_form"),
            SlotSet("requested_slot", "consent"),
            listen(),
        ],
    )
    answer(store, s, said("acepto", "affirm", 0.91), "consent", True, "cedula")
    answer(
        store,
        s,
        said(f"mi cédula es {CEDULA_B}, soy juan carlos pazmiño", "inform", 0.52),
        "cedula",
        CEDULA_B,
        "phone",
    )
    answer(
        store,
        s,
        said(f"el de mi vecina Rosa Mendoza {PHONE_B}", "inform", 0.33),
        "phone",
        None,
        "phone",
    )


def cancelled_at_the_address(store):
    """C: cancelled at the address question (the store forgets what was given)."""
    s = "ciudadano-c"
    start(store, s)
    save(
        store,
        s,
        [
            said("quiero poner una queja", "register_queja", 0.97),
            ActionExecuted("action_start_case"),
            ActionExecuted("case_form"),
            ActiveLoop("case_form"),
            SlotSet("requested_slot", "consent"),
            listen(),
        ],
    )
    answer(store, s, said("/affirm", "affirm"), "consent", True, "cedula")
    answer(store, s, said(CEDULA_C_DASHED, "inform", 0.5), "cedula", CEDULA_C, "phone")
    answer(store, s, said(PHONE_C, "inform", 0.6), "phone", "+593981112233", "email")
    answer(store, s, said(EMAIL_C, "inform", 0.9), "email", EMAIL_C, "province")
    answer(store, s, said("Guayas", "inform", 0.9), "province", "Guayas", "canton")
    answer(store, s, said("Guayaquil", "inform", 0.9), "canton", "Guayaquil", "address")
    save(
        store,
        s,
        [
            said("cancelar", "cancel", 0.95),
            ActionExecuted("action_deactivate_loop"),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            ActionExecuted("action_cancel"),
            SlotSet("cedula", None),
            SlotSet("forget_conversation", "cancelled"),
            bot("utter_case_discarded"),
            listen(),
        ],
    )


CORRECTED_STORY = (
    f"la licenciada maribel andrango no me quiso dar la cita y me gritó, llámeme al {PHONE_D}"
)


def corrected_guess(store):
    """D: the guess queja_maltrato is rejected with the button; the citizen picks queja_turnos."""
    s = "ciudadana-d"
    start(store, s)
    save(
        store,
        s,
        [
            said(
                CORRECTED_STORY,
                "queja_maltrato",
                0.55,
                [("queja_maltrato", 0.55), ("queja_turnos", 0.30), ("queja_tiempo_espera", 0.08)],
            ),
            ActionExecuted("action_classify_report"),
            bot("utter_confirm_classification"),
            SlotSet("description_start", CORRECTED_STORY),
            SlotSet("case_kind", "queja"),
            SlotSet("category", "queja_maltrato"),
            listen(),
        ],
    )
    save(
        store,
        s,
        [
            said("/deny", "deny"),
            ActionExecuted("action_reject_classification"),
            bot("utter_ask_kind"),
            SlotSet("case_kind", None),
            SlotSet("category", None),
            listen(),
        ],
    )
    save(
        store,
        s,
        [
            said("/register_queja", "register_queja"),
            ActionExecuted("action_start_case"),
            SlotSet("case_kind", "queja"),
            ActionExecuted("case_form"),
            ActiveLoop("case_form"),
            SlotSet("requested_slot", "consent"),
            listen(),
        ],
    )
    answer(store, s, said("/affirm", "affirm"), "consent", True, "address")
    answer(store, s, said(ADDRESS_D, "inform", 0.45), "address", ADDRESS_D, "category")
    answer(
        store,
        s,
        said(
            '/inform{"category":"queja_turnos"}',
            "inform",
            entities=[{"entity": "category", "value": "queja_turnos"}],
        ),
        "category",
        "queja_turnos",
        "evidence",
    )


LOW_CONFIDENCE = (
    f"ayer en el dispensario de la {ADDRESS_E} el señor wilmer me hizo esperar tres horas, "
    f"escríbame a {EMAIL_A}"
)


def not_understood(store):
    """E: a story the NLU does not understand (nlu_fallback)."""
    s = "ciudadano-e"
    start(store, s)
    save(
        store,
        s,
        [
            said(
                LOW_CONFIDENCE,
                "nlu_fallback",
                0.35,
                [("nlu_fallback", 0.35), ("queja_tiempo_espera", 0.21), ("queja_maltrato", 0.18)],
            ),
            ActionExecuted("action_handle_unclear"),
            bot("utter_kind_or_family_unclear"),
            listen(),
        ],
    )


CLOSE_CALL = f"quiero saber de mi caso {CASE_G} con la clave {KEY_G}"


def status_look_up(store):
    """G: a close call, then a look-up whose answers are replaced whole (not found)."""
    s = "wa-6f2a9c"
    start(store, s)
    save(
        store,
        s,
        [
            said(
                CLOSE_CALL,
                "check_status",
                0.40,
                [("check_status", 0.40), ("add_information", 0.33)],
            ),
            ActionExecuted("status_form"),
            ActiveLoop("status_form"),
            SlotSet("requested_slot", "lookup_case_number"),
            listen(),
        ],
    )
    answer(
        store,
        s,
        said(CASE_G_LOOSE, "inform", 0.7),
        "lookup_case_number",
        "IESS-D-2026-000045",
        "lookup_key",
        form="status_form",
    )
    save(
        store,
        s,
        [
            said(KEY_G_DASHED, "inform", 0.6),
            ActionExecuted("status_form"),
            SlotSet("lookup_key", KEY_G_DASHED),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            ActionExecuted("action_check_status"),
            bot("utter_case_not_found"),
            listen(),
        ],
    )


def two_sessions(store):
    """H: one sender, two sessions: two conversations."""
    s = "ciudadano-h"
    start(store, s)
    save(store, s, [said("hola", "greet", 0.99), ActionExecuted("utter_greet"), listen()])
    start(store, s)
    save(
        store,
        s,
        [
            said(f"mi RUC es {RUC} y el correo {EMAIL_C}", "inform", 0.61),
            ActionExecuted("action_data_outside_form"),
            listen(),
        ],
    )


@pytest.fixture()
def filled_store(store):
    for conversation in (
        registered_from_a_free_story,
        abandoned_at_the_phone,
        cancelled_at_the_address,
        corrected_guess,
        not_understood,
        status_look_up,
        two_sessions,
    ):
        conversation(store)
    return store


def output_text(out: Path) -> str:
    files = sorted(out.iterdir())
    assert {f.name for f in files} == {
        "nlu.yml",
        "test_stories.yml",
        "annotation_queue.csv",
        "report.md",
    }
    return "\n".join(f.read_text(encoding="utf-8-sig") for f in files)


def assert_no_personal_data(text: str) -> None:
    folded = redaction.fold(text)
    for placeholder in redaction.PLACEHOLDERS:
        folded = folded.replace(placeholder, " ")
    for secret in SECRETS:
        for word in re.findall(r"[^\W\d_]+", redaction.fold(secret)):
            if word not in COMMON_WORDS and len(word) > 1:
                assert not re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", folded), (
                    secret,
                    word,
                )
        all_digits = re.sub(r"\D", "", secret)
        if len(all_digits) >= 3:
            assert all_digits not in text, secret
        for run in re.findall(r"\d{3,}", secret):
            assert run not in text, (secret, run)


def queue_rows(out: Path) -> list[dict]:
    text = (out / "annotation_queue.csv").read_text(encoding="utf-8-sig")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def test_the_export_holds_no_personal_datum(filled_store, tmp_path):
    out = tmp_path / "exports"
    export_conversations.export(filled_store, out, SETTINGS)
    text = output_text(out)
    assert_no_personal_data(text)
    # the conversations are there, redacted: placeholders where the data was
    for placeholder in (
        "<cedula>",
        "<telefono>",
        "<correo>",
        "<direccion>",
        "<caso>",
        "<clave>",
        "<nombre>",
        "<ruc>",
    ):
        assert placeholder in text, placeholder
    assert "ciudadana-a" not in text and "wa-6f2a9c" not in text  # no sender ids


def test_the_trainers_files_load_with_rasas_readers(filled_store, tmp_path):
    out = tmp_path / "exports"
    export_conversations.export(filled_store, out, SETTINGS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlu = load_data(str(out / "nlu.yml"))
        stories = YAMLStoryReader(DOMAIN).read_from_file(out / "test_stories.yml")
    issues = [str(w.message) for w in caught if "Issue found" in str(w.message)]
    assert issues == []
    assert {"queja_maltrato", "nlu_fallback", "check_status", "inform"} <= nlu.intents
    texts = {m.get("text") for m in nlu.intent_examples}
    assert any(t.startswith("la licenciada <nombre> no me quiso dar la cita") for t in texts)
    assert not any("[" in t or "{" in t for t in texts)
    # one story per conversation: A, B, C, D, E, G and the two sessions of H
    assert len(stories) == 8
    assert all(step.block_name.startswith("conversation c0") for step in stories)
    user_texts = [
        e.text for step in stories for e in step.events if isinstance(e, UserUttered) and e.text
    ]
    assert "<cedula>" in user_texts and "<clave>" in user_texts  # whole answers
    forgotten = stories[0]  # A: registered, so its texts were erased by the store
    said_in_a = [e for e in forgotten.events if isinstance(e, UserUttered)]
    assert said_in_a and all(e.text is None for e in said_in_a)
    assert said_in_a[0].intent_name == "denuncia_coima"


def test_the_queue_ranks_a_corrected_guess_then_what_was_not_understood(filled_store, tmp_path):
    out = tmp_path / "exports"
    export_conversations.export(filled_store, out, SETTINGS)
    rows = queue_rows(out)
    first, second = rows[0], rows[1]
    assert first["reason"] == "corrected_guess"
    assert first["predicted_intent"] == "queja_maltrato"
    assert first["chosen_category"] == "queja_turnos" and first["chosen_kind"] == "queja"
    assert first["message"] == redaction.redact(CORRECTED_STORY)
    assert first["message"].startswith("la licenciada <nombre> no me quiso dar la cita")
    assert second["reason"] == "nlu_fallback"
    assert (
        second["best_guess"] == "queja_tiempo_espera" and second["best_guess_confidence"] == "0.21"
    )
    assert second["message"] == redaction.redact(LOW_CONFIDENCE)
    reasons = [row["reason"] for row in rows]
    assert "close_call" in reasons and reasons.index("close_call") > 1
    close = rows[reasons.index("close_call")]
    assert close["message"] == "quiero saber de mi caso <caso> con la clave <clave>"
    assert [row["rank"] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    header = (out / "annotation_queue.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("# ") and "first" in header


def test_the_report_counts_finished_and_abandoned_registrations(filled_store, tmp_path):
    found = conversations.read_conversations(export_conversations.read_events(filled_store))
    report = conversation_report.compute(found, SETTINGS.threshold, SETTINGS.margin)
    assert report.conversations == 8
    assert report.started_registration == 4  # A, B, C, D
    assert report.finished_registration == 1  # A
    assert report.departures == {
        ("phone", "gone"): 1,  # B
        ("address", "cancelled"): 1,  # C
        ("evidence", "gone"): 1,  # D
    }
    assert report.corrections == {("queja_maltrato", "queja_turnos"): 1}
    # B's phone answer (0.33) and E's story are below the threshold 0.35
    assert report.misunderstood_messages == 2
    assert report.erased_messages > 0  # A's and C's texts
    assert [m.text for m in report.misunderstood] == [
        redaction.redact(LOW_CONFIDENCE),  # B's answer is only <telefono>: nothing to show
    ]
    markdown = conversation_report.as_markdown(report)
    assert "| phone | 1 | 0 | 0 | 1 |" in markdown
    assert "| address | 1 | 1 | 0 | 0 |" in markdown
    assert "finished (case registered): 1 of 4 (25.0%)" in markdown
    assert_no_personal_data(markdown)


def test_make_export_conversations_reads_the_store_an_endpoints_file_names(filled_store, tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n"
        "  type: persistence.encrypted_tracker_store.EncryptedSQLTrackerStore\n"
        "  dialect: sqlite\n"
        f"  db: {tmp_path / 't.db'}\n"
    )
    out = tmp_path / "from-make"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the key, var dir and database of `wired`
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "export-conversations",
            f"ENDPOINTS={endpoints}",
            f"OUT={out}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = output_text(out)
    assert_no_personal_data(text)
    assert_no_personal_data(done.stdout + done.stderr)
    again = tmp_path / "from-function"
    export_conversations.export(filled_store, again, SETTINGS)
    for name in ("nlu.yml", "test_stories.yml", "annotation_queue.csv", "report.md"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


@pytest.fixture()
def production_store(wired, monkeypatch):
    """endpoints.production.yml's store on a fresh PostgreSQL database of its own."""
    wired()
    admin, name, url = _postgres_database()
    parts = urlparse(url)
    for variable, value in {
        "TRACKER_DB_HOST": parts.hostname,
        "TRACKER_DB_PORT": str(parts.port),
        "TRACKER_DB_NAME": name,
        "TRACKER_DB_USER": parts.username or "",
        "TRACKER_DB_PASSWORD": parts.password or "",
        # the rest of the file must be set too, though the export uses none of it
        "ACTION_ENDPOINT_URL": "http://127.0.0.1:5055/webhook",
        "ACTION_SERVER_TOKEN": "token-de-prueba",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_DB": "1",
    }.items():
        monkeypatch.setenv(variable, value)
    store = export_conversations.tracker_store(
        ROOT / "endpoints.production.yml", ROOT / "domain.yml"
    )
    yield store
    store.engine.dispose()
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def test_make_export_conversations_reads_the_production_store(production_store, tmp_path):
    abandoned_at_the_phone(production_store)
    corrected_guess(production_store)
    not_understood(production_store)
    out = tmp_path / "production"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "export-conversations",
            "ENDPOINTS=endpoints.production.yml",
            f"OUT={out}",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_no_personal_data(output_text(out))
    rows = queue_rows(out)
    assert [row["reason"] for row in rows[:2]] == ["corrected_guess", "nlu_fallback"]
    report = (out / "report.md").read_text()
    assert "Conversations: 3" in report and "| phone | 1 | 0 | 0 | 1 |" in report


def test_a_corrected_guess_the_store_forgot_keeps_the_kind_the_citizen_chose(store, tmp_path):
    s = "ciudadana-i"
    start(store, s)
    story = f"la enfermera Rosa Mendoza me vendió la insulina, cédula {CEDULA_A}"
    save(
        store,
        s,
        [
            said(story, "queja_medicamentos", 0.6, [("queja_medicamentos", 0.6)]),
            ActionExecuted("action_classify_report"),
            bot("utter_confirm_classification"),
            listen(),
        ],
    )
    save(store, s, [said("no", "deny", 0.97), ActionExecuted("action_reject_classification")])
    save(
        store,
        s,
        [
            said("/register_denuncia", "register_denuncia"),
            ActionExecuted("action_start_case"),
            SlotSet("case_kind", "denuncia"),
            ActionExecuted("case_form"),
            ActiveLoop("case_form"),
            SlotSet("requested_slot", "category"),
            listen(),
        ],
    )
    answer(
        store,
        s,
        said(
            '/inform{"category":"denuncia_venta_medicamentos"}',
            "inform",
            entities=[{"entity": "category", "value": "denuncia_venta_medicamentos"}],
        ),
        "category",
        "denuncia_venta_medicamentos",
        "confirmation",
    )
    save(
        store,
        s,
        [
            said("/affirm", "affirm"),
            ActionExecuted("case_form"),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            ActionExecuted("action_finish_case"),
            bot("utter_case_registered"),
            SlotSet("forget_conversation", "registered"),
        ],
    )
    out = tmp_path / "exports"
    export_conversations.export(store, out, SETTINGS)
    assert_no_personal_data(output_text(out))
    [row] = queue_rows(out)
    assert row["reason"] == "corrected_guess" and row["message"] == ""  # erased at registration
    assert row["predicted_intent"] == "queja_medicamentos"
    assert row["chosen_kind"] == "denuncia" and row["chosen_category"] == ""
    assert "finished (case registered): 1 of 1" in (out / "report.md").read_text()


def test_what_citizens_type_cannot_break_the_yaml(tmp_path):
    typed = [
        'me dijeron "vuelva mañana" # otra vez',
        "la [cita](queja_turnos) {urgente} \\ no llega",
        "👍🏽 ok: - sí",
        "- true",
        "null",
    ]
    events = [
        {
            "event": "user",
            "text": text,
            "parse_data": {"intent": {"name": "queja_turnos", "confidence": 0.3}},
        }
        for text in typed
    ]
    found = conversations.read_conversations([events])
    (tmp_path / "nlu.yml").write_text(training_files.nlu_yaml(found, SETTINGS.threshold))
    stories = tmp_path / "test_stories.yml"
    stories.write_text(training_files.stories_yaml(found, SETTINGS.threshold))
    examples = load_data(str(tmp_path / "nlu.yml")).intent_examples
    assert sorted(m.get("text") for m in examples) == sorted(
        training_files.example_text(redaction.redact(text)) for text in typed
    )
    assert all(not m.get("entities") for m in examples)  # no bracket became an entity
    [story] = YAMLStoryReader(DOMAIN).read_from_file(stories)
    said_texts = [e.text for e in story.events if isinstance(e, UserUttered)]
    assert said_texts == [training_files.example_text(redaction.redact(t)) for t in typed]
