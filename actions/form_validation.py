"""The validation of a form as a table: each slot, the function that checks it.

RasaHQ's financial-demo calls its equivalent ``CustomFormValidationAction``. A form
declares :meth:`FormValidation.validators`, a table from slot name to a function
``(value, turn) -> dict`` of slot values. The functions are mostly one of the
domain's validators (:mod:`buzon.validation`, :mod:`buzon.territory`,
:mod:`buzon.cases.numbering`), each raising the same
:class:`~buzon.validation.Invalid`, wrapped by :func:`typed`.

What every form gets from the base class:

- a slot emptied on purpose (a fresh start, a correction) is not validated;
- a refusal sends ``utter_invalid_<reason>`` and empties only that slot, so the
  question is asked again and nothing else the citizen gave is lost;
- a file that arrives while the form asks something else than ``evidence_slot``
  is not an answer: ``utter_invalid_evidence_not_now``, and the question again;
- after ``MAX_FAILURES`` refusals on one slot the bot offers to go on or stop
  (``utter_offer_continue_or_stop`` with «Intentar otra vez» for typed answers,
  ``utter_offer_stop`` where the answer is a button); «Intentar otra vez» right
  after that offer asks the question again and counts afresh.
"""

from __future__ import annotations

import inspect
import re
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.slots import CANCEL_PENDING
from buzon import plain_answers
from buzon.validation import Invalid

MAX_FAILURES = 3
FAILURES_SLOT = "failed_attempts"


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


WA_ID = re.compile(r"\d{8,15}")


def whatsapp_id(tracker: Tracker) -> str | None:
    """The WhatsApp number the WhatsApp channel put in the message's metadata."""
    if tracker.get_latest_input_channel() != "whatsapp":
        return None
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            wa_id = (event.get("metadata") or {}).get("wa_id")
            # only a number: anything else would make the case store refuse the case
            return wa_id if isinstance(wa_id, str) and WA_ID.fullmatch(wa_id) else None
    return None


def sent_a_file(tracker: Tracker) -> bool:
    """Whether the latest message is a channel's note about an uploaded file."""
    return any(
        e.get("entity") in ("evidence_file", "evidence_error")
        for e in tracker.latest_message.get("entities", [])
    )


def _spoken(value: Any) -> Any:
    return ", ".join(value) if isinstance(value, (list, tuple)) else value


class Turn:
    """One validation call: what the citizen just said, and the way to answer."""

    def __init__(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, retryable: frozenset[str]
    ) -> None:
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.retryable = retryable

    @property
    def intent(self) -> str | None:
        return latest_intent(self.tracker)

    @property
    def text(self) -> str:
        return (self.tracker.latest_message.get("text") or "").strip()

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    def entity(self, name: str) -> Any:
        return next(self.tracker.get_latest_entity_values(name), None)

    def plainly_yes(self) -> bool:
        """A yes that is no guess: the button (its payload) or plainly affirmative words.

        The classifier reads "yes" into noise ("?", "👍"); consent and the final
        confirmation take only this.
        """
        return self.intent == "affirm" and (
            self.text.startswith("/affirm") or plain_answers.is_plain_yes(self.text)
        )

    def _failures(self) -> dict[str, int]:
        return dict(self.slot(FAILURES_SLOT) or {})

    def accept(self, slot: str, value: Any, **more: Any) -> dict[str, Any]:
        """``value`` in ``slot`` (and ``more`` slots), its failures forgotten (the count is
        set only when it changes: an unchanged one was an event stored every turn)."""
        failures = self._failures()
        if slot not in failures:
            return {slot: value, **more}
        failures.pop(slot)
        return {slot: value, FAILURES_SLOT: failures, **more}

    def refuse(self, slot: str, reason: str, **details: Any) -> dict[str, Any]:
        """Say what is wrong, count the failure, and empty only ``slot``."""
        failures = self._failures()
        failures[slot] = failures.get(slot, 0) + 1
        self.dispatcher.utter_message(
            response=f"utter_invalid_{reason}", **{k: _spoken(v) for k, v in details.items()}
        )
        if failures[slot] % MAX_FAILURES == 0:
            offer = "utter_offer_continue_or_stop" if slot in self.retryable else "utter_offer_stop"
            self.dispatcher.utter_message(response=offer)
        return {slot: None, FAILURES_SLOT: failures}

    def just_offered_a_retry(self, slot: str) -> bool:
        count = self._failures().get(slot, 0)
        return slot in self.retryable and count > 0 and count % MAX_FAILURES == 0


Validator = Callable[[Any, Turn], "dict[str, Any] | Awaitable[dict[str, Any]]"]


def typed(slot: str, validate: Callable[[str], Any]) -> Validator:
    """A domain validator as a table entry: its normalised value, or its refusal."""

    def check(value: Any, turn: Turn) -> dict[str, Any]:
        try:
            return turn.accept(slot, validate(str(value)))
        except Invalid as error:
            return turn.refuse(slot, error.reason, **error.details)

    return check


class FormValidation(FormValidationAction):
    """Base of this project's form validations (see the module's docstring)."""

    #: Slots the citizen types: «Intentar otra vez» is offered for them.
    retryable: frozenset[str] = frozenset()
    #: The slot that takes files, if the form asks for any.
    evidence_slot: str | None = None

    @abstractmethod
    def validators(self) -> dict[str, Validator]:
        """Each slot of the form, the function that checks it."""

    def turn(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Turn:
        return Turn(dispatcher, tracker, self.retryable)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        slot = tracker.get_slot("requested_slot")
        if self.evidence_slot and slot != self.evidence_slot and sent_a_file(tracker):
            # A file arrived while the form asks something else: not an answer.
            dispatcher.utter_message(response="utter_invalid_evidence_not_now")
            return [SlotSet(slot, None)] if slot else []
        turn = self.turn(dispatcher, tracker)
        if tracker.get_slot(CANCEL_PENDING):
            # The answer to «¿Seguro que desea cancelar?»: "no" means go on, and is no
            # answer to the form's question, which is asked again; anything else is.
            if turn.intent == "deny" and slot:
                return [SlotSet(CANCEL_PENDING, None), SlotSet(slot, None)]
            return [SlotSet(CANCEL_PENDING, None)] + await super().run(dispatcher, tracker, domain)
        if slot and turn.just_offered_a_retry(slot) and turn.intent == "affirm":
            # "Intentar otra vez" right after the offer: ask again, count afresh.
            # (Only then: an e-mail or an address can look like a "yes" to the NLU.)
            failures = turn._failures()
            failures.pop(slot, None)
            return [SlotSet(slot, None), SlotSet(FAILURES_SLOT, failures)]
        return await super().run(dispatcher, tracker, domain)

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        turn = self.turn(dispatcher, tracker)
        table = self.validators()
        slots: dict[str, Any] = {
            name: value for name, value in tracker.slots_to_validate().items() if name in required
        }
        for name, value in list(slots.items()):
            if value is None or name not in table:  # emptied on purpose: nothing to check
                continue
            output = table[name](value, turn)
            if inspect.isawaitable(output):
                output = await output
            slots.update(output)
            tracker.slots.update(output)  # later validators see what earlier ones decided
        return [SlotSet(name, value) for name, value in slots.items()]
