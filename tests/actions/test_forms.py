"""The case form and the status form: every ``validate_<slot>`` and the custom questions.

Answers go through ``ValidateCaseForm().run`` / ``ValidateStatusForm().run`` the
way Rasa calls them. A refusal must say why (one ``utter_invalid_<reason>``,
with the values its text needs) and empty only the slot that was asked.
"""

import json
import re
from datetime import datetime, timedelta

import pytest

from actions.forms import (
    TYPED_SLOTS,
    AskCategory,
    AskConfirmation,
    AskConsent,
    AskDescription,
    ValidateCaseForm,
    ValidateStatusForm,
)
from actions.slots import CORRECTIONS
from buzon import consent
from buzon.cases import routing
from buzon.clock import utcnow
from tests.actions.helpers import (
    CASE,
    CEDULA,
    DOMAIN,
    ROOT,
    answer,
    check_utterable,
    make_tracker,
    passed_variables,
    run_action,
    slots,
)


def case_answer(slot, value, **options):
    """``value`` as the answer to the case form's question for ``slot``."""
    options.setdefault("given", CASE)
    return answer(ValidateCaseForm(), slot, value, **options)


def status_answer(slot, value, **options):
    return answer(ValidateStatusForm(), slot, value, **options)


def without(mapping, *keys):
    return {k: v for k, v in mapping.items() if k not in keys}


QUITO_IN_GUAYAS = {
    "canton_name": "Quito",
    "canton_province": "Pichincha",
    "province_name": "Guayas",
}
WRONG_CHECK_DIGIT = CEDULA[:-1] + str((int(CEDULA[-1]) + 1) % 10)

# slot, what the citizen typed, reason, values passed to the response, slots given
REFUSALS = [
    pytest.param("cedula", "   ", "cedula_empty", {}, {}, id="cedula_empty"),
    pytest.param("cedula", "17123456A5", "cedula_not_digits", {}, {}, id="cedula_not_digits"),
    pytest.param("cedula", "171234567", "cedula_length", {"length": 9}, {}, id="cedula_length"),
    pytest.param(
        "cedula", "2512345675", "cedula_province", {"province_code": "25"}, {}, id="cedula_province"
    ),
    pytest.param("cedula", "1762345675", "cedula_third_digit", {}, {}, id="cedula_third_digit"),
    pytest.param(
        "cedula", WRONG_CHECK_DIGIT, "cedula_check_digit", {}, {}, id="cedula_check_digit"
    ),
    pytest.param("phone", "  ", "phone_empty", {}, {}, id="phone_empty"),
    pytest.param("phone", "098 llamar tarde", "phone_not_digits", {}, {}, id="phone_not_digits"),
    pytest.param("phone", "394 5666", "phone_invalid", {}, {}, id="phone_invalid"),
    pytest.param("phone", "+57 300 1234567", "phone_foreign", {}, {}, id="phone_foreign"),
    pytest.param("email", " ", "email_empty", {}, {}, id="email_empty"),
    pytest.param("email", "maria.perez@example", "email_invalid", {}, {}, id="email_invalid"),
    pytest.param("email", "no tengo correo", "no_email", {}, {}, id="no_email"),
    pytest.param("province", "casa", "province_unknown", {}, {}, id="province_unknown"),
    pytest.param(
        "province",
        "Olmedo",
        "canton_ambiguous",
        {"options": "Loja, Manabí"},
        {},
        id="province_canton_ambiguous",
    ),
    pytest.param(
        "province",
        "Quito, Guayas",
        "canton_not_in_province",
        QUITO_IN_GUAYAS,
        {},
        id="province_canton_not_in_province",
    ),
    pytest.param(
        "canton",
        "xyzzy",
        "canton_unknown",
        {},
        {"province": "Azuay", "province_code": "01"},
        id="canton_unknown",
    ),
    pytest.param(
        "canton",
        "Quito",
        "canton_not_in_province",
        QUITO_IN_GUAYAS,
        {},
        id="canton_not_in_province",
    ),
    pytest.param("address", "  ", "address_empty", {}, {}, id="address_empty"),
    pytest.param(
        "address",
        "Calle " + "larga " * 40 + "12",
        "address_too_long",
        {"max_chars": 200},
        {},
        id="address_too_long",
    ),
    pytest.param(
        "address",
        "casa",
        "address_too_short",
        {"min_words": 2, "min_chars": 5},
        {},
        id="address_too_short",
    ),
    pytest.param("address", "N34-120 455", "address_no_street", {}, {}, id="address_no_street"),
    pytest.param("address", "calle principal", "address_no_number", {}, {}, id="address_no_number"),
    pytest.param("description", "  ", "description_empty", {}, {}, id="description_empty"),
    pytest.param(
        "description",
        "me trataron mal",
        "description_too_short",
        {"min_words": 4, "min_chars": 20},
        {},
        id="description_too_short",
    ),
    pytest.param(
        "description",
        "Esperé mucho tiempo. " * 250,
        "description_too_long",
        {"max_chars": 4000},
        {},
        id="description_too_long",
    ),
    pytest.param("consent", "quizás", "consent", {}, {}, id="consent"),
    pytest.param("category", "denuncia_coima", "category", {}, {}, id="category"),
    pytest.param("evidence", "tal vez", "evidence", {}, {}, id="evidence"),
    pytest.param("confirmation", "mmm", "confirmation", {}, {}, id="confirmation"),
]


@pytest.mark.parametrize("slot, typed, reason, details, given", REFUSALS)
def test_a_refused_answer_says_why_and_empties_only_its_slot(slot, typed, reason, details, given):
    outcome = case_answer(slot, typed, given={**CASE, **given})
    assert outcome.responses == [f"utter_invalid_{reason}"]
    assert passed_variables(outcome.messages[0]) == details
    assert outcome.changed() == {slot: None, "failed_attempts": {slot: 1}}


def test_wrong_check_digit_keeps_other_fields_and_asks_again():
    outcome = case_answer("cedula", WRONG_CHECK_DIGIT)
    assert outcome.responses == ["utter_invalid_cedula_check_digit"]
    assert outcome.slots["cedula"] is None
    assert without(outcome.slots, "cedula", "failed_attempts", "requested_slot") == without(
        slots(CASE), "cedula", "failed_attempts", "requested_slot"
    )


def test_cedula_length_tells_how_many_digits_were_typed():
    outcome = case_answer("cedula", "17123456789")
    assert outcome.sent("utter_invalid_cedula_length")["length"] == 11


def place(province, province_code, canton=None, canton_code=None):
    """The four slots an answer to the province question fills."""
    return {
        "province": province,
        "province_code": province_code,
        "canton": canton,
        "canton_code": canton_code,
    }


# slot, what the citizen typed, the slots it fills, slots given
ACCEPTED = [
    pytest.param("cedula", "171.234.567-5", {"cedula": CEDULA}, {}, id="cedula_separators"),
    pytest.param("cedula", " 17 1234 5675 ", {"cedula": CEDULA}, {}, id="cedula_spaces"),
    pytest.param("phone", "098 765 4321", {"phone": "+593987654321"}, {}, id="mobile"),
    pytest.param("phone", "+593 98 765 4321", {"phone": "+593987654321"}, {}, id="mobile_e164"),
    pytest.param("phone", "(02) 394-5666", {"phone": "+59323945666"}, {}, id="landline"),
    pytest.param(
        "email",
        "  Maria.Perez@EXAMPLE.com ",
        {"email": "Maria.Perez@example.com"},
        {},
        id="email_domain_lower_case",
    ),
    pytest.param("province", "pichincha", place("Pichincha", "17"), {}, id="province_name"),
    pytest.param("province", "manabi", place("Manabí", "13"), {}, id="province_without_accent"),
    pytest.param(
        "province", "los rios", place("Los Ríos", "12"), {}, id="province_two_words_without_accent"
    ),
    pytest.param(
        "province",
        "sto domingo",
        place("Santo Domingo de los Tsáchilas", "23"),
        {},
        id="province_abbreviated",
    ),
    pytest.param(
        "province",
        "Durán",
        place("Guayas", "09", "Durán", "0907"),
        {},
        id="canton_alone_fills_both",
    ),
    pytest.param(
        "province",
        "duran",
        place("Guayas", "09", "Durán", "0907"),
        {},
        id="canton_alone_without_accent",
    ),
    pytest.param(
        "province",
        "GUAYAQUIL",
        place("Guayas", "09", "Guayaquil", "0901"),
        {"province": None, "canton": None},
        id="canton_in_capitals",
    ),
    pytest.param(
        "canton",
        "GUAYAQUIL",
        {"canton": "Guayaquil", "canton_code": "0901"},
        {"canton": None, "canton_code": None},
        id="canton_capitals",
    ),
    pytest.param(
        "canton",
        "sto domingo",
        {"canton": "Santo Domingo", "canton_code": "2301"},
        {"province": "Santo Domingo de los Tsáchilas", "province_code": "23"},
        id="canton_abbreviated",
    ),
    pytest.param(
        "canton",
        "sangolqui",
        {"canton": "Rumiñahui", "canton_code": "1705"},
        {"province": "Pichincha", "province_code": "17"},
        id="canton_other_name",
    ),
    pytest.param(
        "canton",
        "cuenka",
        {"canton": "Cuenca", "canton_code": "0101"},
        {"province": "Azuay", "province_code": "01"},
        id="canton_misspelt",
    ),
    pytest.param(
        "address",
        "  Av.  Amazonas\nN34-120 y Atahualpa ",
        {"address": "Av. Amazonas N34-120 y Atahualpa"},
        {},
        id="address_cleaned",
    ),
    pytest.param(
        "address",
        "calle Sucre s/n",
        {"address": "calle Sucre s/n"},
        {},
        id="address_without_number",
    ),
    pytest.param(
        "description",
        "  Me negaron la cita\n\n médica dos veces en el dispensario. ",
        {"description": "Me negaron la cita médica dos veces en el dispensario."},
        {},
        id="description_cleaned",
    ),
]


@pytest.mark.parametrize("slot, typed, filled, given", ACCEPTED)
def test_a_valid_answer_is_normalised_into_its_slots(slot, typed, filled, given):
    earlier_failures = {slot: 2, "consent": 1}
    outcome = case_answer(slot, typed, given={**CASE, **given, "failed_attempts": earlier_failures})
    assert outcome.responses == []
    assert {k: outcome.slots[k] for k in filled} == filled
    assert set(outcome.changed()) <= {*filled, "failed_attempts"}
    assert outcome.slots["failed_attempts"] == {"consent": 1}  # only this field's count cleared


def test_a_canton_of_another_province_is_refused_and_the_province_kept():
    outcome = case_answer("canton", "Quito")  # CASE lives in Guayas
    message = outcome.sent("utter_invalid_canton_not_in_province")
    assert (message["canton_name"], message["canton_province"], message["province_name"]) == (
        "Quito",
        "Pichincha",
        "Guayas",
    )
    assert outcome.slots["canton"] is None
    assert (outcome.slots["province"], outcome.slots["province_code"]) == ("Guayas", "09")


def test_a_new_province_empties_the_canton_of_the_old_one():
    outcome = case_answer("province", "azuay")
    assert outcome.changed() == {
        "province": "Azuay",
        "province_code": "01",
        "canton": None,
        "canton_code": None,
    }


# --- failures ------------------------------------------------------------------


def test_the_third_failure_on_one_field_also_offers_to_continue_or_stop():
    state, said = dict(CASE), []
    for _ in range(3):
        outcome = case_answer("phone", "12345", given=state)
        said.append(outcome.responses)
        state = outcome.slots
    assert said == [
        ["utter_invalid_phone_invalid"],
        ["utter_invalid_phone_invalid"],
        ["utter_invalid_phone_invalid", "utter_offer_continue_or_stop"],
    ]
    assert state["failed_attempts"] == {"phone": 3}
    untouched = without(slots(CASE, requested_slot="phone"), "phone", "failed_attempts")
    assert without(state, "phone", "failed_attempts") == untouched


def test_failures_are_counted_per_field():
    outcome = case_answer("phone", "12345", given={**CASE, "failed_attempts": {"cedula": 2}})
    assert outcome.responses == ["utter_invalid_phone_invalid"]
    assert outcome.slots["failed_attempts"] == {"cedula": 2, "phone": 1}


@pytest.mark.parametrize("slot", sorted(TYPED_SLOTS - {"lookup_case_number", "lookup_key"}))
def test_affirm_while_a_typed_field_is_asked_just_asks_again(slot):
    outcome = case_answer(
        slot, "/affirm", intent="affirm", given={**CASE, "failed_attempts": {slot: 3, "consent": 1}}
    )
    assert outcome.responses == []
    assert outcome.changed() == {slot: None, "failed_attempts": {"consent": 1}}


@pytest.mark.parametrize("slot", ["consent", "evidence", "confirmation", "category"])
def test_button_answers_after_three_failures_offer_only_the_way_out(slot):
    """Their "yes" is a real answer, so no "Intentar otra vez" button that sends /affirm."""
    given = {**CASE, slot: None, "failed_attempts": {slot: 2}}
    outcome = case_answer(slot, "no se que poner", intent="out_of_scope", given=given)
    assert outcome.responses[-1] == "utter_offer_stop"
    assert "utter_offer_continue_or_stop" not in outcome.responses


# --- consent ---------------------------------------------------------------------


def test_consent_accepted_records_its_version_and_time():
    outcome = case_answer("consent", "/affirm", intent="affirm", given={})
    assert outcome.responses == []
    assert outcome.slots["consent"] is True
    assert outcome.slots["consent_version"] == consent.current().version
    given_at = datetime.fromisoformat(outcome.slots["consent_at"])
    assert abs(given_at - utcnow()) < timedelta(minutes=1)


def test_consent_refused_ends_the_form():
    outcome = case_answer("consent", "/deny", intent="deny", given={})
    assert outcome.responses == []
    assert outcome.slots["consent"] is False
    assert outcome.slots["requested_slot"] is None
    assert outcome.slots["consent_version"] is None and outcome.slots["consent_at"] is None


def test_anything_else_than_yes_or_no_asks_for_consent_again():
    outcome = case_answer(
        "consent", "¿para qué quieren mis datos?", intent="out_of_scope", given={}
    )
    assert outcome.responses == ["utter_invalid_consent"]
    assert outcome.slots["consent"] is None


# --- description ------------------------------------------------------------------

STORY = "En el hospital del IESS de Ambato me negaron la cita con el cardiólogo."


def test_no_es_todo_keeps_the_first_message_as_the_description():
    outcome = case_answer(
        "description",
        "No, es todo",
        intent="deny",
        given={**CASE, "description": None, "description_start": STORY},
    )
    assert outcome.responses == []
    assert outcome.slots["description"] == STORY
    assert outcome.slots["description_start"] is None


def test_more_text_is_added_to_the_first_message():
    outcome = case_answer(
        "description",
        "Fue el lunes 16 de noviembre.",
        given={**CASE, "description": None, "description_start": STORY},
    )
    assert outcome.slots["description"] == f"{STORY} Fue el lunes 16 de noviembre."
    assert outcome.slots["description_start"] is None


def test_a_too_short_description_is_refused_and_kept_to_add_to():
    first = case_answer(
        "description",
        "ayer",
        given={**CASE, "description": None, "description_start": "me gritaron"},
    )
    assert first.responses == ["utter_invalid_description_too_short"]
    assert first.slots["description"] is None
    assert first.slots["description_start"] == "me gritaron ayer"
    second = case_answer("description", "en el dispensario de Chone", given=first.slots)
    assert second.responses == []
    assert second.slots["description"] == "me gritaron ayer en el dispensario de Chone"


def test_after_a_too_long_addition_the_citizen_can_still_finish_the_description():
    story = " ".join(["Esperé ocho horas en emergencias sin que nadie me atendiera."] * 45)
    too_much = case_answer(
        "description",
        "Además el guardia me gritó. " * 50,
        given={**CASE, "description": None, "description_start": story},
    )
    assert too_much.responses == ["utter_invalid_description_too_long"]
    assert too_much.slots["description_start"] is None  # asked afresh for a summary
    done = case_answer(
        "description",
        "Esperé ocho horas en emergencias y el guardia me gritó.",
        given=too_much.slots,
    )
    assert done.responses == []
    assert done.slots["description"].startswith("Esperé ocho horas")


# --- category ---------------------------------------------------------------------

NO_CATEGORY = {**CASE, "category": None, "category_label": None}


def test_category_from_a_button_payload():
    outcome = case_answer(
        "category",
        '/inform{"category":"queja_maltrato"}',
        given=NO_CATEGORY,
        entities=[{"entity": "category", "value": "queja_maltrato"}],
    )
    assert outcome.responses == []
    assert (outcome.slots["category"], outcome.slots["category_label"]) == (
        "queja_maltrato",
        "maltrato del personal",
    )


def test_category_typed_in_words_is_taken_from_its_intent():
    outcome = case_answer(
        "category",
        "me hicieron esperar seis horas",
        intent="queja_tiempo_espera",
        given=NO_CATEGORY,
    )
    assert (outcome.slots["category"], outcome.slots["category_label"]) == (
        "queja_tiempo_espera",
        "tiempos de espera prolongados",
    )


def test_category_prefilled_by_the_classification_is_kept():
    outcome = case_answer(
        "category",
        "denuncia_coima",
        intent="affirm",
        given={**CASE, "case_kind": "denuncia", "category_label": None},
    )
    assert outcome.responses == []
    assert (outcome.slots["category"], outcome.slots["category_label"]) == (
        "denuncia_coima",
        "pedido de dinero (coima)",
    )


@pytest.mark.parametrize(
    "typed, intent, entities",
    [
        pytest.param(
            '/inform{"category":"denuncia_coima"}',
            "inform",
            [{"entity": "category", "value": "denuncia_coima"}],
            id="button",
        ),
        pytest.param("me pidieron plata por el turno", "denuncia_coima", [], id="typed"),
        pytest.param("denuncia_cobro_indebido", "inform", [], id="prefilled"),
    ],
)
def test_a_category_of_the_other_kind_is_refused(typed, intent, entities):
    outcome = case_answer("category", typed, intent=intent, entities=entities, given=NO_CATEGORY)
    assert outcome.responses == ["utter_invalid_category"]
    assert outcome.slots["category"] is None and outcome.slots["case_kind"] == "queja"


# --- evidence ---------------------------------------------------------------------


def test_no_evidence():
    outcome = case_answer("evidence", "/deny", intent="deny", given={**CASE, "evidence": None})
    assert outcome.responses == []
    assert outcome.slots["evidence"] == "0"


def test_yes_to_evidence_waits_for_the_files():
    outcome = case_answer("evidence", "/affirm", intent="affirm", given={**CASE, "evidence": None})
    assert outcome.responses == []
    assert outcome.slots["evidence"] is None and outcome.slots["awaiting_evidence"] is True


AWAITING = {**CASE, "evidence": None, "awaiting_evidence": True, "registration_id": "reg-1"}


def test_a_stored_file_is_acknowledged_by_name_and_more_can_follow():
    outcome = case_answer(
        "evidence",
        '/inform{"evidence_file":"receta.pdf"}',
        given=AWAITING,
        entities=[{"entity": "evidence_file", "value": "receta.pdf"}],
    )
    assert outcome.responses == ["utter_evidence_received"]
    assert outcome.messages[0]["file_name"] == "receta.pdf"
    assert outcome.slots["evidence"] is None and outcome.slots["awaiting_evidence"] is True


@pytest.mark.parametrize("kind, limit", [("queja", 1), ("denuncia", 20)])
def test_a_refused_file_says_why_with_the_limit_of_the_case_kind(kind, limit):
    outcome = case_answer(
        "evidence",
        '/inform{"evidence_error":"evidence_too_large"}',
        given={**AWAITING, "case_kind": kind},
        entities=[{"entity": "evidence_error", "value": "evidence_too_large"}],
    )
    assert outcome.responses == ["utter_invalid_evidence_too_large"]
    assert outcome.messages[0]["limit_mb"] == limit
    assert outcome.slots["awaiting_evidence"] is True


def test_done_after_uploading_counts_the_files(live_services):
    from tests import synthetic_files

    live_services.evidence().add(
        "evidence-sender", "reg-1", "queja", "foto.png", synthetic_files.png()
    )
    outcome = case_answer(
        "evidence", "/affirm", intent="affirm", given=AWAITING, sender_id="evidence-sender"
    )
    assert outcome.slots["evidence"] == "1" and outcome.slots["awaiting_evidence"] is None


def test_done_without_any_file_means_no_evidence(live_services):
    outcome = case_answer(
        "evidence", "/affirm", intent="affirm", given=AWAITING, sender_id="nobody-sent"
    )
    assert outcome.slots["evidence"] == "0"


# --- confirmation -----------------------------------------------------------------


def test_confirming_the_summary():
    outcome = case_answer("confirmation", "/affirm", intent="affirm")
    assert outcome.responses == []
    assert outcome.changed() == {"confirmation": "yes"}


@pytest.mark.parametrize("correction", sorted(CORRECTIONS))
def test_a_correction_empties_exactly_its_slots(correction):
    state = {**CASE, "description_start": "Me negaron el turno.", "awaiting_evidence": True}
    outcome = case_answer(
        "confirmation",
        f'/inform{{"correction":"{correction}"}}',
        given=state,
        entities=[{"entity": "correction", "value": correction}],
    )
    assert outcome.responses == []
    assert outcome.changed() == dict.fromkeys(["confirmation", *CORRECTIONS[correction]])


def test_correcting_the_province_also_empties_the_canton():
    outcome = case_answer(
        "confirmation", "/inform", entities=[{"entity": "correction", "value": "province"}]
    )
    assert [outcome.slots[s] for s in ("province", "province_code", "canton", "canton_code")] == [
        None
    ] * 4


def test_no_at_the_summary_asks_what_to_correct():
    outcome = case_answer("confirmation", "/deny", intent="deny")
    assert outcome.responses == ["utter_choose_correction"]
    assert outcome.changed() == {"confirmation": None}


# --- status form ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, number",
    [
        (" iess-q-2026-45 ", "IESS-Q-2026-000045"),
        ("IESS_D_2026_000123", "IESS-D-2026-000123"),
        ("IESS-Q-2026-000007", "IESS-Q-2026-000007"),
    ],
)
def test_case_number_is_normalised(typed, number):
    outcome = status_answer("lookup_case_number", typed)
    assert outcome.responses == []
    assert outcome.slots["lookup_case_number"] == number


@pytest.mark.parametrize("typed", ["123", "IESS-X-2026-000001", "mi caso de ayer"])
def test_case_number_refused(typed):
    outcome = status_answer("lookup_case_number", typed, given={"lookup_key": "ABCD-2345-EFGH"})
    assert outcome.responses == ["utter_invalid_case_number"]
    assert outcome.changed() == {
        "lookup_case_number": None,
        "failed_attempts": {"lookup_case_number": 1},
    }


@pytest.mark.parametrize(
    "typed, key",
    [
        ("abcd 2345 efgh", "ABCD-2345-EFGH"),
        ("ABCD.2345.EFGO", "ABCD-2345-EFG0"),
        ("abcd2345efgh", "ABCD-2345-EFGH"),
    ],
)
def test_tracking_key_is_normalised(typed, key):
    number = "IESS-Q-2026-000045"
    outcome = status_answer("lookup_key", typed, given={"lookup_case_number": number})
    assert outcome.responses == []
    assert outcome.changed() == {"lookup_key": key}


@pytest.mark.parametrize("typed", ["ABCD-2345-EFGU", "abc", "ABCD-2345-EFGH-1"])
def test_tracking_key_refused(typed):
    outcome = status_answer("lookup_key", typed, given={"lookup_case_number": "IESS-Q-2026-000045"})
    assert outcome.responses == ["utter_invalid_tracking_key"]
    assert outcome.changed() == {"lookup_key": None, "failed_attempts": {"lookup_key": 1}}


def test_the_status_form_counts_failures_and_offers_a_way_out_like_the_case_form():
    outcome = status_answer(
        "lookup_key",
        "abc",
        given={"lookup_case_number": "IESS-Q-2026-000045", "failed_attempts": {"lookup_key": 2}},
    )
    assert outcome.responses == ["utter_invalid_tracking_key", "utter_offer_continue_or_stop"]
    again = status_answer(
        "lookup_key",
        "/affirm",
        intent="affirm",
        given={"lookup_case_number": "IESS-Q-2026-000045", "failed_attempts": {"lookup_key": 3}},
    )
    assert again.changed() == {"lookup_key": None, "failed_attempts": {}}


# --- custom questions -------------------------------------------------------------


def ask(action, **given):
    return run_action(action, make_tracker(slots(given), form="case_form"))


def test_consent_question_shows_the_current_consent_text():
    outcome = ask(AskConsent())
    assert outcome.sent("utter_ask_consent")["consent_text"] == consent.current().text
    assert outcome.events == []


def test_description_question_depends_on_what_was_already_told():
    assert ask(AskDescription()).responses == ["utter_ask_description"]
    more = ask(AskDescription(), description_start=STORY)
    assert more.responses == ["utter_ask_description_more"]


@pytest.mark.parametrize("kind", ["queja", "denuncia"])
def test_category_question_offers_the_categories_of_the_kind(kind):
    buttons = ask(AskCategory(), case_kind=kind).sent("utter_ask_category")["buttons"]
    *own, other = buttons
    payloads = [json.loads(b["payload"][len("/inform") :]) for b in own]
    assert payloads == [{"category": c} for c in routing.categories(kind)]
    assert [b["title"] for b in own] == [
        routing.label_of(c).capitalize() for c in routing.categories(kind)
    ]
    # the other kind's categories, one tap away (StartCase switches the kind)
    assert other["payload"] == {"queja": "/register_denuncia", "denuncia": "/register_queja"}[kind]


def test_confirmation_question_fills_the_whole_summary():
    message = ask(AskConfirmation(), **CASE).sent("utter_ask_confirmation")
    assert passed_variables(message) == {
        "kind_label": "queja",
        "category_label": "problemas con turnos o citas",
        "canton_name": "Guayaquil",
        "province_name": "Guayas",
        "evidence_label": "ninguna",  # no files: the words of buzon/data/messages.yml
    }


# --- the domain has what the forms say ---------------------------------------------


def reasons_in_sources():
    """Every reason a validator can give, grepped from the sources."""
    found = set()
    sources = [
        *sorted((ROOT / "buzon" / "validation").glob("*.py")),
        ROOT / "buzon" / "territory.py",
        ROOT / "buzon" / "cases" / "numbering.py",
    ]
    for path in sources:
        code = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"Invalid\(\s*['\"]([a-z_]+)['\"]", code))
        found |= set(re.findall(r"_check\(\s*\w+,\s*['\"]([a-z_]+)['\"]", code))
    forms = (ROOT / "actions" / "forms.py").read_text(encoding="utf-8")
    found |= set(re.findall(r"refuse\(\s*\"\w+\",\s*\"(\w+)\"", forms))
    return found


def test_the_template_check_notices_a_missing_variable():
    """Every action run checks its messages; make sure that check can fail."""
    with pytest.raises(AssertionError, match="length"):
        check_utterable({"response": "utter_invalid_cedula_length"}, slots())
    with pytest.raises(AssertionError, match="not in domain"):
        check_utterable({"response": "utter_invalid_nonsense"}, slots())


def test_the_grep_finds_the_reasons():
    found = reasons_in_sources()
    assert {
        "cedula_check_digit",
        "address_too_short",
        "canton_ambiguous",
        "consent",
        "confirmation",
    } <= found


def test_every_reason_a_validator_can_give_has_a_response():
    missing = {r for r in reasons_in_sources() if f"utter_invalid_{r}" not in DOMAIN["responses"]}
    assert not missing


def test_every_reason_is_exercised_by_the_refusal_table():
    """So the template-variable check of the refusal test covers every reason."""
    exercised = {p.values[2] for p in REFUSALS}
    exercised |= {"case_number", "tracking_key"}  # the status form's, tested below
    exercised |= {"no_email_whatsapp"}  # on WhatsApp only, tested below
    assert reasons_in_sources() <= exercised


def test_every_response_the_actions_name_exists():
    code = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "actions").glob("*.py"))
    named = set(re.findall(r'"(utter_\w+)"', code))
    named |= {f"utter_start_{k}" for k in ("queja", "denuncia")}
    named |= {f"utter_case_registered_{k}_note" for k in ("queja", "denuncia")}
    assert {"utter_nothing_to_cancel", "utter_offer_stop"} <= named
    assert named - set(DOMAIN["responses"]) == set()


@pytest.mark.parametrize("form", ["case_form", "status_form"])
def test_every_form_question_can_be_asked_and_explained(form):
    responses, actions = DOMAIN["responses"], DOMAIN["actions"]
    for slot in DOMAIN["forms"][form]["required_slots"]:
        assert f"utter_ask_{slot}" in responses or f"action_ask_{slot}" in actions, slot
        assert f"utter_help_{slot}" in DOMAIN["responses"]


def test_a_file_sent_while_another_question_is_open_is_not_taken_as_the_answer():
    outcome = case_answer(
        "phone",
        '/inform{"evidence_file":"foto.png"}',
        given={**CASE, "phone": None},
        entities=[{"entity": "evidence_file", "value": "foto.png"}],
    )
    assert outcome.responses == ["utter_invalid_evidence_not_now"]
    assert outcome.slots["phone"] is None and outcome.slots["cedula"] == CASE["cedula"]


def test_an_answer_the_nlu_reads_as_yes_is_still_validated_when_no_retry_was_offered():
    outcome = case_answer(
        "email",
        "afiliado.whatsapp@example.com",
        intent="affirm",
        given={**CASE, "email": None, "failed_attempts": {}},
    )
    assert outcome.slots["email"] == "afiliado.whatsapp@example.com"


# --- values inside sentences, several values in one message (issue 13) ------------------

EMPTY_PERSONAL = dict.fromkeys(("cedula", "phone", "email", "province", "canton"))


@pytest.mark.parametrize(
    "slot,typed,stored",
    [
        ("cedula", f"mi cédula es {CEDULA}", CEDULA),
        ("cedula", f"C.I. {CEDULA[:9]}-{CEDULA[9]}", CEDULA),
        ("phone", "es el 099 123 4567", "+593991234567"),
        ("phone", "mi celular: 0991234567 (whatsapp)", "+593991234567"),
        ("email", "correo: Ana.Perez@Example.com", "Ana.Perez@example.com"),
        ("email", "el correo de mi hija es maria_23@hotmail.com", "maria_23@hotmail.com"),
    ],
)
def test_a_value_inside_a_sentence_is_taken_and_validated(slot, typed, stored):
    given = {**CASE, **EMPTY_PERSONAL}
    outcome = case_answer(slot, typed, given=given)
    assert outcome.slots[slot] == stored
    assert not outcome.responses


def test_a_wrong_value_inside_a_sentence_is_still_refused_with_its_reason():
    given = {**CASE, **EMPTY_PERSONAL}
    outcome = case_answer("cedula", f"mi cédula es {WRONG_CHECK_DIGIT}", given=given)
    assert outcome.responses == ["utter_invalid_cedula_check_digit"]
    assert outcome.slots["cedula"] is None


def test_several_values_in_one_answer_fill_every_field_they_can():
    given = {**CASE, **EMPTY_PERSONAL}
    typed = f"soy de Loja, cédula {CEDULA}, celular 0991234567"
    entities = [{"entity": "province", "value": "Loja", "start": 7, "end": 11}]
    outcome = case_answer("cedula", typed, given=given, entities=entities)
    assert outcome.slots["cedula"] == CEDULA
    assert outcome.slots["phone"] == "+593991234567"
    assert outcome.slots["province"] == "Loja"
    assert outcome.slots["email"] is None  # still to be asked
    assert not outcome.responses


def test_other_values_never_overwrite_what_was_given_nor_come_from_the_story():
    given = {**CASE, "phone": "+593987654321"}
    typed = f"cédula {CEDULA}, celular 0991234567"
    outcome = case_answer("cedula", typed, given=given)
    assert outcome.slots["phone"] == "+593987654321"
    story = f"el guardia de Loja con cédula {CEDULA} me pidió plata"
    outcome = case_answer(
        "description",
        story,
        given={**CASE, **EMPTY_PERSONAL, "description": None},
        entities=[{"entity": "province", "value": "Loja", "start": 12, "end": 16}],
        intent="denuncia_coima",
    )
    assert outcome.slots["cedula"] is None and outcome.slots["province"] is None


def test_a_place_inside_an_email_address_is_no_place():
    given = {**CASE, **EMPTY_PERSONAL, "cedula": CEDULA, "phone": "+593991234567"}
    typed = "soy de loja.ana@example.com"
    entities = [{"entity": "province", "value": "Loja", "start": 7, "end": 11}]
    outcome = case_answer("email", typed, given=given, entities=entities)
    assert outcome.slots["email"] == "loja.ana@example.com"
    assert outcome.slots["province"] is None


@pytest.mark.parametrize(
    "typed",
    [
        "IESS-Q-2026-000123 AB3D-EFGH-JK7N",
        "iess-q-2026-123 clave: ab3d efgh jk7n",
        "mi caso es el IESS Q 2026 123 y la clave ab3defghjk7n",
    ],
)
def test_a_case_number_and_its_key_in_one_message_are_both_taken(typed):
    outcome = status_answer("lookup_case_number", typed, given={"lookup_key": None})
    assert outcome.slots["lookup_case_number"] == "IESS-Q-2026-000123"
    assert outcome.slots["lookup_key"] == "AB3D-EFGH-JK7N"
    assert not outcome.responses


def test_a_key_in_lower_case_inside_a_sentence_is_taken():
    number = {"lookup_case_number": "IESS-Q-2026-000123"}
    outcome = status_answer("lookup_key", "la clave es k7m2-p9qr-x4tz", given=number)
    assert outcome.slots["lookup_key"] == "K7M2-P9QR-X4TZ"


@pytest.mark.parametrize("typed,intent", [("no tengo correo", "deny"), ("no uso email", "inform")])
def test_no_email_gets_why_and_what_else_not_not_valid(typed, intent):
    given = {**CASE, "email": None, "failed_attempts": {}}
    outcome = case_answer("email", typed, given=given, intent=intent)
    assert outcome.responses == ["utter_invalid_no_email"]
    assert outcome.slots["email"] is None
    assert outcome.slots["failed_attempts"] == {"email": 1}  # the way out comes after three


def test_a_reference_instead_of_a_house_number_is_an_address():
    outcome = case_answer("address", "no sé el número, junto al mercado mayorista")
    assert outcome.slots["address"] == "no sé el número, junto al mercado mayorista"
    assert not outcome.responses


def test_data_told_as_ones_own_in_the_story_are_taken_once_consent_is_given():
    story = f"soy Pedro, mi cédula es {CEDULA}, mi cel 0981234567, a mi mamá la dejaron ahí"
    given = {"case_kind": "queja", "description_start": story, **EMPTY_PERSONAL, "consent": None}
    outcome = case_answer("consent", "/affirm", given=given, intent="affirm")
    assert outcome.slots["consent"] is True
    assert outcome.slots["cedula"] == CEDULA and outcome.slots["phone"] == "+593981234567"
    refused = case_answer("consent", "/deny", given=given, intent="deny")
    assert refused.slots["cedula"] is None  # no consent, nothing taken


def test_other_peoples_data_in_a_denuncia_are_never_taken_as_the_citizens():
    story = (
        f"el funcionario, cédula {CEDULA}, me escribió desde jperez@iess.gob.ec y me "
        "llamó del 0998765432 para pedirme plata; mi correo es jperez2@iess.gob.ec"
    )
    given = {"case_kind": "denuncia", "description_start": story, **EMPTY_PERSONAL}
    outcome = case_answer("consent", "/affirm", given={**given, "consent": None}, intent="affirm")
    assert outcome.slots["consent"] is True
    taken = (outcome.slots["cedula"], outcome.slots["phone"], outcome.slots["email"])
    assert taken == (None, None, None)


def test_a_refused_cedula_is_no_phone():
    outcome = case_answer("cedula", "mi cédula es 0939123452", given={**CASE, **EMPTY_PERSONAL})
    assert outcome.slots["cedula"] is None and outcome.slots["phone"] is None


def test_an_unlabelled_extra_number_or_a_word_that_is_a_canton_is_not_taken():
    given = {**CASE, **EMPTY_PERSONAL}
    typed = f"{CEDULA}, mira, el doctor me llamó del 0991234567"
    entities = [{"entity": "canton", "value": "Mira", "start": 12, "end": 16}]
    outcome = case_answer("cedula", typed, given=given, entities=entities)
    assert outcome.slots["cedula"] == CEDULA
    assert outcome.slots["phone"] is None and outcome.slots["province"] is None


def test_on_whatsapp_the_number_they_write_from_is_one_tap_away():
    from actions.forms import AskPhone

    on_whatsapp = dict(input_channel="whatsapp", metadata={"wa_id": "593981234567"})
    tracker = make_tracker({"requested_slot": "phone"}, text="0999", intent="inform", **on_whatsapp)
    offer = run_action(AskPhone(), tracker).sent("utter_ask_phone")
    assert offer["buttons"][0]["payload"] == '/inform{"phone_source":"whatsapp"}'
    tapped = case_answer(
        "phone",
        '/inform{"phone_source":"whatsapp"}',
        given={**CASE, "phone": None},
        entities=[{"entity": "phone_source", "value": "whatsapp"}],
        **on_whatsapp,
    )
    assert tapped.slots["phone"] == "+593981234567"  # validated and kept like a typed one
    on_the_web = make_tracker({"requested_slot": "phone"}, text="x", intent="inform")
    assert not run_action(AskPhone(), on_the_web).sent("utter_ask_phone")["buttons"]


def test_a_forged_whatsapp_choice_outside_whatsapp_is_refused():
    forged = case_answer(
        "phone",
        '/inform{"phone_source":"whatsapp"}',
        given={**CASE, "phone": None},
        entities=[{"entity": "phone_source", "value": "whatsapp"}],
    )
    assert forged.slots["phone"] is None and forged.responses == ["utter_invalid_phone_invalid"]


def test_no_to_are_you_sure_goes_on_and_is_no_answer_to_the_question():
    given = {**CASE, "cedula": None, "cancel_pending": True}
    outcome = case_answer("cedula", "no", given=given, intent="deny")
    assert outcome.responses == []  # the form asks for the cédula again
    assert outcome.slots["cancel_pending"] is None and outcome.slots["cedula"] is None


def test_an_answer_instead_of_yes_or_no_to_are_you_sure_is_taken():
    given = {**CASE, "cedula": None, "cancel_pending": True}
    outcome = case_answer("cedula", CEDULA, given=given)
    assert outcome.slots["cancel_pending"] is None and outcome.slots["cedula"] == CEDULA


@pytest.mark.parametrize(
    "typed,label,expected",
    [
        ("no, el cantón es Durán", "cantón", {"canton": "Durán", "province": "Guayas"}),
        ("el celular es 0991234567", "celular", {"phone": "+593991234567"}),
        ("la dirección es Av. Amazonas N34-120", "dirección", {"address": "Av. Amazonas N34-120"}),
    ],
)
def test_a_correction_that_names_its_value_takes_it(typed, label, expected):
    start, end = typed.index(label), typed.index(label) + len(label)
    field = {"cantón": "canton", "celular": "phone", "dirección": "address"}[label]  # synonyms
    correction = {"entity": "correction", "value": field, "start": start, "end": end}
    given = {**CASE, "province": "Pichincha", "province_code": "17"}
    outcome = case_answer("confirmation", typed, given=given, entities=[correction])
    for slot, value in expected.items():
        assert outcome.slots[slot] == value, slot
    assert outcome.slots["confirmation"] is None  # the summary again, to confirm


# --- no e-mail: on WhatsApp the citizen may go on without one -------------------------

ON_WHATSAPP = dict(input_channel="whatsapp", metadata={"wa_id": "593981234567"})
WITHOUT_EMAIL = '/inform{"contact_preference":"whatsapp"}'


@pytest.mark.parametrize("typed", ["sin correo", "seguir sin correo", "no uso eso"])
def test_any_wording_of_no_email_gets_the_offer_whatever_the_nlu_read(typed):
    told = case_answer(
        "email", typed, given={**CASE, "email": None}, intent="inform", **ON_WHATSAPP
    )
    assert told.responses == ["utter_invalid_no_email_whatsapp"]


def test_no_email_on_whatsapp_offers_to_go_on_without_one():
    from actions.slots import EMAIL_BY_WHATSAPP

    told = case_answer(
        "email", "no tengo correo", given={**CASE, "email": None}, intent="deny", **ON_WHATSAPP
    )
    assert told.responses == ["utter_invalid_no_email_whatsapp"]
    assert told.slots["email"] is None and told.slots["failed_attempts"] == {"email": 1}
    button = DOMAIN["responses"]["utter_invalid_no_email_whatsapp"][0]["buttons"][0]
    assert button["payload"].replace("{{", "{").replace("}}", "}") == WITHOUT_EMAIL
    tapped = case_answer(
        "email",
        WITHOUT_EMAIL,
        given={**CASE, "email": None, "failed_attempts": {"email": 1}},
        entities=[{"entity": "contact_preference", "value": "whatsapp"}],
        **ON_WHATSAPP,
    )
    assert tapped.responses == []
    assert tapped.slots["email"] == EMAIL_BY_WHATSAPP
    assert tapped.slots["failed_attempts"] == {}  # the question is answered


def test_no_email_on_the_web_asks_for_a_relatives_and_cannot_go_on_without():
    told = case_answer("email", "no tengo correo", given={**CASE, "email": None}, intent="deny")
    assert told.responses == ["utter_invalid_no_email"]
    forged = case_answer(
        "email",
        WITHOUT_EMAIL,
        given={**CASE, "email": None},
        entities=[{"entity": "contact_preference", "value": "whatsapp"}],
    )
    assert forged.slots["email"] is None and forged.responses == ["utter_invalid_no_email"]


def test_the_summary_says_the_citizen_will_be_told_by_whatsapp():
    from actions.slots import EMAIL_BY_WHATSAPP
    from buzon import messages

    summary = ask(AskConfirmation(), **{**CASE, "email": EMAIL_BY_WHATSAPP})
    shown = summary.sent("utter_ask_confirmation")
    assert shown["email"] == messages.text("email_by_whatsapp")
    assert "@" not in shown["email"]
