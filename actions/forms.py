"""The case form and the status form: their validation tables and custom questions.

Each slot's check is a domain validator or a short function of a
:class:`~actions.form_validation.Turn` (:mod:`actions.form_validation` counts the
failures, offers a way out and keeps every other answer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from actions import services
from actions.form_validation import (
    FormValidation,
    Turn,
    Validator,
    sent_a_file,
    typed,
    whatsapp_id,
)
from actions.slots import CORRECTIONS, EMAIL_BY_WHATSAPP
from buzon import consent, evidence, messages, plain_answers, territory
from buzon.cases import numbering, routing
from buzon.clock import utcnow
from buzon.validation import Invalid, in_sentences, phone, text

# Fields the citizen types: an "ok" there ("Intentar otra vez") means "ask me again".
TYPED_SLOTS = frozenset(
    {
        "cedula",
        "phone",
        "email",
        "province",
        "canton",
        "address",
        "description",
        "lookup_case_number",
        "lookup_key",
    }
)


# --- the case form's checks ------------------------------------------------------------


def check_consent(value: Any, turn: Turn) -> dict[str, Any]:
    if turn.plainly_yes():
        return turn.accept(
            "consent",
            True,
            consent_version=consent.current().version,
            consent_at=utcnow().isoformat(timespec="seconds"),
            # data told with the story are taken now that there is consent
            **told_with_the_story(turn),
        )
    if turn.intent == "deny":
        return {"consent": False, "requested_slot": None}  # ends the form
    return turn.refuse("consent", "consent")


def check_province(value: Any, turn: Turn) -> dict[str, Any]:
    try:
        province, canton = territory.find_place(str(value))
    except Invalid as error:
        return turn.refuse("province", error.reason, **error.details)
    filled = turn.accept(
        "province", province.name, province_code=province.code, canton=None, canton_code=None
    )
    if canton is not None:  # "Durán" answers both questions
        filled.update(canton=canton.name, canton_code=canton.code)
    return filled


def check_canton(value: Any, turn: Turn) -> dict[str, Any]:
    try:
        canton = territory.find_canton(str(value), turn.slot("province"))
    except Invalid as error:
        return turn.refuse("canton", error.reason, **error.details)
    return turn.accept("canton", canton.name, canton_code=canton.code)


WHATSAPP_NUMBER = "whatsapp"  # the phone_source of the one-tap button


def check_phone(value: Any, turn: Turn) -> dict[str, Any]:
    if turn.entity("phone_source") == WHATSAPP_NUMBER:
        # «Usar este número de WhatsApp»: the number the channel knows, validated
        number = whatsapp_id(turn.tracker)
        if number is None:
            return turn.refuse("phone", "phone_invalid")
        return typed("phone", phone.validate)(f"+{number}", turn)
    return typed("phone", partial(in_sentences.validate_in, "phone"))(value, turn)


def check_email(value: Any, turn: Turn) -> dict[str, Any]:
    by_whatsapp = whatsapp_id(turn.tracker) is not None
    if turn.entity("contact_preference") == EMAIL_BY_WHATSAPP:
        # «Seguir sin correo»: only where WhatsApp can tell the citizen instead
        if by_whatsapp:
            return turn.accept("email", EMAIL_BY_WHATSAPP)
        return turn.refuse("email", "no_email")
    if "@" not in turn.text and (
        turn.intent == "deny"
        or plain_answers.says_no(turn.text)
        or plain_answers.says_without(turn.text)
    ):
        # "No tengo correo": why it helps and what else to give, not "no parece válido"
        # (counted like any refusal, so the way out is offered after three); on
        # WhatsApp, going on without one is a button away.
        return turn.refuse("email", "no_email_whatsapp" if by_whatsapp else "no_email")
    return typed("email", partial(in_sentences.validate_in, "email"))(value, turn)


def check_description(value: Any, turn: Turn) -> dict[str, Any]:
    start = turn.slot("description_start")
    if start and turn.intent == "deny":
        written = start  # "No, es todo": the first message is the description
    elif start:
        written = f"{start} {value}"
    else:
        written = str(value)
    try:
        described = text.validate_description(written)
    except Invalid as error:
        refused = turn.refuse("description", error.reason, **error.details)
        if error.reason == "description_too_short" and start:
            refused["description_start"] = text.clean(written)  # the next answer adds to it
        elif error.reason == "description_too_long":
            refused["description_start"] = None  # start afresh with a summary
        return refused
    return turn.accept("description", described, description_start=None)


def check_category(value: Any, turn: Turn) -> dict[str, Any]:
    allowed = routing.categories(turn.slot("case_kind"))
    chosen = value if value in allowed else None  # set by the classification
    if chosen is None:
        chosen = turn.entity("category")  # a button
    if chosen not in allowed and turn.intent in allowed:
        chosen = turn.intent  # typed instead of tapping a button
    if chosen not in allowed:
        return turn.refuse("category", "category")
    return turn.accept("category", chosen, category_label=routing.label_of(chosen))


@dataclass(frozen=True)
class EvidenceSlots:
    """Which slots an evidence question uses: the case form's, or the follow-up's."""

    answer: str
    awaiting: str
    batch: str
    kind: str


CASE_EVIDENCE = EvidenceSlots("evidence", "awaiting_evidence", "registration_id", "case_kind")
FOLLOWUP_EVIDENCE = EvidenceSlots(
    "followup_evidence", "awaiting_followup_evidence", "followup_batch", "followup_kind"
)


def evidence_check(slots: EvidenceSlots) -> Validator:
    """The evidence question: "No tengo", "Sí, tengo", files as they arrive, "Listo"."""

    async def check(value: Any, turn: Turn) -> dict[str, Any]:
        received, refused = turn.entity("evidence_file"), turn.entity("evidence_error")
        if received or refused:  # the channel stored (or refused) a file just now
            if received:
                turn.dispatcher.utter_message(
                    response="utter_evidence_received", file_name=received
                )
            else:
                kind = turn.slot(slots.kind)
                turn.dispatcher.utter_message(
                    response=f"utter_invalid_{refused}",
                    limit_mb=evidence.limit_for(kind) // evidence.MEGABYTE,
                    max_files=evidence.MAX_FILES,
                )
            return {slots.answer: None, slots.awaiting: True}
        if turn.slot(slots.awaiting) and turn.intent in ("affirm", "deny"):  # "Listo"
            files = await asyncio.to_thread(
                services.evidence().pending, turn.tracker.sender_id, turn.slot(slots.batch)
            )
            return turn.accept(slots.answer, str(len(files)), **{slots.awaiting: None})
        if turn.intent == "deny":
            return turn.accept(slots.answer, "0")  # the slot holds how many files
        if turn.intent == "affirm":
            return {slots.answer: None, slots.awaiting: True}
        return turn.refuse(slots.answer, "evidence")

    return check


def check_confirmation(value: Any, turn: Turn) -> dict[str, Any]:
    correction = turn.entity("correction")
    if correction in CORRECTIONS:
        emptied = {"confirmation": None, **{slot: None for slot in CORRECTIONS[correction]}}
        return {**emptied, **corrected_in_place(turn, correction)}
    if turn.plainly_yes():
        return {"confirmation": "yes"}
    if turn.intent == "deny":
        turn.dispatcher.utter_message(response="utter_choose_correction")
        return {"confirmation": None}
    return turn.refuse("confirmation", "confirmation")


class ValidateCaseForm(FormValidation):
    retryable = TYPED_SLOTS
    evidence_slot = CASE_EVIDENCE.answer

    def name(self) -> str:
        return "validate_case_form"

    def validators(self) -> dict[str, Validator]:
        return {
            "consent": check_consent,
            # the value alone, or found in a sentence ("mi cédula es …")
            "cedula": typed("cedula", partial(in_sentences.validate_in, "cedula")),
            "phone": check_phone,
            "email": check_email,
            "province": check_province,
            "canton": check_canton,
            "address": typed("address", text.validate_address),
            "description": check_description,
            "category": check_category,
            "evidence": evidence_check(CASE_EVIDENCE),
            "confirmation": check_confirmation,
        }

    async def get_validation_events(self, dispatcher, tracker, domain):
        events = await super().get_validation_events(dispatcher, tracker, domain)
        if tracker.get_slot("requested_slot") not in PERSONAL_QUESTIONS:
            return events
        filled = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
        more = also_given(self.turn(dispatcher, tracker), filled)
        return events + [SlotSet(name, value) for name, value in more.items()]


def corrected_in_place(turn: Turn, field: str) -> dict[str, Any]:
    """A correction that names its value ("no, el cantón es Durán"): the value, checked
    like an answer to its question. Nothing when there is none or it does not pass:
    the question is asked again, with its reasons."""
    label = next(
        (e for e in turn.tracker.latest_message.get("entities", [])
         if e.get("entity") == "correction" and e.get("end") is not None),
        None,
    )  # fmt: skip
    if label is None:
        return {}
    named = in_sentences.after_label(turn.text[label["end"] :])
    if not named:
        return {}
    try:
        if field in ("cedula", "phone", "email"):
            return {field: in_sentences.validate_in(field, named)}
        if field == "address":
            return {"address": text.validate_address(named)}
        if field in ("province", "canton"):
            try:
                return place_slots(canton=territory.find_canton(named, turn.slot("province")))
            except Invalid:
                return place_slots(*territory.find_place(named))
    except Invalid:
        return {}
    return {}


def told_with_the_story(turn: Turn) -> dict[str, Any]:
    """Cédula, phone and e-mail the citizen wrote as theirs ("mi cédula es …") in the
    story that started the case, each validated. A story names other people's
    numbers too (the official's phone, an IESS address): only "mi …" values count,
    and the summary shows them before anything is registered."""
    story = turn.slot("description_start") or ""
    return {f: v for f, v in in_sentences.own_values(story).items() if turn.slot(f) is None}


# Questions whose answer may carry the others too: "soy de Loja, cédula …, celular …".
PERSONAL_QUESTIONS = frozenset({"cedula", "phone", "email", "province", "canton"})


def also_given(turn: Turn, filled: dict[str, Any]) -> dict[str, Any]:
    """Personal data the citizen gave beside the answer asked for, each validated.

    Only when the answer asked for was taken (a refused cédula is no phone), only
    for fields still empty, only values a word names ("celular 099…", "soy de
    Loja"), and silently: a value that does not validate is left for its own
    question, which comes anyway.
    """
    asked = turn.slot("requested_slot")
    if filled.get(asked) is None:
        return {}
    empty = {f for f in ("cedula", "phone", "email", "province", "canton")
             if filled.get(f, turn.slot(f)) is None}  # fmt: skip
    given: dict[str, Any] = {
        field: found.normal
        for field, found in in_sentences.find_all(turn.text, asked=asked).items()
        if field in empty and field != asked and found.labelled
    }
    if "province" in empty and asked not in ("province", "canton"):
        given.update(_place_named(turn, "canton" in empty))
    return given


def _place_named(turn: Turn, canton_empty: bool) -> dict[str, Any]:
    """The province (and canton) of a place named as the citizen's ("soy de Loja")."""
    text = turn.text
    for entity in turn.tracker.latest_message.get("entities", []):
        start, end = entity.get("start"), entity.get("end")
        if entity.get("entity") not in ("canton", "province") or start is None:
            continue
        word = text[max(0, start - 64) : end + 64].split()
        if any("@" in w and entity.get("value", "").lower() in w.lower() for w in word):
            continue  # "loja.ana@…" is no place
        if not in_sentences.place_named_at(text, start):
            continue  # "Mira, yo ya di todo" is no canton
        try:
            province, canton = territory.find_place(str(entity["value"]))
        except Invalid:
            continue
        return place_slots(province, canton if canton_empty else None)
    return {}


def place_slots(
    province: territory.Province | None = None, canton: territory.Canton | None = None
) -> dict[str, Any]:
    """The slots a province and a canton fill (the ones given)."""
    slots: dict[str, Any] = {}
    if province is not None:
        slots.update(province=province.name, province_code=province.code)
    if canton is not None:
        slots.update(canton=canton.name, canton_code=canton.code)
    return slots


class ValidateStatusForm(FormValidation):
    retryable = TYPED_SLOTS

    def name(self) -> str:
        return "validate_status_form"

    def validators(self) -> dict[str, Validator]:
        return {
            "lookup_case_number": typed("lookup_case_number", numbering.validate_case_number),
            "lookup_key": typed("lookup_key", numbering.validate_tracking_key),
        }

    async def get_validation_events(self, dispatcher, tracker, domain):
        events = await super().get_validation_events(dispatcher, tracker, domain)
        number_given = any(e.get("name") == "lookup_case_number" and e.get("value") for e in events)
        if number_given and tracker.get_slot("lookup_key") is None:
            # "IESS-Q-2026-000123 clave abcd-efgh-jkmn": both in one message
            key = numbering.find_in(self.turn(dispatcher, tracker).text)[1]
            if key:
                events.append(SlotSet("lookup_key", key))
        return events


class AskConsent(Action):
    def name(self) -> str:
        return "action_ask_consent"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_ask_consent", consent_text=consent.current().text)
        return []


class AskDescription(Action):
    def name(self) -> str:
        return "action_ask_description"

    def run(self, dispatcher, tracker, domain):
        if tracker.get_slot("description_start"):
            dispatcher.utter_message(response="utter_ask_description_more")
        else:
            dispatcher.utter_message(response="utter_ask_description")
        return []


class AskEvidence(Action):
    """The evidence question: first the offer, then «send your files», then «another?»."""

    slots = CASE_EVIDENCE
    offer = "utter_ask_evidence"

    def name(self) -> str:
        return "action_ask_evidence"

    def run(self, dispatcher, tracker, domain):
        if tracker.get_slot(self.slots.awaiting) and sent_a_file(tracker):
            dispatcher.utter_message(response="utter_ask_evidence_more")
        elif tracker.get_slot(self.slots.awaiting):
            dispatcher.utter_message(response="utter_ask_evidence_upload")
        else:
            dispatcher.utter_message(response=self.offer)
        return []


class AskPhone(Action):
    """The phone question; on WhatsApp, the number they write from is one tap away."""

    def name(self) -> str:
        return "action_ask_phone"

    def run(self, dispatcher, tracker, domain):
        if whatsapp_id(tracker) is None:
            dispatcher.utter_message(response="utter_ask_phone")
            return []
        button = {
            "title": messages.text("use_whatsapp_number"),
            "payload": f'/inform{{"phone_source":"{WHATSAPP_NUMBER}"}}',
        }
        dispatcher.utter_message(response="utter_ask_phone", buttons=[button])
        return []


class AskCategory(Action):
    def name(self) -> str:
        return "action_ask_category"

    def run(self, dispatcher, tracker, domain):
        kind = tracker.get_slot("case_kind")
        buttons = [
            {"title": routing.label_of(c).capitalize(), "payload": f'/inform{{"category":"{c}"}}'}
            for c in routing.categories(kind)
        ]
        other = {"queja": "denuncia", "denuncia": "queja"}.get(kind)
        if other:  # the other kind's categories are one tap away (the kind switches)
            buttons.append(
                {"title": messages.text(f"category_other_kind_{other}"),
                 "payload": f"/register_{other}"}
            )  # fmt: skip
        dispatcher.utter_message(response="utter_ask_category", buttons=buttons)
        return []


class AskConfirmation(Action):
    def name(self) -> str:
        return "action_ask_confirmation"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            response="utter_ask_confirmation",
            kind_label=tracker.get_slot("case_kind"),
            category_label=tracker.get_slot("category_label"),
            canton_name=tracker.get_slot("canton"),
            province_name=tracker.get_slot("province"),
            evidence_label=messages.evidence_label(int(tracker.get_slot("evidence") or 0)),
            **email_line(tracker),
        )
        return []


def email_line(tracker: Any) -> dict[str, str]:
    """The summary's e-mail line when the citizen chose WhatsApp (the slot's value else)."""
    if tracker.get_slot("email") == EMAIL_BY_WHATSAPP:
        return {"email": messages.text("email_by_whatsapp")}
    return {}
