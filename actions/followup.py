"""The citizen's follow-up of a registered case: answer IESS's question or add
information (with files), rate the answer, ask to reopen.

Each needs the follow-up grant a right "Consultar estado" gave this conversation
(:mod:`buzon.cases.followup`); the case number of that look-up is the slot
``followup_case``. What the citizen wrote is erased from the conversation once it
is in the case.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from rasa_sdk import Action
from rasa_sdk.events import FollowupAction, SlotSet

from actions import services
from actions.form_validation import FormValidation, Turn, Validator, latest_intent
from actions.forms import FOLLOWUP_EVIDENCE, AskEvidence, evidence_check
from actions.registration import forget, reset
from actions.slots import FOLLOWUP_IN_PROGRESS, FOLLOWUP_SLOTS, FORGET_FOLLOWUP
from buzon.cases.followup import MIN_CHARS, MIN_WORDS, NoGrant
from buzon.validation import Invalid, text


def _followup():
    return services.followup()


class StartFollowup(Action):
    """Opens the form the citizen asked for, if their case allows it now."""

    def name(self) -> str:
        return "action_start_followup"

    async def run(self, dispatcher, tracker, domain):
        number = tracker.get_slot("followup_case")
        if not number:
            dispatcher.utter_message(response="utter_followup_needs_lookup")
            return [FollowupAction("status_form")]
        try:
            case = await asyncio.to_thread(_followup().current, tracker.sender_id, number)
        except NoGrant:
            dispatcher.utter_message(response="utter_followup_expired")
            return [*reset(tracker, FOLLOWUP_SLOTS), FollowupAction("action_listen")]
        intent = latest_intent(tracker)
        allowed = {
            "add_information": case.may_write,
            "rate_answer": case.may_rate,
            "ask_reopen": case.may_reopen,
        }.get(intent or "", False)
        if not allowed:
            dispatcher.utter_message(response="utter_followup_not_now")
            return [FollowupAction("action_listen")]
        return [
            *reset(tracker, FOLLOWUP_IN_PROGRESS),
            SlotSet("followup_kind", case.kind),
            SlotSet("followup_batch", uuid.uuid4().hex),
        ]


def check_text(slot: str) -> Validator:
    def check(value: Any, turn: Turn) -> dict[str, Any]:
        try:
            written = text.validate_description(
                str(value), min_words=MIN_WORDS, min_chars=MIN_CHARS
            )
        except Invalid as error:
            if error.reason == "description_too_short":
                return turn.refuse(slot, "followup_text_too_short", min_words=MIN_WORDS)
            return turn.refuse(slot, error.reason, **error.details)
        return turn.accept(slot, written)

    return check


# A rating as people write it: "4", "un 4", "cuatro", "le doy cinco estrellas".
RATING_WORDS = {"uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5"}
NO_COMMENT = "-"


def check_rating(value: Any, turn: Turn) -> dict[str, Any]:
    written = str(value or "").lower()
    candidates = [turn.entity("rating")] + [
        RATING_WORDS.get(word, word) for word in re.findall(r"\w+", written)
    ]
    stars = {c for c in candidates if c in {"1", "2", "3", "4", "5"}}
    if len(stars) != 1:  # none, or "entre 3 y 4": ask again rather than guess
        return turn.refuse("rating", "rating")
    return turn.accept("rating", stars.pop())


def check_comment(value: Any, turn: Turn) -> dict[str, Any]:
    written = " ".join(str(value or "").split())
    # "Sin comentario", "no", "ninguno": no comment, not a comment that says "no".
    if turn.intent == "deny" and (written.startswith("/") or len(written.split()) <= 3):
        return turn.accept("rating_comment", NO_COMMENT)
    return turn.accept("rating_comment", written[:1000])


class ValidateFollowupForm(FormValidation):
    retryable = frozenset({"followup_text"})
    evidence_slot = FOLLOWUP_EVIDENCE.answer

    def name(self) -> str:
        return "validate_followup_form"

    def validators(self) -> dict[str, Validator]:
        return {
            "followup_text": check_text("followup_text"),
            "followup_evidence": evidence_check(FOLLOWUP_EVIDENCE),
        }


class ValidateRatingForm(FormValidation):
    def name(self) -> str:
        return "validate_rating_form"

    def validators(self) -> dict[str, Validator]:
        return {"rating": check_rating, "rating_comment": check_comment}


class ValidateReopenForm(FormValidation):
    retryable = frozenset({"reopen_reason"})

    def name(self) -> str:
        return "validate_reopen_form"

    def validators(self) -> dict[str, Validator]:
        return {"reopen_reason": check_text("reopen_reason")}


class AskFollowupEvidence(AskEvidence):
    slots = FOLLOWUP_EVIDENCE
    offer = "utter_ask_followup_evidence"

    def name(self) -> str:
        return "action_ask_followup_evidence"


async def _submit(dispatcher, tracker, call, done_response: str) -> list:
    number = tracker.get_slot("followup_case")
    try:
        await asyncio.to_thread(call, number)
    except NoGrant:
        dispatcher.utter_message(response="utter_followup_expired")
        return [*reset(tracker, FOLLOWUP_SLOTS), *forget(FORGET_FOLLOWUP)]
    except Invalid:
        dispatcher.utter_message(response="utter_followup_not_now")
        return [*reset(tracker, FOLLOWUP_IN_PROGRESS), *forget(FORGET_FOLLOWUP)]
    dispatcher.utter_message(response=done_response, number=number)
    return [*reset(tracker, FOLLOWUP_IN_PROGRESS), *forget(FORGET_FOLLOWUP)]


class SubmitFollowup(Action):
    def name(self) -> str:
        return "action_submit_followup"

    async def run(self, dispatcher, tracker, domain):
        return await _submit(
            dispatcher,
            tracker,
            lambda number: _followup().write(
                tracker.sender_id,
                number,
                tracker.get_slot("followup_text"),
                tracker.get_slot("followup_batch"),
            ),
            "utter_followup_sent",
        )


class SubmitRating(Action):
    def name(self) -> str:
        return "action_submit_rating"

    async def run(self, dispatcher, tracker, domain):
        comment = tracker.get_slot("rating_comment")
        return await _submit(
            dispatcher,
            tracker,
            lambda number: _followup().rate(
                tracker.sender_id,
                number,
                int(tracker.get_slot("rating")),
                "" if comment == NO_COMMENT else comment or "",
            ),
            "utter_rating_saved",
        )


class SubmitReopen(Action):
    def name(self) -> str:
        return "action_submit_reopen"

    async def run(self, dispatcher, tracker, domain):
        return await _submit(
            dispatcher,
            tracker,
            lambda number: _followup().ask_reopen(
                tracker.sender_id, number, tracker.get_slot("reopen_reason")
            ),
            "utter_reopen_sent",
        )
