"""The citizen's follow-up in the bot: a right look-up shows IESS's question and lets
the citizen answer it (with files), rate the answer and ask to reopen; nothing of it
without the look-up, and nothing the case does not allow now."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from actions.followup import (
    StartFollowup,
    SubmitFollowup,
    SubmitRating,
    SubmitReopen,
    ValidateFollowupForm,
    ValidateRatingForm,
    ValidateReopenForm,
)
from actions.slots import FORGET
from actions.status import CheckStatus
from buzon.cases.models import Case, CaseEvent
from buzon.cases.store import CaseDraft
from buzon.db import session_factory
from tests import synthetic_files
from tests.actions.helpers import CASE, answer, make_tracker, run_action, slots

QUESTION = "¿En qué fecha le negaron la cita?"
ANSWER = "Fue el lunes 9 de noviembre en la mañana, en ventanilla 3."


@pytest.fixture()
def sender():
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture()
def analyst(live_services):
    email = f"analista.{uuid.uuid4().hex[:6]}@iess.gob.ec"
    accounts = live_services.wiring.current().accounts
    return accounts.save(email, "analista", ["salud"], "una clave larga y segura").account.staff


@pytest.fixture()
def registration(live_services):
    fields = ("cedula", "phone", "email", "province_code", "canton_code", "address")
    draft = CaseDraft(
        **{k: CASE[k] for k in fields},
        description=CASE["description"],
        consent_version=CASE["consent_version"],
        kind="queja",
        category="queja_turnos",
        channel="rest",
        consent_at=datetime.fromisoformat(CASE["consent_at"]),
    )
    return live_services.store().register(draft)


def desk(live_services):
    return live_services.wiring.current().desk


def look_up(sender, registration):
    given = slots(lookup_case_number=registration.number, lookup_key=registration.tracking_key)
    tracker = make_tracker(given, sender_id=sender, intent="inform")
    return run_action(CheckStatus(), tracker)


def start(sender, number, intent, **given):
    tracker = make_tracker(slots(followup_case=number, **given), sender_id=sender, intent=intent)
    return run_action(StartFollowup(), tracker)


def timeline(live_services, number):
    engine = live_services.wiring.current().engine
    with session_factory(engine)() as session:
        case = session.execute(select(Case).where(Case.number == number)).scalar_one()
        events = session.execute(
            select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
        return case, list(events.scalars())


def test_a_pending_question_is_shown_with_the_offer_to_answer(
    live_services, registration, analyst, sender
):
    desk(live_services).ask_citizen(analyst, registration.number, QUESTION)
    outcome = look_up(sender, registration)
    assert outcome.sent("utter_case_status")["status_label"] == "Se requiere información adicional"
    assert outcome.sent("utter_case_question_pending")["message"] == QUESTION
    assert outcome.responses[-1] == "utter_followup_answer_offer"
    assert outcome.changes["followup_case"] == registration.number


def test_the_answer_with_a_file_goes_into_the_case_and_back_to_analysis(
    live_services, registration, analyst, sender
):
    desk(live_services).ask_citizen(analyst, registration.number, QUESTION)
    look_up(sender, registration)
    started = start(sender, registration.number, "add_information")
    assert started.responses == []
    batch = started.changes["followup_batch"]
    assert started.changes["followup_kind"] == "queja"

    written = answer(ValidateFollowupForm(), "followup_text", ANSWER, sender_id=sender)
    assert written.changes["followup_text"] == ANSWER

    live_services.evidence().add(sender, batch, "queja", "receta.png", synthetic_files.png())
    listo = answer(
        ValidateFollowupForm(),
        "followup_evidence",
        "listo",
        intent="affirm",
        given={
            "followup_batch": batch,
            "followup_kind": "queja",
            "awaiting_followup_evidence": True,
        },
        sender_id=sender,
    )
    assert listo.changes["followup_evidence"] == "1"

    given = slots(followup_case=registration.number, followup_text=ANSWER, followup_batch=batch)
    sent = run_action(SubmitFollowup(), make_tracker(given, sender_id=sender, intent="affirm"))
    assert sent.sent("utter_followup_sent")["number"] == registration.number
    assert sent.changes[FORGET] == "followup"
    assert sent.changes["followup_text"] is None
    case, kinds = timeline(live_services, registration.number)
    assert case.status == "in_review" and case.has_news and case.evidence_count == 1
    assert kinds[-2:] == ["citizen_message", "status"]


def test_nothing_can_be_added_without_a_look_up_in_this_conversation(
    live_services, registration, sender
):
    look_up(sender, registration)
    stranger = start(f"{sender}-other", registration.number, "add_information")
    assert stranger.responses == ["utter_followup_expired"]
    assert stranger.changes["followup_case"] is None
    unknown = make_tracker(slots(), sender_id=sender, intent="add_information")
    nothing = run_action(StartFollowup(), unknown)
    assert nothing.responses == ["utter_followup_needs_lookup"]

    given = slots(followup_case=registration.number, followup_text=ANSWER)
    sent = run_action(SubmitFollowup(), make_tracker(given, sender_id=f"{sender}-other"))
    assert sent.responses == ["utter_followup_expired"]
    _, kinds = timeline(live_services, registration.number)
    assert "citizen_message" not in kinds


def test_an_open_case_cannot_be_rated_or_reopened(live_services, registration, sender):
    look_up(sender, registration)
    for intent in ("rate_answer", "ask_reopen"):
        assert start(sender, registration.number, intent).responses == ["utter_followup_not_now"]


def test_a_resolved_case_is_rated_and_reopened(live_services, registration, analyst, sender):
    the_desk = desk(live_services)
    the_desk.change_status(analyst, registration.number, "in_review")
    the_desk.change_status(
        analyst, registration.number, "resolved", message="Se le asignó la cita para el 2."
    )
    shown = look_up(sender, registration)
    assert shown.sent("utter_case_latest_message")["message"] == "Se le asignó la cita para el 2."
    assert shown.responses[-1] == "utter_followup_rate_or_reopen"
    assert start(sender, registration.number, "add_information").responses == [
        "utter_followup_not_now"
    ]

    assert start(sender, registration.number, "rate_answer").responses == []
    rated = answer(ValidateRatingForm(), "rating", "le doy un cuatro", sender_id=sender)
    assert rated.changes["rating"] == "4"
    no_comment = answer(
        ValidateRatingForm(), "rating_comment", "/deny", intent="deny", sender_id=sender
    )
    assert no_comment.changes["rating_comment"] == "-"
    given = slots(followup_case=registration.number, rating="4", rating_comment="-")
    saved = run_action(SubmitRating(), make_tracker(given, sender_id=sender))
    assert saved.responses == ["utter_rating_saved"]
    twice = run_action(SubmitRating(), make_tracker(given, sender_id=sender))
    assert twice.responses == ["utter_followup_not_now"]

    reason = "La cita me la dieron para otra especialidad, no la que pedí."
    assert answer(ValidateReopenForm(), "reopen_reason", reason).changes["reopen_reason"] == reason
    given = slots(followup_case=registration.number, reopen_reason=reason)
    reopened = run_action(SubmitReopen(), make_tracker(given, sender_id=sender))
    assert reopened.responses == ["utter_reopen_sent"]
    case, kinds = timeline(live_services, registration.number)
    assert case.rating == 4 and case.status == "in_review" and case.has_news
    assert kinds[-2:] == ["rating", "citizen_reopened"]


@pytest.mark.parametrize(
    "written, stars",
    [("5", "5"), ("cinco", "5"), ("un 2", "2"), ("entre 3 y 4", None), ("excelente", None)],
)
def test_a_rating_is_read_as_people_write_it(written, stars):
    outcome = answer(ValidateRatingForm(), "rating", written)
    if stars:
        assert outcome.changes["rating"] == stars
    else:
        assert outcome.changes["rating"] is None
        assert outcome.responses == ["utter_invalid_rating"]


def test_a_too_short_answer_is_asked_again_kindly():
    outcome = answer(ValidateFollowupForm(), "followup_text", "si")
    assert outcome.changes["followup_text"] is None
    assert outcome.responses == ["utter_invalid_followup_text_too_short"]


def test_a_file_sent_before_the_file_question_is_refused_kindly():
    outcome = answer(
        ValidateFollowupForm(),
        "followup_text",
        "/inform",
        entities=[{"entity": "evidence_file", "value": "foto.png"}],
    )
    assert outcome.responses == ["utter_invalid_evidence_not_now"]
    assert outcome.changes["followup_text"] is None
