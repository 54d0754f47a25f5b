"""A tracker's events as redacted conversations: what the trainers' files are made of.

:func:`read_conversations` takes the events of each sender as Rasa writes them
(plain dicts, ``{"event": "user", "text": ..., "parse_data": ...}``), splits them
into conversations at each ``session_started`` and keeps, in order:

- every user message (:class:`UserMessage`): its text redacted
  (:func:`buzon.training.redaction.redact_message`, whole when it answers a question
  for a personal field), the predicted intent, its confidence and the runner-up
  guesses, the entities with redacted values, the form and question it answered;
- the actions the bot ran, the forms it opened and closed, the slots it set
  (redacted, :func:`buzon.training.redaction.redact_slot`) and the responses it
  sent (their names only: the bot's texts echo the citizen's data).

Nothing else leaves: no sender id (conversations are numbered ``c0001``…), no
time, no metadata, no bot text. A text the tracker store already erased (after
a registration, «cancelar» or a look-up, :mod:`persistence.conversation_privacy`)
stays ``None``.

>>> [conversation] = read_conversations([[
...     {"event": "slot", "name": "requested_slot", "value": "phone"},
...     {"event": "active_loop", "name": "case_form"},
...     {"event": "user", "text": "0998765432", "parse_data": {
...         "intent": {"name": "inform", "confidence": 0.9}}},
... ]])
>>> conversation.messages[0].text, conversation.messages[0].requested_slot
('<telefono>', 'phone')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from buzon.training import redaction

FALLBACK_INTENT = "nlu_fallback"
# Rasa's own default when config.yml's FallbackClassifier gives none.
DEFAULT_FALLBACK_THRESHOLD = 0.3
# Two guesses closer than this are a close call.
DEFAULT_CLOSE_CALL_MARGIN = 0.2
# Actions every turn has; they say nothing about the conversation.
SILENT_ACTIONS = frozenset({"action_listen", "action_session_start"})


def fallback_threshold(config: Mapping[str, Any] | None) -> float:
    """The FallbackClassifier's threshold in a ``config.yml`` read as a dict.

    >>> fallback_threshold({"pipeline": [{"name": "FallbackClassifier", "threshold": 0.35}]})
    0.35
    >>> fallback_threshold({"pipeline": [{"name": "WhitespaceTokenizer"}]})
    0.3
    """
    for component in (config or {}).get("pipeline") or []:
        if isinstance(component, Mapping) and component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", DEFAULT_FALLBACK_THRESHOLD))
    return DEFAULT_FALLBACK_THRESHOLD


@dataclass(frozen=True)
class Guess:
    intent: str
    confidence: float


@dataclass(frozen=True)
class Entity:
    name: str
    value: Any  # redacted; None when the tracker store erased it


@dataclass(frozen=True)
class UserMessage:
    """One message of a citizen, redacted, with what the NLU made of it."""

    conversation: str
    turn: int  # 1 for the conversation's first user message
    text: str | None  # redacted; None when erased (or a button)
    button: bool  # a button's payload ("/affirm"), not typed words
    intent: str | None
    confidence: float | None
    guesses: tuple[Guess, ...]  # the ranking without nlu_fallback, best first
    entities: tuple[Entity, ...]
    active_loop: str | None
    requested_slot: str | None

    @property
    def best_guess(self) -> Guess | None:
        """The best intent other than nlu_fallback (what the classifier thought)."""
        if self.guesses:
            return self.guesses[0]
        if self.intent and self.intent != FALLBACK_INTENT and self.confidence is not None:
            return Guess(self.intent, self.confidence)
        return None

    def misunderstood(self, threshold: float) -> bool:
        """Predicted nlu_fallback, or the best guess below the fallback threshold."""
        if self.button:
            return False
        best = self.best_guess
        return self.intent == FALLBACK_INTENT or (best is not None and best.confidence < threshold)

    @property
    def margin(self) -> float | None:
        """How far the best guess is ahead of the second one."""
        if len(self.guesses) < 2:
            return None
        return self.guesses[0].confidence - self.guesses[1].confidence

    def close_call(self, margin: float) -> bool:
        return not self.button and self.margin is not None and self.margin < margin

    @property
    def labelable(self) -> bool:
        """Typed words a trainer can label (not erased, not only placeholders)."""
        return not self.button and not redaction.only_placeholders(self.text)


@dataclass(frozen=True)
class Action:
    name: str


@dataclass(frozen=True)
class BotResponse:
    name: str  # the response (utter_…) the bot sent; never its text


@dataclass(frozen=True)
class LoopChange:
    name: str | None  # the form that became active; None when it ended


@dataclass(frozen=True)
class SlotChange:
    name: str
    value: Any  # redacted


Step = UserMessage | Action | BotResponse | LoopChange | SlotChange


@dataclass
class Conversation:
    id: str
    steps: list[Step] = field(default_factory=list)

    @property
    def messages(self) -> list[UserMessage]:
        return [step for step in self.steps if isinstance(step, UserMessage)]


def _guesses(parse: Mapping[str, Any]) -> tuple[Guess, ...]:
    ranking = parse.get("intent_ranking") or []
    found = []
    for item in ranking:
        if isinstance(item, Mapping) and item.get("name") and item.get("name") != FALLBACK_INTENT:
            found.append(Guess(str(item["name"]), float(item.get("confidence") or 0.0)))
    return tuple(sorted(found, key=lambda g: -g.confidence))


def _is_button(text: str | None, confidence: float | None, guesses: Sequence[Guess]) -> bool:
    """A payload such as ``/affirm``; once erased, told by the payload's sure guess."""
    if text is not None:
        return text.lstrip().startswith("/")
    return confidence == 1.0 and len(guesses) <= 1


class _Reader:
    """Walks one sender's events, keeping the form and question in force."""

    def __init__(self) -> None:
        self.conversations: list[Conversation] = []
        self.current: Conversation | None = None
        self.active_loop: str | None = None
        self.requested_slot: str | None = None

    def _conversation(self) -> Conversation:
        if self.current is None:
            self.current = Conversation(id="")
            self.conversations.append(self.current)
        return self.current

    def start_session(self) -> None:
        self.current = None
        self.active_loop = None
        self.requested_slot = None

    def user(self, event: Mapping[str, Any]) -> None:
        parse = event.get("parse_data") or {}
        intent = parse.get("intent") or {}
        raw_text = event.get("text")
        confidence = intent.get("confidence")
        confidence = float(confidence) if confidence is not None else None
        guesses = _guesses(parse)
        button = _is_button(raw_text, confidence, guesses)
        asked = self.requested_slot if self.active_loop else None
        conversation = self._conversation()
        conversation.steps.append(
            UserMessage(
                conversation="",
                turn=len(conversation.messages) + 1,
                text=None if button else redaction.redact_message(raw_text, asked),
                button=button,
                intent=intent.get("name") or None,
                confidence=confidence,
                guesses=guesses,
                entities=tuple(
                    Entity(**_renamed(redaction.redact_entity(e)))
                    for e in parse.get("entities") or event.get("entities") or []
                    if isinstance(e, Mapping) and e.get("entity")
                ),
                active_loop=self.active_loop,
                requested_slot=asked,
            )
        )

    def other(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        if kind == "action" and event.get("name") and event["name"] not in SILENT_ACTIONS:
            self._conversation().steps.append(Action(str(event["name"])))
        elif kind == "bot":
            response = (event.get("metadata") or {}).get("utter_action")
            if response:
                self._conversation().steps.append(BotResponse(str(response)))
        elif kind == "active_loop":
            self.active_loop = event.get("name") or None
            if self.active_loop is None:
                self.requested_slot = None
            self._conversation().steps.append(LoopChange(self.active_loop))
        elif kind == "slot" and event.get("name"):
            name = str(event["name"])
            if name == "requested_slot":
                self.requested_slot = event.get("value")
            if redaction.slot_is_exported(name):
                value = redaction.redact_slot(name, event.get("value"))
                self._conversation().steps.append(SlotChange(name, value))
        elif kind in ("restart", "session_started"):
            self.start_session()


def _renamed(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": entity["entity"], "value": entity.get("value")}


def read_conversations(senders: Iterable[Iterable[Mapping[str, Any]]]) -> list[Conversation]:
    """The conversations (with at least one user message) in each sender's events, redacted."""
    found: list[Conversation] = []
    for events in senders:
        reader = _Reader()
        for event in events:
            if event.get("event") == "user":
                reader.user(event)
            else:
                reader.other(event)
        found += [c for c in reader.conversations if c.messages]
    for index, conversation in enumerate(found, start=1):
        conversation.id = f"c{index:04d}"
        conversation.steps = [
            replace(step, conversation=conversation.id) if isinstance(step, UserMessage) else step
            for step in conversation.steps
        ]
    return found
