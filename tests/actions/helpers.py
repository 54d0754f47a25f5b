"""Calling the custom actions directly, as the action server would, without Rasa.

``make_tracker`` builds a real :class:`rasa_sdk.Tracker` for one user turn;
``run_action`` runs an action with a :class:`CollectingDispatcher` and returns
an :class:`Outcome`; ``answer`` is one answer to a form question, validated by
the form's validation action exactly as Rasa calls it (the slot candidate is the
last event of the tracker).

Every message an action sends is checked on the way: the response exists in
``domain.yml`` and every ``{variable}`` of its text is either passed by the
action or a slot that is set, so Rasa can fill it.
"""

from __future__ import annotations

import asyncio
import inspect
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from buzon import consent
from buzon.clock import utcnow
from tests import synthetic

ROOT = Path(__file__).resolve().parents[2]

with (ROOT / "domain.yml").open(encoding="utf-8") as _handle:
    DOMAIN: dict[str, Any] = yaml.safe_load(_handle)

SLOT_NAMES = tuple(DOMAIN["slots"])
# What CollectingDispatcher.utter_message puts in every message; the rest are
# the template variables the action passes.
_MESSAGE_FIELDS = {
    "text",
    "buttons",
    "elements",
    "custom",
    "template",
    "response",
    "image",
    "attachment",
}

CEDULA = synthetic.cedula("171234567")
# A complete, already validated case (synthetic data), as the form leaves it.
CASE = {
    "case_kind": "queja",
    "category": "queja_turnos",
    "category_label": "problemas con turnos o citas",
    "consent": True,
    "consent_version": consent.current().version,
    # Given minutes ago: the case store refuses a consent from the future or of last week.
    "consent_at": (utcnow() - timedelta(minutes=10)).isoformat(timespec="seconds"),
    "cedula": CEDULA,
    "phone": "+593987654321",
    "email": "ciudadana@example.com",
    "province": "Guayas",
    "province_code": "09",
    "canton": "Guayaquil",
    "canton_code": "0901",
    "address": "Av. 9 de Octubre 100 y Malecón",
    "description": "Llevo tres meses sin conseguir turno para cardiología en el hospital.",
    "evidence": "0",  # how many files
}


def slots(values: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """Every domain slot (and ``requested_slot``) empty, except ``values``."""
    filled = dict.fromkeys(SLOT_NAMES)
    filled["requested_slot"] = None
    filled.update(values or {})
    filled.update(more)
    return filled


def make_tracker(
    slot_values: dict[str, Any] | None = None,
    *,
    text: str = "",
    intent: str | None = None,
    confidence: float = 0.95,
    ranking: list[dict[str, Any]] | None = None,
    entities: Iterable[dict[str, Any]] = (),
    form: str | None = None,
    sender_id: str = "test-sender",
    input_channel: str | None = None,
    metadata: dict[str, Any] | None = None,
    history: Iterable[dict[str, Any]] = (),
    after_user: Iterable[dict[str, Any]] = (),
) -> Tracker:
    """A tracker right after the user said ``text`` (classified as ``intent``).

    ``history`` are events of earlier turns; ``after_user`` those that came after
    the user message in this turn (slot candidates for a form, a deactivated loop…).
    """
    entities = [dict(e) for e in entities]
    intent_data = {"name": intent, "confidence": confidence} if intent else {}
    if ranking is None:
        ranking = [intent_data] if intent else []
    latest = {
        "text": text,
        "intent": intent_data,
        "intent_ranking": ranking,
        "entities": entities,
    }
    events = [
        *history,
        {"event": "action", "name": "action_listen"},
        {
            "event": "user",
            "text": text,
            "parse_data": latest,
            "input_channel": input_channel,
            "metadata": metadata or {},
        },
        *after_user,
    ]
    return Tracker(
        sender_id,
        slots(slot_values),
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


@dataclass
class Outcome:
    """What an action did: the slots before, its events and its messages."""

    before: dict[str, Any]
    events: list[dict[str, Any]]
    messages: list[dict[str, Any]]

    @property
    def responses(self) -> list[str]:
        return [m["response"] for m in self.messages]

    @property
    def changes(self) -> dict[str, Any]:
        """Slot -> value for every SlotSet, the last one winning."""
        return {e["name"]: e["value"] for e in self.events if e.get("event") == "slot"}

    @property
    def slots(self) -> dict[str, Any]:
        """The slots once the events are applied."""
        return {**self.before, **self.changes}

    def emptied(self, slots: Iterable[str], **also: Any) -> bool:
        """``slots`` empty afterwards, ``also`` set to its values, and nothing else touched;
        no event emptying a slot that was empty already (each is stored and replayed on
        every later turn)."""
        slots = set(slots)
        after = self.slots
        return (
            all(after.get(slot) is None for slot in slots)
            and all(after.get(name) == value for name, value in also.items())
            and set(self.changes) <= slots | set(also)
            and all(self.before.get(name) is not None for name in set(self.changes) - set(also))
        )

    def changed(self) -> dict[str, Any]:
        """Only the slots whose value is different after the action."""
        after = self.slots
        return {k: after[k] for k in after if after[k] != self.before.get(k)}

    def sent(self, response: str) -> dict[str, Any]:
        """The one message with ``response``; fails when there is none or several."""
        found = [m for m in self.messages if m["response"] == response]
        assert len(found) == 1, f"{response} sent {len(found)} times: {self.responses}"
        return found[0]


def passed_variables(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in _MESSAGE_FIELDS}


def template_variables(response: str) -> set:
    """The ``{names}`` in every text variant of ``response`` in the domain."""
    names = set()
    for variant in DOMAIN["responses"][response]:
        for _, field, _, _ in string.Formatter().parse(variant.get("text") or ""):
            if field:
                names.add(field)
    return names


def check_utterable(message: dict[str, Any], slot_values: dict[str, Any]) -> None:
    """The response exists and Rasa has a value for each of its variables."""
    response = message["response"]
    assert response in DOMAIN["responses"], f"{response} is not in domain.yml"
    known = set(passed_variables(message)) | {k for k, v in slot_values.items() if v is not None}
    missing = template_variables(response) - known
    assert not missing, f"{response} needs {sorted(missing)}, which nobody supplies"


def run_action(action, tracker: Tracker) -> Outcome:
    """Run ``action`` as the action server does (``asyncio.run`` for async ones)."""
    dispatcher = CollectingDispatcher()
    before = dict(tracker.slots)
    result = action.run(dispatcher, tracker, DOMAIN)
    events = asyncio.run(result) if inspect.iscoroutine(result) else result
    for message in dispatcher.messages:
        check_utterable(message, before)
    return Outcome(before, list(events), dispatcher.messages)


def answer(
    form_validation,
    slot: str,
    value: Any,
    *,
    given: dict[str, Any] | None = None,
    intent: str = "inform",
    entities: Iterable[dict[str, Any]] = (),
    text: str | None = None,
    **tracker_options: Any,
) -> Outcome:
    """``value`` as the answer to the question for ``slot``, validated by the form.

    ``given`` are the slots already filled. The tracker ends with the slot
    candidate, which is how Rasa hands it to ``validate_<slot>``.
    """
    values = dict(given or {})
    values.update({"requested_slot": slot, slot: value})
    tracker = make_tracker(
        values,
        text=value if text is None else text,
        intent=intent,
        entities=entities,
        form=form_validation.form_name(),
        after_user=[SlotSet(slot, value)],
        **tracker_options,
    )
    return run_action(form_validation, tracker)
