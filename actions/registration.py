"""Starting, classifying, finishing and cancelling a case registration."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.form_validation import latest_intent, sent_a_file, whatsapp_id
from actions.slots import (
    CANCEL_PENDING,
    CASE_SLOTS,
    EMAIL_BY_WHATSAPP,
    FOLLOWUP_IN_PROGRESS,
    FORGET,
    FORGET_CANCELLED,
    FORGET_REFUSED,
    FORGET_REGISTERED,
    LOOKUP_SLOTS,
)
from buzon.cases import classification, numbering, routing
from buzon.cases.store import AlreadyRegistered, CaseDraft
from buzon.validation import Invalid

logger = logging.getLogger(__name__)

KIND_OF_INTENT = {"register_queja": "queja", "register_denuncia": "denuncia"}
CATEGORY_INTENTS = set(routing.categories())


def reset(tracker: Tracker, slots) -> list[dict[str, Any]]:
    """Empty ``slots``: those that hold something (setting an empty slot to nothing
    changes nothing, but each such event is stored, read back, replayed and sent to the
    action server on every later turn: 39 of a registration's 169 events were such
    no-ops, with the unchanged failure counts of ``actions.form_validation``)."""
    return [SlotSet(slot, None) for slot in slots if tracker.get_slot(slot) is not None]


def forget(reason: str) -> list[dict[str, Any]]:
    """Ask the tracker store to erase the personal content of the conversation so far."""
    return [SlotSet(FORGET, reason)]


async def discard_files(tracker: Tracker) -> None:
    """Delete the files sent for a registration that will not be registered."""
    await asyncio.to_thread(services.evidence().discard_pending, tracker.sender_id)


# Which form question to ask again when the domain refuses a field at registration.
SLOT_OF_REASON = {
    "cedula": "cedula",
    "phone": "phone",
    "email": "email",
    "province": "province",
    "canton": "province",
    "address": "address",
    "description": "description",
    "category": "category",
    "evidence": "evidence",
    "consent": "consent",
    "kind": "category",
}


def slot_to_ask_again(reason: str) -> str:
    """The form slot whose answer the domain refused (``cedula_length`` → ``cedula``)."""
    return SLOT_OF_REASON.get(reason.split("_")[0], "confirmation")


class StartCase(Action):
    """Sets the kind from the menu choice (or the accepted classification)."""

    def name(self) -> str:
        return "action_start_case"

    async def run(self, dispatcher, tracker, domain):
        chosen = chosen_category(tracker)  # one of two categories the bot offered
        kind = (
            KIND_OF_INTENT.get(latest_intent(tracker))
            or (routing.kind_of(chosen) if chosen else None)
            or tracker.get_slot("case_kind")
        )
        if kind is None:  # e.g. "sí" to a question that was not yes/no: ask the kind
            dispatcher.utter_message(response="utter_ask_kind")
            return [FollowupAction("action_listen")]
        current = tracker.get_slot("case_kind")
        if tracker.active_loop_name == "case_form" and current:
            if current != kind:
                return await self.switch(dispatcher, tracker, kind)
            # "sí, es una queja" in the middle of a queja: nothing to change
            dispatcher.utter_message(response="utter_kind_same", kind_label=kind)
            return []
        await discard_files(tracker)  # files of an earlier, unfinished registration
        category = chosen or tracker.get_slot("category")
        if category and routing.kind_of(category) != kind:
            category = None
        keep = {"case_kind", "category", "category_label", "description_start"}
        events = reset(tracker, [s for s in CASE_SLOTS if s not in keep])
        events += [
            SlotSet("case_kind", kind),
            SlotSet("category", category),
            SlotSet("category_label", routing.label_of(category) if category else None),
            SlotSet("registration_id", uuid.uuid4().hex),
        ]
        dispatcher.utter_message(response=f"utter_start_{kind}")
        return events

    async def switch(self, dispatcher, tracker, kind: str) -> list[dict[str, Any]]:
        """ "Me equivoqué, es denuncia" in the middle of the form: the kind changes,
        every answer stays; the category (of the other kind) and the summary's
        confirmation are asked again. Files sent for a denuncia may exceed a
        queja's limit, so a switch to queja asks for them again."""
        events = [SlotSet("case_kind", kind)]
        events += reset(tracker, ["category", "category_label", "confirmation"])
        if kind == "queja":
            await discard_files(tracker)
            events += reset(tracker, ["evidence", "awaiting_evidence"])
        dispatcher.utter_message(response="utter_kind_switched", kind_label=kind)
        return events


class ClassifyReport(Action):
    """Says what a story told without the menu looks like, and asks to confirm."""

    def name(self) -> str:
        return "action_classify_report"

    def run(self, dispatcher, tracker, domain):
        message = tracker.latest_message
        told = [SlotSet("description_start", message.get("text"))]
        ranking = [
            (r["name"], r["confidence"])
            for r in message.get("intent_ranking", [])
            if r.get("name") in CATEGORY_INTENTS
        ]
        decision = classification.decide(ranking or [(latest_intent(tracker), 1.0)])
        unsure = reset(tracker, ["case_kind", "category", "category_label"])
        if decision.action == classification.ASK_FAMILY:
            # Asked by a follow-up action, so a "sí" now is no yes to a guess.
            return told + unsure + [FollowupAction("utter_kind_or_family_unclear")]
        first = decision.options[0]
        kind = routing.kind_of(first)
        if decision.action == classification.CHOOSE_BETWEEN_TWO:
            second = decision.options[1]
            dispatcher.utter_message(
                response="utter_which_of_two_categories",
                kind_label=kind,
                first_category=first,
                first_label=routing.label_of(first).capitalize(),
                first_description=routing.description_of(first),
                second_category=second,
                second_label=routing.label_of(second).capitalize(),
                second_description=routing.description_of(second),
            )
            # Both are of one kind: a plain "sí" starts that kind and asks the category.
            return told + unsure + [SlotSet("case_kind", kind)]
        dispatcher.utter_message(
            response="utter_confirm_classification",
            kind_label=kind,
            category_label=routing.label_of(first),
        )
        return told + [
            SlotSet("case_kind", kind),
            SlotSet("category", first),
            SlotSet("category_label", routing.label_of(first)),
        ]


def chosen_category(tracker: Tracker) -> str | None:
    """The category of a button «inform{"category": …}» in the latest message."""
    if latest_intent(tracker) != "inform":
        return None
    for entity in tracker.latest_message.get("entities", []):
        if entity.get("entity") == "category" and entity.get("value") in CATEGORY_INTENTS:
            return str(entity["value"])
    return None


class HandleUnclear(Action):
    """Low NLU confidence: for what looks like a case, ask queja or denuncia."""

    def name(self) -> str:
        return "action_handle_unclear"

    def run(self, dispatcher, tracker, domain):
        ranking = [r.get("name") for r in tracker.latest_message.get("intent_ranking", [])]
        best = next((name for name in ranking if name != "nlu_fallback"), None)
        if best in CATEGORY_INTENTS:
            dispatcher.utter_message(response="utter_kind_or_family_unclear")
            return [SlotSet("description_start", tracker.latest_message.get("text"))]
        if best in KIND_OF_INTENT:
            dispatcher.utter_message(response="utter_kind_or_family_unclear")
            return []
        dispatcher.utter_message(response="utter_default")
        return []


class RejectClassification(Action):
    """The guess was wrong: forget it, keep the story, offer both kinds."""

    def name(self) -> str:
        return "action_reject_classification"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_ask_kind")
        return reset(tracker, ["case_kind", "category", "category_label"])


def _draft(tracker: Tracker) -> CaseDraft:
    slot = tracker.get_slot
    return CaseDraft(
        kind=slot("case_kind"),
        category=slot("category"),
        cedula=slot("cedula"),
        phone=slot("phone"),
        email=None if slot("email") == EMAIL_BY_WHATSAPP else slot("email"),
        province_code=slot("province_code"),
        canton_code=slot("canton_code"),
        address=slot("address"),
        description=slot("description"),
        channel=tracker.get_latest_input_channel() or services.settings().default_channel,
        consent_version=slot("consent_version"),
        consent_at=datetime.fromisoformat(slot("consent_at")),
        conversation_id=tracker.sender_id,
        registration_id=slot("registration_id"),
        whatsapp_id=whatsapp_id(tracker),
    )


class FinishCase(Action):
    """Registers the confirmed case, or explains a refused consent."""

    def name(self) -> str:
        return "action_finish_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain):
        if tracker.get_slot("consent") is False:
            await discard_files(tracker)
            dispatcher.utter_message(response="utter_consent_refused")
            return reset(tracker, CASE_SLOTS) + forget(FORGET_REFUSED)
        if tracker.get_slot("confirmation") != "yes":
            return []
        try:
            registration = await asyncio.to_thread(services.store().register, _draft(tracker))
        except AlreadyRegistered as done:
            # «Confirmar» again for a case already registered (the conversation could not
            # be saved after the first time): its number, never a second case
            dispatcher.utter_message(response="utter_case_already_registered", number=done.number)
            return reset(tracker, CASE_SLOTS) + forget(FORGET_REGISTERED)
        except (Invalid, TypeError, ValueError) as error:
            # The domain refused a field the form let through (a forged request,
            # a value set while the validator was unreachable): ask it again.
            reason = error.reason if isinstance(error, Invalid) else "consent"
            details = error.details if isinstance(error, Invalid) else {}
            slot = slot_to_ask_again(reason)
            logger.warning("case registration refused by the domain: %s", reason)
            dispatcher.utter_message(response="utter_case_field_refused")
            if f"utter_invalid_{reason}" in domain.get("responses", {}):
                dispatcher.utter_message(response=f"utter_invalid_{reason}", **details)
            events = [SlotSet("confirmation", None), SlotSet(slot, None)]
            if slot == "evidence":  # the files themselves were refused: send them again
                await discard_files(tracker)
                events.append(SlotSet("awaiting_evidence", None))
            return events + [FollowupAction("case_form")]
        except Exception as error:  # never show a trace; the data stays in the form
            logger.error("case registration failed: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_case_not_registered")
            return [SlotSet("confirmation", None), FollowupAction("case_form")]
        services.deliver_soon()
        kind = tracker.get_slot("case_kind")
        by_whatsapp = tracker.get_slot("email") == EMAIL_BY_WHATSAPP  # no e-mail given
        told = "utter_case_registered_by_whatsapp" if by_whatsapp else "utter_case_registered"
        dispatcher.utter_message(
            response=told,
            kind_label=kind,
            number=registration.number,
            tracking_key=registration.tracking_key,
            area_name=registration.area_name,
        )
        dispatcher.utter_message(response=f"utter_case_registered_{kind}_note")
        logger.info("case %s registered", registration.number)
        return reset(tracker, CASE_SLOTS) + forget(FORGET_REGISTERED)


class Cancel(Action):
    """Stops whatever is in progress and forgets what was given."""

    def name(self) -> str:
        return "action_cancel"

    async def run(self, dispatcher, tracker, domain):
        abandoned = CASE_SLOTS + LOOKUP_SLOTS + FOLLOWUP_IN_PROGRESS + (CANCEL_PENDING,)
        in_progress = any(tracker.get_slot(s) is not None for s in abandoned)
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                break
            if event.get("event") == "active_loop":
                in_progress = True
        await discard_files(tracker)
        dispatcher.utter_message(
            response="utter_case_discarded" if in_progress else "utter_nothing_to_cancel"
        )
        return reset(tracker, abandoned) + forget(FORGET_CANCELLED)


# What a citizen may have given in the case form: asked about before it is discarded.
GIVEN_IN_THE_FORM = (
    "description_start", "consent", "cedula", "phone", "email", "province", "address",
    "description", "evidence",
)  # fmt: skip


class ConfirmCancel(Action):
    """«Cancelar» in a case form with answers in it: are you sure? (a no that meant
    "nothing more" must not throw a registration away). With nothing given yet, the
    form simply stops."""

    def name(self) -> str:
        return "action_confirm_cancel"

    async def run(self, dispatcher, tracker, domain):
        if any(tracker.get_slot(s) is not None for s in GIVEN_IN_THE_FORM):
            dispatcher.utter_message(response="utter_confirm_cancel")
            return [SlotSet(CANCEL_PENDING, True)]
        events = await Cancel().run(dispatcher, tracker, domain)
        return events + [SlotSet("requested_slot", None), ActiveLoop(None)]


class DataOutsideForm(Action):
    """Data (or a file) sent when nothing asked for it: say so, show the menu; a case
    number (and key) given out of the blue starts the look-up with them."""

    def name(self) -> str:
        return "action_data_outside_form"

    def run(self, dispatcher, tracker, domain):
        if sent_a_file(tracker):
            dispatcher.utter_message(response="utter_invalid_evidence_not_now")
        number, key = numbering.find_in(tracker.latest_message.get("text") or "")
        if number and not sent_a_file(tracker):
            # "IESS-Q-2026-000123 clave abcd-…": a look-up, with what was given
            return [
                SlotSet("lookup_case_number", number),
                SlotSet("lookup_key", key),
                FollowupAction("status_form"),
            ]
        dispatcher.utter_message(response="utter_menu")
        return []


class ExplainStep(Action):
    """Why the bot asks what it is asking right now."""

    def name(self) -> str:
        return "action_explain_step"

    def run(self, dispatcher, tracker, domain):
        slot = tracker.get_slot("requested_slot")
        if slot and f"utter_help_{slot}" in domain.get("responses", {}):
            dispatcher.utter_message(response=f"utter_help_{slot}")
        else:
            dispatcher.utter_message(response="utter_what_can_i_report")
        return []
