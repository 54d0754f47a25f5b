"""Redaction before trainers read a conversation: every personal datum becomes a
placeholder, however it was written, and the words that carry the meaning stay.

Real spaCy (es_core_news_sm), real word lists; the data is made up (the cédulas
have a computed check digit and belong to nobody)."""

import re

import pytest

from buzon.training import redaction
from buzon.training.redaction import (
    ADDRESS,
    CASE_NUMBER,
    CEDULA,
    EMAIL,
    NAME,
    NUMBER,
    PHONE,
    RUC,
    TRACKING_KEY,
    redact,
    redact_entity,
    redact_message,
    redact_slot,
)
from tests import synthetic

CEDULA_PICHINCHA = synthetic.cedula("171122334")
CEDULA_GUAYAS = synthetic.cedula("092233445")  # starts with 09 like a mobile number
RUC_NUMBER = synthetic.cedula("170998877") + "001"


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def assert_gone(secret: str, text: str) -> None:
    """Neither the words nor the digits of ``secret`` are left in ``text``."""
    folded = redaction.fold(text)
    for placeholder in redaction.PLACEHOLDERS:
        folded = folded.replace(placeholder, " ")
    for word in re.findall(r"[^\W\d_]{3,}", redaction.fold(secret)):
        assert not re.search(rf"\b{re.escape(word)}\b", folded), (word, text)
    if len(digits(secret)) >= 3:
        assert digits(secret) not in digits(text), (secret, text)
    for run in re.findall(r"\d{3,}", secret):
        assert run not in text, (run, text)


# --- identity numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        CEDULA_PICHINCHA,
        f"{CEDULA_PICHINCHA[:9]}-{CEDULA_PICHINCHA[9]}",  # with the check digit's dash
        " ".join(CEDULA_PICHINCHA),  # one digit at a time
        f"{CEDULA_PICHINCHA[:4]} {CEDULA_PICHINCHA[4:7]} {CEDULA_PICHINCHA[7:]}",
        f"{CEDULA_PICHINCHA[:2]}.{CEDULA_PICHINCHA[2:5]}.{CEDULA_PICHINCHA[5:]}",
        CEDULA_GUAYAS,
    ],
)
def test_a_cedula_is_replaced_however_its_digits_are_grouped(written):
    said = f"buenas, mi cédula es {written} y quiero poner una queja"
    assert redact(said) == f"buenas, mi cédula es {CEDULA} y quiero poner una queja"


def test_a_ruc_is_not_taken_for_a_cedula():
    assert redact(f"el RUC de la clínica es {RUC_NUMBER}") == f"el RUC de la clínica es {RUC}"
    spaced = f"{RUC_NUMBER[:10]}-{RUC_NUMBER[10:]}"
    assert redact(f"ruc {spaced}") == f"ruc {RUC}"


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "0998765432",
        "099 876 5432",
        "099-876-5432",
        "09.98.76.54.32",
        "0 9 9 8 7 6 5 4 3 2",
        "0 9 8 7 . 6 5 4 . 3 2 1",
        "+593 99 876 5432",
        "+593998765432",
        "593998765432",
        "00593 99 876 5432",
        "02-2345678",
        "(02) 234-5678",
        "072 345 678",
        "04 2 123 456",
    ],
)
def test_phones_are_replaced_in_every_way_people_write_them(written):
    redacted = redact(f"llámeme al {written} por favor")
    assert redacted == f"llámeme al {PHONE} por favor"
    assert_gone(written, redacted)


def test_a_mobile_number_is_not_taken_for_a_guayas_cedula():
    assert redact("0987654321") == PHONE  # third digit 8: no cédula has it
    assert redact(CEDULA_GUAYAS) == CEDULA


# --- e-mail, case numbers, tracking keys -----------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "ana.maria.lopez@correo.ec",
        "Ana.Maria.Lopez_77@hotmail.com.ec",
        "w.quishpe+iess@mail.gob.ec",
        "gladys.t @ correo.ec",
        "juan.perez arroba gmail punto com",
    ],
)
def test_email_addresses_are_replaced_dots_and_all(written):
    redacted = redact(f"mi correo es {written}. Gracias")
    assert redacted == f"mi correo es {EMAIL}. Gracias"


@pytest.mark.parametrize(
    "written",
    [
        "IESS-Q-2026-000123",
        "iess-q-2026-000123",
        "IESS Q 2026 000123",
        "iess q 2026 123",
        "IESSQ2026000123",
        "Q-2026-123",
        "iess_d_2026_45",
        "IESS - D - 2026 - 000045",
    ],
)
def test_case_numbers_are_replaced_even_loosely_written(written):
    assert redact(f"mi caso {written} no avanza") == f"mi caso {CASE_NUMBER} no avanza"


@pytest.mark.parametrize(
    "written",
    [
        "7HK2-M9PQ-X4RT",
        "7hk2-m9pq-x4rt",
        "7hk2 m9pq x4rt",
        "7Hk2 - M9pQ - x4Rt",
        "7HK2M9PQX4RT",
        "7hk2.m9pq.x4rt",
        "abcd-efgh-jkmn",  # no digit, but grouped with dashes
        "OIL2-3456-7890",  # the look-alikes the bot accepts for 0, 1 and 1
    ],
)
def test_tracking_keys_are_replaced_in_any_case_and_grouping(written):
    assert redact(f"la clave es {written}, gracias") == f"la clave es {TRACKING_KEY}, gracias"


def test_three_short_spanish_words_are_no_key():
    assert redact("esto pasa cada vez que voy") == "esto pasa cada vez que voy"
    assert redact("me dieron cita para dentro de 5 meses") == (
        "me dieron cita para dentro de 5 meses"
    )


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("vivo en la calle Los Cedros 45 y me atendieron mal", ["me atendieron mal"]),
        ("Av. Amazonas N34-120 y Atahualpa, me cobraron la consulta", ["me cobraron"]),
        ("mi dirección es Av. 10 de Agosto N24-15 y Cordero. Me gritaron", ["Me gritaron"]),
        ("barrio La Floresta, el guardia pidió plata", ["el guardia pidió plata"]),
        ("ciudadela La Alborada mz 12 villa 4, no hay agua en el dispensario", ["no hay agua"]),
        ("cdla. Las Orquídeas, Mz. B, villa 9", []),
        ("la casa s/n frente al parque Central", ["la"]),
        ("vivo junto a la iglesia de San Roque", ["vivo"]),
        ("vivo entre Sucre y Bolívar, cerca del hospital", ["vivo", "cerca del hospital"]),
        ("entre las calles Rocafuerte y García Moreno", []),
        ("km 5 vía a Daule, urbanización Los Álamos", []),
    ],
)
def test_addresses_in_free_text_are_replaced_by_their_clause(said, kept):
    redacted = redact(said)
    assert ADDRESS in redacted, redacted
    for words in kept:
        assert words in redacted, redacted
    for secret in (
        "Cedros",
        "N34-120",
        "Atahualpa",
        "Cordero",
        "Floresta",
        "Alborada",
        "Orquídeas",
        "Roque",
        "Sucre",
        "Rocafuerte",
        "García Moreno",
        "Álamos",
    ):
        if secret in said:
            assert_gone(secret, redacted)


def test_together_with_a_person_is_no_address():
    assert redact("fui junto a mi esposa al hospital") == "fui junto a mi esposa al hospital"
    assert redact("entre semana no hay turnos") == "entre semana no hay turnos"
    assert redact("me dieron una manzana y agua") == "me dieron una manzana y agua"


def test_an_answer_to_the_address_question_is_replaced_whole():
    assert redact_message("Sector La Magdalena, pasaje 3, casa verde", "address") == ADDRESS


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "name", "kept"),
    [
        ("me atendió el doctor Juan Pérez y fue grosero", "Juan Pérez", "el doctor"),
        ("me atendió el doctor juan pérez y fue grosero", "juan pérez", "el doctor"),
        ("la licenciada maria gonzalez me gritó en ventanilla", "maria gonzalez", "me gritó"),
        ("La licenciada María González me gritó", "María González", "me gritó"),
        ("la lcda. gladys chimbo tapia vende las medicinas", "gladys chimbo tapia", "vende"),
        ("el Dr. Segundo Toapanta no vino", "Segundo Toapanta", "no vino"),
        ("el doctor quillupangui me gritó", "quillupangui", "me gritó"),
        ("la señora maribel andrango no me atendió", "maribel andrango", "no me atendió"),
        ("el guardia pedro me cobró para entrar", "pedro", "me cobró"),
        ("juan carlos pazmiño me pidió plata para el turno", "juan carlos pazmiño", "plata"),
        ("quiero denunciar a wilmer quishpe del dispensario", "wilmer quishpe", "dispensario"),
        ("me llamo ana lucía torres", "ana lucía torres", "me llamo"),
        ("Soy Gladys y necesito ayuda", "Gladys", "necesito ayuda"),
        ("la enfermera Rosa Mendoza no me quiso atender", "Rosa Mendoza", "la enfermera"),
        ("EL DOCTOR JUAN PEREZ ME GRITO", "JUAN PEREZ", "ME GRITO"),
        ("Me atendió Pedro en la ventanilla 3", "Pedro", "ventanilla 3"),
        ("el señor Wilmer Quishpe me hizo esperar", "Wilmer Quishpe", "el señor"),
    ],
)
def test_names_are_replaced_in_any_case_and_after_titles(said, name, kept):
    redacted = redact(said)
    assert NAME in redacted, redacted
    assert_gone(name, redacted)
    assert kept in redacted, redacted


def test_a_given_name_that_is_also_a_word_is_a_name_only_where_it_names():
    assert redact("mi mamá Dolores tiene dolores fuertes") == (
        f"mi mamá {NAME} tiene dolores fuertes"
    )
    assert redact("no hay luz y la rosa del jardín") == "no hay luz y la rosa del jardín"


@pytest.mark.parametrize(
    "said",
    [
        "no hay turnos en el hospital del IESS de Quito",
        "no hay luz en el baño del hospital Carlos Andrade Marín",
        "en el Hospital Teodoro Maldonado Carbo no hay camas",
        "en Pedro Carbo no hay médico en el dispensario",
        "soy jubilado de Loja y no me pagan la pensión",
        "la doctora encargada de farmacia no me dio la receta",
        "el doctor de turno no vino",
        "en el marco de la norma me descontaron los intereses de mora",
        "me cobraron 20 dólares el 15 de marzo de 2026",
        "llamo al 140 y no contestan",
        "el seguro campesino no atiende los sábados",
    ],
)
def test_places_and_ordinary_words_are_not_taken_for_names(said):
    assert redact(said) == said


# --- whole answers, slots, entities, leftovers --------------------------------------------


@pytest.mark.parametrize(
    ("slot", "placeholder"),
    [
        ("cedula", CEDULA),
        ("phone", PHONE),
        ("email", EMAIL),
        ("address", ADDRESS),
        ("lookup_case_number", CASE_NUMBER),
        ("lookup_key", TRACKING_KEY),
    ],
)
def test_an_answer_to_a_personal_question_is_replaced_whole(slot, placeholder):
    assert redact_message("ya le dije, es el mismo de antes: Wilmer", slot) == placeholder


def test_other_answers_keep_their_words():
    said = "Me cobraron la receta en la farmacia del hospital"
    assert redact_message(said, "description") == said
    assert redact_message(None, "cedula") is None  # erased by the tracker store


def test_slot_values_are_redacted_and_linking_values_never_leave():
    assert redact_slot("cedula", CEDULA_PICHINCHA) == CEDULA
    assert redact_slot("followup_case", "IESS-Q-2026-000123") == CASE_NUMBER
    assert redact_slot("description", "el doctor juan pérez me gritó") == (
        f"el doctor {NAME} me gritó"
    )
    assert redact_slot("province", "Pichincha") == "Pichincha"
    assert redact_slot("failed_attempts", {"cedula": 2}) == {"cedula": 2}
    assert not redaction.slot_is_exported("consent_at")
    assert not redaction.slot_is_exported("registration_id")


def test_entity_values_are_redacted():
    assert redact_entity({"entity": "cedula", "value": CEDULA_PICHINCHA, "start": 0}) == {
        "entity": "cedula",
        "value": CEDULA,
    }
    assert redact_entity({"entity": "phone", "value": "0998765432"})["value"] == PHONE
    assert redact_entity({"entity": "category", "value": "queja_turnos"})["value"] == (
        "queja_turnos"
    )
    assert (
        redact_entity({"entity": "evidence_file", "value": "cedula_juan_perez.pdf"})["value"]
        == redaction.FILE_NAME
    )
    assert redact_entity({"entity": "cedula"}) == {"entity": "cedula", "value": None}


def test_any_long_run_of_digits_left_is_hidden():
    assert redact("mi número de afiliación es 123456789") == (
        f"mi número de afiliación es {NUMBER}"
    )
    assert redact("afiliacion123456789") == f"afiliacion{NUMBER}"
    assert redact("me cobraron 20 dólares, turno 45") == "me cobraron 20 dólares, turno 45"


def test_placeholders_use_no_brackets_rasa_reads_as_entities():
    for placeholder in redaction.PLACEHOLDERS:
        assert not set(placeholder) & set("[]{}()"), placeholder


def test_a_message_full_of_data_keeps_only_its_meaning():
    said = (
        f"Buenas tardes, soy Gladys Chimbo, cédula {CEDULA_GUAYAS}, vivo en la cdla. Los "
        "Ceibos mz 3 villa 12. El doctor juan pazmiño me pidió 50 dólares para el turno, "
        "llámeme al 099 876 5432 o escriba a gladys.chimbo@correo.ec"
    )
    redacted = redact(said)
    for secret in (
        "Gladys Chimbo",
        CEDULA_GUAYAS,
        "Ceibos",
        "mz 3 villa 12",
        "juan pazmiño",
        "099 876 5432",
        "gladys.chimbo@correo.ec",
    ):
        assert_gone(secret, redacted)
    for kept in ("me pidió 50 dólares para el turno", "El doctor", "Buenas tardes"):
        assert kept in redacted, redacted


def test_a_key_grouped_unevenly_is_redacted_too():
    from buzon.training.redaction import redact

    assert "7hk2" not in redact("mi clave es 7hk2-m9pqx4rt gracias")
