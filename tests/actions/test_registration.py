"""Starting, classifying, finishing, cancelling and explaining a case registration."""

import time
from datetime import datetime

import pytest

from actions.registration import (
    Cancel,
    ClassifyReport,
    DataOutsideForm,
    ExplainStep,
    FinishCase,
    HandleUnclear,
    RejectClassification,
    StartCase,
)
from actions.slots import CANCEL_PENDING, CASE_SLOTS, FOLLOWUP_IN_PROGRESS, FORGET, LOOKUP_SLOTS
from buzon import outbox
from buzon.cases import routing
from buzon.cases.store import CaseStore
from tests.actions.helpers import CASE, CEDULA, DOMAIN, make_tracker, run_action, slots

ENCRYPTED = ("cedula", "phone", "email", "address", "description")
STORY = "En el dispensario de Quevedo llevo dos meses esperando un turno para el pediatra."


def act(action, given=None, **tracker_options):
    return run_action(action, make_tracker(slots(given), **tracker_options))


# --- action_start_case -------------------------------------------------------------


def test_menu_choice_sets_the_kind_and_empties_stale_personal_data():
    stale = {**CASE, "confirmation": "yes", "failed_attempts": {"cedula": 2}}
    outcome = act(StartCase(), stale, intent="register_denuncia", text="/register_denuncia")
    assert outcome.responses == ["utter_start_denuncia"]
    assert outcome.slots["case_kind"] == "denuncia"
    kept = {"case_kind", "category", "category_label", "description_start", "registration_id"}
    assert {s: outcome.slots[s] for s in CASE_SLOTS if s not in kept} == dict.fromkeys(
        s for s in CASE_SLOTS if s not in kept
    )
    assert len(outcome.slots["registration_id"]) == 32  # a new registration, a new id


def test_a_new_registration_discards_the_files_of_an_unfinished_one(live_services):
    from tests import synthetic_files

    files = live_services.evidence()
    files.add("restarting", "old-reg", "queja", "foto.png", synthetic_files.png())
    outcome = act(
        StartCase(),
        {"registration_id": "old-reg"},
        intent="register_queja",
        text="/register_queja",
        sender_id="restarting",
    )
    assert outcome.slots["registration_id"] != "old-reg"
    assert files.pending("restarting", "old-reg") == []


def test_cancel_and_refused_consent_delete_the_files_sent(live_services):
    from tests import synthetic_files

    files = live_services.evidence()
    for sender in ("cancels", "refuses"):
        files.add(sender, "reg", "denuncia", "foto.png", synthetic_files.png())
    act(
        Cancel(),
        {"registration_id": "reg", "case_kind": "denuncia"},
        intent="cancel",
        text="cancelar",
        sender_id="cancels",
    )
    finish(
        {"case_kind": "denuncia", "consent": False, "registration_id": "reg"},
        intent="deny",
        sender_id="refuses",
    )
    assert files.pending("cancels", "reg") == [] and files.pending("refuses", "reg") == []


def test_a_field_the_domain_refuses_at_registration_is_asked_again(live_services):
    forged = {**confirmed(), "cedula": "' OR 1=1 --", "province_code": "99"}
    outcome = finish(forged)
    assert outcome.responses == ["utter_case_field_refused", "utter_invalid_cedula_not_digits"]
    assert outcome.changes["cedula"] is None and outcome.changes["confirmation"] is None
    assert live_services.store().numbers_for_cedula("' OR 1=1 --") == []


def test_a_forged_consent_is_asked_again(live_services):
    outcome = finish({**confirmed(), "consent_version": "1999-v0"})
    assert outcome.responses == ["utter_case_field_refused", "utter_invalid_consent"]
    assert outcome.changes["consent"] is None
    outcome = finish({**confirmed(), "consent_at": None})
    assert outcome.changes["consent"] is None


def test_start_keeps_a_category_of_the_same_kind_and_the_story_told():
    told = {
        "case_kind": "queja",
        "category": "queja_turnos",
        "category_label": "problemas con turnos o citas",
        "description_start": STORY,
    }
    outcome = act(StartCase(), told, intent="register_queja", text="/register_queja")
    assert outcome.responses == ["utter_start_queja"]
    assert {s: outcome.slots[s] for s in told} == told


def test_start_drops_a_category_of_the_other_kind():
    told = {
        "case_kind": "denuncia",
        "category": "denuncia_coima",
        "category_label": "pedido de dinero (coima)",
        "description_start": STORY,
    }
    outcome = act(StartCase(), told, intent="register_queja", text="/register_queja")
    assert outcome.slots["case_kind"] == "queja"
    assert outcome.slots["category"] is None and outcome.slots["category_label"] is None
    assert outcome.slots["description_start"] == STORY


def test_accepting_the_classification_starts_a_case_of_its_kind():
    told = {
        "case_kind": "denuncia",
        "category": "denuncia_coima",
        "category_label": "pedido de dinero (coima)",
        "description_start": STORY,
    }
    outcome = act(StartCase(), told, intent="affirm", text="sí")
    assert outcome.responses == ["utter_start_denuncia"]
    assert {s: outcome.slots[s] for s in told} == told


def test_yes_to_an_unclear_classification_does_not_start_a_case_without_a_kind():
    unclear = classify(
        "queja_administrativa", [("queja_administrativa", 0.48), ("denuncia_coima", 0.41)]
    )
    assert asks_the_kind_by_followup(unclear)
    outcome = act(StartCase(), unclear.slots, intent="affirm", text="sí")
    asked_the_kind = "utter_ask_kind" in outcome.responses
    assert outcome.slots["case_kind"] in ("queja", "denuncia") or asked_the_kind


# --- action_classify_report / action_reject_classification -------------------------


# An earlier guess the citizen turned down: a new story must not inherit it.
EARLIER_GUESS = {
    "case_kind": "denuncia",
    "category": "denuncia_coima",
    "category_label": routing.label_of("denuncia_coima"),
}


def classify(intent, ranking, text=STORY, given=None):
    ranking = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return act(
        ClassifyReport(),
        given,
        intent=intent,
        confidence=ranking[0]["confidence"],
        ranking=ranking,
        text=text,
    )


def test_a_story_is_classified_and_the_guess_confirmed():
    outcome = classify(
        "queja_turnos",
        [("queja_turnos", 0.91), ("queja_tiempo_espera", 0.05), ("denuncia_coima", 0.02)],
    )
    message = outcome.sent("utter_confirm_classification")
    assert (message["kind_label"], message["category_label"]) == (
        "queja",
        "problemas con turnos o citas",
    )
    assert outcome.changes == {
        "description_start": STORY,
        "case_kind": "queja",
        "category": "queja_turnos",
        "category_label": "problemas con turnos o citas",
    }


def asks_the_kind_by_followup(outcome) -> bool:
    """The question is a follow-up action, so the rule for "yes to the guess" cannot match."""
    followups = [e["name"] for e in outcome.events if e.get("event") == "followup"]
    return outcome.responses == [] and followups == ["utter_kind_or_family_unclear"]


def test_two_close_categories_of_the_same_kind_are_offered_with_their_descriptions():
    outcome = classify(
        "queja_turnos",
        [("queja_turnos", 0.45), ("queja_tiempo_espera", 0.40)],
        given=EARLIER_GUESS,
    )
    assert outcome.responses == ["utter_which_of_two_categories"]
    offer = outcome.sent("utter_which_of_two_categories")
    assert (offer["first_category"], offer["second_category"]) == (
        "queja_turnos",
        "queja_tiempo_espera",
    )
    assert offer["first_description"] and offer["second_description"]
    # the kind is known (a plain "sí" starts a queja); the category is the citizen's choice
    assert outcome.changes == {
        "description_start": STORY,
        "case_kind": "queja",
        "category": None,  # the earlier guess's, emptied
        "category_label": None,
    }


def test_the_category_chosen_from_the_two_starts_the_form_with_it():
    offered = {"case_kind": "queja", "description_start": STORY}
    outcome = act(
        StartCase(),
        offered,
        intent="inform",
        text='/inform{"category":"queja_tiempo_espera"}',
        entities=[{"entity": "category", "value": "queja_tiempo_espera"}],
    )
    assert outcome.responses == ["utter_start_queja"]
    assert outcome.slots["category"] == "queja_tiempo_espera"
    assert outcome.slots["description_start"] == STORY


def test_a_chosen_category_of_the_other_kind_switches_the_kind():
    outcome = act(
        StartCase(),
        {"case_kind": "queja", "description_start": STORY},
        intent="inform",
        text='/inform{"category":"denuncia_coima"}',
        entities=[{"entity": "category", "value": "denuncia_coima"}],
    )
    assert outcome.slots["case_kind"] == "denuncia"
    assert outcome.slots["category"] == "denuncia_coima"


def test_an_unknown_category_in_a_forged_payload_is_not_taken():
    outcome = act(
        StartCase(),
        {"description_start": STORY},
        intent="inform",
        text='/inform{"category":"denuncia_x"}',
        entities=[{"entity": "category", "value": "denuncia_x"}],
    )
    assert outcome.responses == ["utter_ask_kind"]


def test_two_close_categories_of_different_kinds_ask_queja_or_denuncia():
    outcome = classify(
        "queja_administrativa",
        [("queja_administrativa", 0.48), ("denuncia_coima", 0.41), ("greet", 0.05)],
        given=EARLIER_GUESS,
    )
    assert asks_the_kind_by_followup(outcome)
    assert outcome.emptied(EARLIER_GUESS, description_start=STORY)


def test_different_kinds_far_apart_are_not_unclear():
    outcome = classify("denuncia_coima", [("denuncia_coima", 0.8), ("queja_administrativa", 0.3)])
    assert outcome.responses == ["utter_confirm_classification"]
    assert outcome.slots["case_kind"] == "denuncia"


def test_intents_that_are_not_categories_do_not_count_as_a_kind():
    outcome = classify(
        "queja_turnos", [("queja_turnos", 0.50), ("affirm", 0.45), ("denuncia_coima", 0.25)]
    )
    assert outcome.responses == ["utter_confirm_classification"]


def test_rejecting_the_classification_keeps_the_story_and_asks_the_kind():
    told = {
        "case_kind": "queja",
        "category": "queja_turnos",
        "category_label": "problemas con turnos o citas",
        "description_start": STORY,
    }
    outcome = act(RejectClassification(), told, intent="deny", text="no")
    assert outcome.responses == ["utter_ask_kind"]
    assert outcome.changes == {"case_kind": None, "category": None, "category_label": None}
    assert outcome.slots["description_start"] == STORY


# --- action_finish_case ------------------------------------------------------------


def finish(given, **options):
    options.setdefault("intent", "affirm")
    return act(FinishCase(), given, **options)


def confirmed(kind="queja", category="queja_turnos"):
    return {
        **CASE,
        "case_kind": kind,
        "category": category,
        "category_label": routing.label_of(category),
        "confirmation": "yes",
        "failed_attempts": {},
    }


def wait_for_mail(services, number, seconds=10.0):
    """The mail written for case ``number``.

    The action hands delivery to a worker thread a moment after it answers (a
    moment these tests, each with its own short-lived event loop, do not wait for),
    and that sends at most 20 of the oldest messages; so this sends them as the
    outbox worker would.
    """
    deadline = time.monotonic() + seconds
    folder = services.settings().mail_dir
    while time.monotonic() < deadline:
        services.outbox().deliver_due(limit=100_000)
        if folder.is_dir():
            for message in outbox.read_mailbox(folder, services.store().cipher):
                if number in (message["Subject"] or ""):
                    return message
        time.sleep(0.05)
    raise AssertionError(f"no e-mail for {number} in {folder}")


def test_the_email_is_sent_just_after_the_answer_not_while_it_is_written(monkeypatch):
    """deliver_soon() hands delivery to a thread only once the answer has had its moment
    (started at once, the thread slowed the registration's answer). The delay is
    lengthened here so that a slow machine cannot blur before and after."""
    import asyncio
    import threading

    from actions import services

    sent = threading.Event()
    monkeypatch.setattr(services, "_deliver_now", sent.set)
    monkeypatch.setattr(services, "DELIVERY_DELAY_S", 1.0)

    async def answer_then_wait():
        services.deliver_soon()
        await asyncio.sleep(0.1)  # the answer goes out meanwhile
        early = sent.is_set()
        await asyncio.get_running_loop().run_in_executor(None, sent.wait, 10)
        return early, sent.is_set()

    assert asyncio.run(answer_then_wait()) == (False, True)


@pytest.mark.parametrize(
    "channel, metadata, kept",
    [
        ("whatsapp", {"wa_id": "593991234567"}, "593991234567"),
        ("whatsapp", {"wa_id": "+593 99 123"}, None),  # not a WhatsApp id: not kept
        ("rest", {"wa_id": "593991234567"}, None),  # only the WhatsApp channel says it
    ],
)
def test_a_whatsapp_case_keeps_its_number_for_the_notices(live_services, channel, metadata, kept):
    outcome = finish(confirmed(), input_channel=channel, metadata=metadata)
    number = outcome.sent("utter_case_registered")["number"]
    assert live_services.store().reveal(number)["whatsapp_id"] == kept


def test_a_whatsapp_case_without_email_is_told_there_and_records_the_choice(live_services):
    from actions.slots import EMAIL_BY_WHATSAPP
    from buzon.outbox import OutboxMessage

    outcome = finish(
        {**confirmed(), "email": EMAIL_BY_WHATSAPP},
        input_channel="whatsapp",
        metadata={"wa_id": "593991234567"},
    )
    assert outcome.responses == [
        "utter_case_registered_by_whatsapp",
        "utter_case_registered_queja_note",
    ]
    told = outcome.sent("utter_case_registered_by_whatsapp")
    stored = live_services.store().reveal(told["number"])
    assert stored["email"] is None and stored["contact_preference"] == "whatsapp"
    assert stored["whatsapp_id"] == "593991234567"
    store = live_services.store()
    with store._session() as session:  # no confirmation e-mail to nobody
        queued = session.query(OutboxMessage).filter_by(case_id=_case_id(store, told["number"]))
        assert queued.count() == 0


def test_confirming_again_a_case_already_registered_gives_its_number_not_a_second_case(
    live_services,
):
    given = {**confirmed(), "registration_id": "reg-once"}
    first = finish(given, sender_id="twice").sent("utter_case_registered")["number"]
    # the conversation could not be saved: it still waits at the summary, «Confirmar» again
    again = finish(given, sender_id="twice")
    assert again.responses == ["utter_case_already_registered"]
    assert again.sent("utter_case_already_registered")["number"] == first
    assert again.emptied(CASE_SLOTS, **{FORGET: "registered"})
    assert live_services.store().numbers_for_cedula(CASE["cedula"]).count(first) == 1


def test_no_email_outside_whatsapp_is_refused_at_registration(live_services):
    from actions.slots import EMAIL_BY_WHATSAPP

    outcome = finish({**confirmed(), "email": EMAIL_BY_WHATSAPP}, input_channel="socketio")
    assert outcome.responses == ["utter_case_field_refused", "utter_invalid_email_empty"]
    assert outcome.changes["email"] is None and outcome.changes["confirmation"] is None


def _case_id(store, number):
    from buzon.cases.models import Case

    with store._session() as session:
        return session.query(Case.id).filter_by(number=number).scalar()


def test_refused_consent_forgets_everything():
    outcome = finish(
        {"case_kind": "queja", "description_start": STORY, "consent": False}, intent="deny"
    )
    assert outcome.responses == ["utter_consent_refused"]
    assert outcome.emptied(CASE_SLOTS, **{FORGET: "consent_refused"})


def test_nothing_happens_before_the_summary_is_confirmed():
    outcome = finish({**confirmed(), "confirmation": None})
    assert outcome.responses == [] and outcome.events == []


@pytest.mark.parametrize(
    "kind, category, channel",
    [
        ("queja", "queja_turnos", None),
        ("denuncia", "denuncia_coima", "socketio"),
    ],
)
def test_a_confirmed_case_is_stored_and_its_number_and_key_given(
    live_services, tmp_path, kind, category, channel
):
    outcome = finish(confirmed(kind, category), input_channel=channel)

    assert outcome.responses == ["utter_case_registered", f"utter_case_registered_{kind}_note"]
    told = outcome.sent("utter_case_registered")
    assert told["kind_label"] == kind
    assert told["area_name"] == routing.route(category, CASE["description"]).name
    stored = live_services.store().reveal(told["number"])
    assert stored is not None and stored["status"] == "registered"
    assert {k: stored[k] for k in ENCRYPTED} == {k: CASE[k] for k in ENCRYPTED}
    assert (stored["kind"], stored["category"]) == (kind, category)
    assert (stored["province_code"], stored["canton_code"]) == ("09", "0901")
    assert stored["evidence_count"] == 0
    assert stored["consent_version"] == CASE["consent_version"]
    assert stored["consent_at"] == datetime.fromisoformat(CASE["consent_at"])
    assert stored["channel"] == (channel or "rest")
    assert live_services.store().status(told["number"], told["tracking_key"]) is not None

    assert outcome.emptied(CASE_SLOTS, **{FORGET: "registered"})

    mail = wait_for_mail(live_services, told["number"])
    assert mail["To"] == CASE["email"]
    assert told["tracking_key"] in mail.get_content()


def test_a_store_failure_keeps_the_data_and_returns_to_the_form(
    live_services, tmp_path, monkeypatch, caplog
):
    def broken(self, draft):
        raise RuntimeError(f"connection lost while storing {draft.cedula}")

    monkeypatch.setattr(CaseStore, "register", broken)
    outcome = finish(confirmed())
    assert outcome.responses == ["utter_case_not_registered"]
    assert {"event": "followup", "name": "case_form"} in [
        {k: e[k] for k in ("event", "name")} for e in outcome.events if e["event"] == "followup"
    ]
    assert outcome.changes == {"confirmation": None}
    assert {s: outcome.slots[s] for s in CASE} == CASE
    assert CEDULA not in caplog.text  # only the kind of error is logged
    assert not list(tmp_path.glob("var/mail/*"))


# --- action_cancel -----------------------------------------------------------------


def cancel(given=None, **options):
    return act(Cancel(), given, intent="cancel", text="cancelar", **options)


DEACTIVATED = [
    {"event": "action", "name": "action_deactivate_loop"},
    {"event": "active_loop", "name": None},
]


@pytest.mark.parametrize(
    "given, after_user",
    [
        pytest.param(
            {"case_kind": "queja", "consent": True, "cedula": CEDULA}, DEACTIVATED, id="case_data"
        ),
        pytest.param({"description_start": STORY}, [], id="story_told"),
        pytest.param({"lookup_case_number": "IESS-Q-2026-000045"}, [], id="lookup"),
        pytest.param({}, DEACTIVATED, id="form_just_started"),
    ],
)
def test_cancel_with_something_in_progress_discards_it(given, after_user):
    outcome = cancel(given, after_user=after_user)
    assert outcome.responses == ["utter_case_discarded"]
    abandoned = CASE_SLOTS + LOOKUP_SLOTS + FOLLOWUP_IN_PROGRESS + (CANCEL_PENDING,)
    assert outcome.emptied(abandoned, **{FORGET: "cancelled"})


def test_cancel_with_nothing_in_progress_says_so():
    outcome = cancel(history=DEACTIVATED)  # a form ended in an earlier turn
    assert outcome.responses == ["utter_nothing_to_cancel"]


# --- action_explain_step -----------------------------------------------------------

FORM_SLOTS = [
    *DOMAIN["forms"]["case_form"]["required_slots"],
    *DOMAIN["forms"]["status_form"]["required_slots"],
]


@pytest.mark.parametrize("slot", FORM_SLOTS)
def test_help_explains_the_question_being_asked(slot):
    outcome = act(ExplainStep(), {"requested_slot": slot}, intent="help", text="¿para qué?")
    assert outcome.responses == [f"utter_help_{slot}"]
    assert outcome.events == []


@pytest.mark.parametrize("requested", [None, "failed_attempts"])
def test_help_with_no_question_to_explain_says_what_can_be_reported(requested):
    outcome = act(ExplainStep(), {"requested_slot": requested}, intent="help", text="ayuda")
    assert outcome.responses == ["utter_what_can_i_report"]


# --- action_handle_unclear -----------------------------------------------------------


def unclear_message(ranking, text=STORY):
    ranking = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return act(
        HandleUnclear(),
        intent="nlu_fallback",
        confidence=ranking[0]["confidence"],
        ranking=ranking,
        text=text,
    )


def test_an_unsure_story_asks_queja_or_denuncia_and_keeps_the_story():
    outcome = unclear_message(
        [("nlu_fallback", 0.4), ("denuncia_coima", 0.35), ("queja_turnos", 0.3)]
    )
    assert outcome.responses == ["utter_kind_or_family_unclear"]
    assert outcome.changes == {"description_start": STORY}


def test_an_unsure_request_to_register_asks_the_kind():
    outcome = unclear_message(
        [("nlu_fallback", 0.4), ("register_queja", 0.33)], text="quiero reportar"
    )
    assert outcome.responses == ["utter_kind_or_family_unclear"]
    assert outcome.changes == {}


def test_an_unsure_message_about_something_else_gets_the_menu():
    outcome = unclear_message([("nlu_fallback", 0.4), ("out_of_scope", 0.3)], text="y el partido?")
    assert outcome.responses == ["utter_default"]


def test_a_file_sent_when_nothing_asked_for_it_is_explained():
    outcome = act(
        DataOutsideForm(),
        intent="inform",
        text='/inform{"evidence_error":"evidence_not_now"}',
        entities=[{"entity": "evidence_error", "value": "evidence_not_now"}],
    )
    assert outcome.responses == ["utter_invalid_evidence_not_now", "utter_menu"]


def test_data_sent_when_nothing_asked_for_it_gets_the_menu():
    outcome = act(DataOutsideForm(), intent="inform", text="0991234567")
    assert outcome.responses == ["utter_menu"]


# --- switching the kind in the middle of the form (issue 13) -----------------------


def test_switching_to_denuncia_in_the_middle_keeps_every_answer():
    midway = {**CASE, "case_kind": "queja", "category": "queja_turnos", "evidence": "1"}
    outcome = act(
        StartCase(),
        midway,
        intent="register_denuncia",
        text="me equivoqué, es una denuncia",
        form="case_form",
    )
    assert outcome.responses == ["utter_kind_switched"]
    assert outcome.slots["case_kind"] == "denuncia"
    assert outcome.slots["category"] is None  # asked again among the denuncia's
    for kept in ("cedula", "phone", "email", "province", "address", "consent", "evidence"):
        assert outcome.slots[kept] == midway[kept], kept


def test_switching_to_queja_asks_for_the_files_again(live_services):
    midway = {**CASE, "case_kind": "denuncia", "category": "denuncia_coima", "evidence": "2"}
    outcome = act(StartCase(), midway, intent="register_queja", text="es queja", form="case_form")
    assert outcome.slots["case_kind"] == "queja"
    assert outcome.slots["evidence"] is None
    assert outcome.slots["cedula"] == CASE["cedula"]


def test_the_same_kind_said_again_in_the_middle_changes_nothing():
    midway = {**CASE, "case_kind": "queja", "category": "queja_turnos"}
    outcome = act(
        StartCase(), midway, intent="register_queja", text="sí, es una queja", form="case_form"
    )
    assert outcome.responses == ["utter_kind_same"]
    assert outcome.events == []  # every answer stays, the form asks its question again


# --- «cancelar» with answers given asks first (issue 13) ---------------------------


def test_cancel_with_answers_given_asks_before_discarding():
    from actions.registration import ConfirmCancel

    outcome = act(ConfirmCancel(), CASE, intent="cancel", text="cancelar", form="case_form")
    assert outcome.responses == ["utter_confirm_cancel"]
    assert outcome.changes == {"cancel_pending": True}  # nothing discarded yet


def test_cancel_with_nothing_given_stops_at_once(live_services):
    from actions.registration import ConfirmCancel

    outcome = act(
        ConfirmCancel(),
        {"case_kind": "queja", "registration_id": "r1"},
        intent="cancel",
        text="cancelar",
        form="case_form",
    )
    assert outcome.responses == ["utter_case_discarded"]
    assert {"event": "active_loop", "name": None} in [
        {"event": e.get("event"), "name": e.get("name")} for e in outcome.events
    ]
