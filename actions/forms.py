"""Validation of the case form and the status form, and their custom questions.

Each ``validate_<slot>`` hands the text to a :mod:`buzon` validator. A refusal
sends ``utter_invalid_<reason>`` and empties only that slot, so the form asks
the same question again and nothing else the citizen gave is lost. After three
failures on one field the bot offers to go on or stop.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.slots import CORRECTIONS, EVIDENCE_NONE
from buzon import consent, evidence, plain_answers, territory
from buzon.cases import numbering, routing
from buzon.clock import utcnow
from buzon.validation import Invalid, cedula, email, phone, text

MAX_FAILURES = 3
# Fields the citizen types; an "ok" there ("Intentar otra vez") means "ask me again".
RETRYABLE = {"cedula", "phone", "email", "province", "canton", "address", "description"}


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def plainly_yes(tracker: Tracker) -> bool:
    """A yes that is no guess: the button (its payload) or plainly affirmative words.

    The classifier reads "yes" into noise ("?", "👍"); consent and the final
    confirmation take only this.
    """
    text = (tracker.latest_message.get("text") or "").strip()
    if latest_intent(tracker) != "affirm":
        return False
    return text.startswith("/affirm") or plain_answers.is_plain_yes(text)


def sent_a_file(tracker: Tracker) -> bool:
    """Whether the latest message is a channel's note about an uploaded file."""
    return any(e.get("entity") in ("evidence_file", "evidence_error")
               for e in tracker.latest_message.get("entities", []))


def _spoken(value: Any) -> Any:
    return ", ".join(value) if isinstance(value, (list, tuple)) else value


def refuse(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str,
           reason: str, **details: Any) -> Dict[Text, Any]:
    """Say what is wrong, count the failure, and empty only ``slot``."""
    failures = dict(tracker.get_slot("failed_attempts") or {})
    failures[slot] = failures.get(slot, 0) + 1
    dispatcher.utter_message(
        response=f"utter_invalid_{reason}", **{k: _spoken(v) for k, v in details.items()}
    )
    if failures[slot] % MAX_FAILURES == 0:
        # Typed fields get "Intentar otra vez" / "Terminar" buttons; where the
        # answer is itself a button (consent, category…) only the way out is added.
        offer = "utter_offer_continue_or_stop" if slot in RETRYABLE else "utter_offer_stop"
        dispatcher.utter_message(response=offer)
    return {slot: None, "failed_attempts": failures}


def checked(dispatcher, tracker, slot: str, validator, value) -> Dict[Text, Any]:
    """The validator's normalised value in ``slot``, or its refusal."""
    try:
        return accept(tracker, slot, validator(value))
    except Invalid as error:
        return refuse(dispatcher, tracker, slot, error.reason, **error.details)


def skip_empty(validate):
    """Slots emptied on purpose (a fresh start, a correction) need no validation."""

    @functools.wraps(validate)
    def wrapper(self, value, dispatcher, tracker, domain):
        if value is None:
            return {}
        return validate(self, value, dispatcher, tracker, domain)

    return wrapper


def accept(tracker: Tracker, slot: str, value: Any, **more: Any) -> Dict[Text, Any]:
    failures = dict(tracker.get_slot("failed_attempts") or {})
    failures.pop(slot, None)
    return {slot: value, "failed_attempts": failures, **more}


class ValidateCasoForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_caso_form"

    async def run(self, dispatcher, tracker, domain):
        slot = tracker.get_slot("requested_slot")
        if slot != "evidence" and sent_a_file(tracker):
            # A file arrived while the form asks something else: not an answer.
            dispatcher.utter_message(response="utter_invalid_evidence_not_now")
            return [SlotSet(slot, None)] if slot else []
        failures = dict(tracker.get_slot("failed_attempts") or {})
        offered = failures.get(slot, 0) > 0 and failures[slot] % MAX_FAILURES == 0
        if slot in RETRYABLE and offered and latest_intent(tracker) == "affirm":
            # "Intentar otra vez" right after the offer: ask again, count afresh.
            # (Only then: an e-mail or an address can look like a "yes" to the NLU.)
            failures.pop(slot, None)
            return [SlotSet(slot, None), SlotSet("failed_attempts", failures)]
        return await super().run(dispatcher, tracker, domain)

    @skip_empty
    def validate_consent(self, value, dispatcher, tracker, domain):
        intent = latest_intent(tracker)
        if plainly_yes(tracker):
            return accept(tracker, "consent", True,
                          consent_version=consent.current().version,
                          consent_at=utcnow().isoformat(timespec="seconds"))
        if intent == "deny":
            return {"consent": False, "requested_slot": None}  # ends the form
        return refuse(dispatcher, tracker, "consent", "consent")

    @skip_empty
    def validate_cedula(self, value, dispatcher, tracker, domain):
        return checked(dispatcher, tracker, "cedula", cedula.validate, value)

    @skip_empty
    def validate_phone(self, value, dispatcher, tracker, domain):
        return checked(dispatcher, tracker, "phone", phone.validate, value)

    @skip_empty
    def validate_email(self, value, dispatcher, tracker, domain):
        return checked(dispatcher, tracker, "email", email.validate, value)

    @skip_empty
    def validate_province(self, value, dispatcher, tracker, domain):
        try:
            province, canton = territory.find_place(value)
        except Invalid as error:
            return refuse(dispatcher, tracker, "province", error.reason, **error.details)
        filled = accept(tracker, "province", province.name, province_code=province.code,
                        canton=None, canton_code=None)
        if canton is not None:  # "Durán" answers both questions
            filled.update(canton=canton.name, canton_code=canton.code)
        return filled

    @skip_empty
    def validate_canton(self, value, dispatcher, tracker, domain):
        try:
            canton = territory.find_canton(value, tracker.get_slot("province"))
        except Invalid as error:
            return refuse(dispatcher, tracker, "canton", error.reason, **error.details)
        return accept(tracker, "canton", canton.name, canton_code=canton.code)

    @skip_empty
    def validate_address(self, value, dispatcher, tracker, domain):
        return checked(dispatcher, tracker, "address", text.validate_address, value)

    @skip_empty
    def validate_description(self, value, dispatcher, tracker, domain):
        start = tracker.get_slot("description_start")
        if start and latest_intent(tracker) == "deny":
            written = start  # "No, es todo": the first message is the description
        elif start:
            written = f"{start} {value}"
        else:
            written = value
        try:
            described = text.validate_description(written)
        except Invalid as error:
            refused = refuse(dispatcher, tracker, "description", error.reason, **error.details)
            if error.reason == "description_too_short" and start:
                refused["description_start"] = text.clean(written)  # the next answer adds to it
            elif error.reason == "description_too_long":
                refused["description_start"] = None  # start afresh with a summary
            return refused
        return accept(tracker, "description", described, description_start=None)

    @skip_empty
    def validate_category(self, value, dispatcher, tracker, domain):
        kind = tracker.get_slot("case_kind")
        allowed = routing.categories(kind)
        chosen = value if value in allowed else None  # set by the classification
        if chosen is None:
            chosen = next(tracker.get_latest_entity_values("category"), None)  # a button
        if chosen not in allowed and latest_intent(tracker) in allowed:
            chosen = latest_intent(tracker)  # typed instead of tapping a button
        if chosen not in allowed:
            return refuse(dispatcher, tracker, "category", "category")
        return accept(tracker, "category", chosen, category_label=routing.label_of(chosen))

    @skip_empty
    def validate_evidence(self, value, dispatcher, tracker, domain):
        intent = latest_intent(tracker)
        received = next(tracker.get_latest_entity_values("evidence_file"), None)
        refused = next(tracker.get_latest_entity_values("evidence_error"), None)
        if received or refused:  # the channel stored (or refused) a file just now
            if received:
                dispatcher.utter_message(response="utter_evidence_received", file_name=received)
            else:
                kind = tracker.get_slot("case_kind")
                dispatcher.utter_message(
                    response=f"utter_invalid_{refused}",
                    limit_mb=evidence.limit_for(kind) // evidence.MEGABYTE,
                    max_files=evidence.MAX_FILES,
                )
            return {"evidence": None, "awaiting_evidence": True}
        if tracker.get_slot("awaiting_evidence") and intent in ("affirm", "deny"):
            files = len(services.evidence().pending(  # "Listo"
                tracker.sender_id, tracker.get_slot("registration_id")))
            label = f"{files} archivo(s)" if files else EVIDENCE_NONE
            return accept(tracker, "evidence", label, awaiting_evidence=None)
        if intent == "deny":
            return accept(tracker, "evidence", EVIDENCE_NONE)
        if intent == "affirm":
            return {"evidence": None, "awaiting_evidence": True}
        return refuse(dispatcher, tracker, "evidence", "evidence")

    @skip_empty
    def validate_confirmation(self, value, dispatcher, tracker, domain):
        intent = latest_intent(tracker)
        correction = next(tracker.get_latest_entity_values("correction"), None)
        if correction in CORRECTIONS:
            emptied = {slot: None for slot in CORRECTIONS[correction]}
            return {"confirmation": None, **emptied}
        if plainly_yes(tracker):
            return {"confirmation": "yes"}
        if intent == "deny":
            dispatcher.utter_message(response="utter_choose_correction")
            return {"confirmation": None}
        return refuse(dispatcher, tracker, "confirmation", "confirmation")


class ValidateEstadoForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_estado_form"

    @skip_empty
    def validate_lookup_case_number(self, value, dispatcher, tracker, domain):
        number = numbering.parse_case_number(value)
        if number is None:
            dispatcher.utter_message(response="utter_invalid_case_number")
        return {"lookup_case_number": number}

    @skip_empty
    def validate_lookup_key(self, value, dispatcher, tracker, domain):
        key = numbering.normalize_tracking_key(value)
        if key is None:
            dispatcher.utter_message(response="utter_invalid_tracking_key")
        return {"lookup_key": key}


class AskConsent(Action):
    def name(self) -> Text:
        return "action_ask_consent"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_ask_consent", consent_text=consent.current().text)
        return []


class AskDescription(Action):
    def name(self) -> Text:
        return "action_ask_description"

    def run(self, dispatcher, tracker, domain):
        if tracker.get_slot("description_start"):
            dispatcher.utter_message(response="utter_ask_description_more")
        else:
            dispatcher.utter_message(response="utter_ask_description")
        return []


class AskEvidence(Action):
    def name(self) -> Text:
        return "action_ask_evidence"

    def run(self, dispatcher, tracker, domain):
        if tracker.get_slot("awaiting_evidence") and sent_a_file(tracker):
            dispatcher.utter_message(response="utter_ask_evidence_more")
        elif tracker.get_slot("awaiting_evidence"):
            dispatcher.utter_message(response="utter_ask_evidence_upload")
        else:
            dispatcher.utter_message(response="utter_ask_evidence")
        return []


class AskCategory(Action):
    def name(self) -> Text:
        return "action_ask_category"

    def run(self, dispatcher, tracker, domain):
        buttons = [
            {"title": routing.label_of(c).capitalize(), "payload": f'/inform{{"category":"{c}"}}'}
            for c in routing.categories(tracker.get_slot("case_kind"))
        ]
        dispatcher.utter_message(response="utter_ask_category", buttons=buttons)
        return []


class AskConfirmation(Action):
    def name(self) -> Text:
        return "action_ask_confirmation"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            response="utter_ask_confirmation",
            kind_label=tracker.get_slot("case_kind"),
            category_label=tracker.get_slot("category_label"),
            canton_name=tracker.get_slot("canton"),
            province_name=tracker.get_slot("province"),
            evidence_label=tracker.get_slot("evidence"),
        )
        return []
