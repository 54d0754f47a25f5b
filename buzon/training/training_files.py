"""Redacted conversations as Rasa 3 YAML for annotation: ``nlu.yml`` and ``test_stories.yml``.

``nlu.yml`` holds the citizens' typed messages grouped under the intent the NLU
predicted (``nlu_fallback`` included: those need a label most), once per wording,
each after a comment with the predicted intent and confidence, how often it was
seen and where (conversation and turn). ``test_stories.yml`` holds one test story
per conversation: ``user:`` with the redacted text and the predicted ``intent:``,
the actions, the forms (``active_loop``) and the slots as they were set (redacted),
with comments for the confidence and the responses the bot sent.

Rasa reads ``[text](entity)`` and ``{...}`` in an example as entity annotations:
the citizens' own brackets become parentheses, and the placeholders use ``< >``.
Strings are written as JSON strings, which YAML reads as double-quoted scalars.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from buzon.training.conversations import (
    FALLBACK_INTENT,
    Action,
    BotResponse,
    Conversation,
    LoopChange,
    SlotChange,
    UserMessage,
)

_BRACKETS = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")"})


def example_text(text: str) -> str:
    """A redacted text as it may stand in Rasa's YAML (no entity annotation in it).

    >>> example_text("la [cita] {urgente}")
    'la (cita) (urgente)'
    """
    return " ".join(text.translate(_BRACKETS).split())


def _scalar(value: Any) -> str:
    """A YAML scalar (or flow collection) for ``value``; JSON is valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _prediction(message: UserMessage, threshold: float) -> str:
    parts = [f"predicted {message.intent or '?'}"]
    if message.confidence is not None:
        parts[0] += f" {message.confidence:.2f}"
    best = message.best_guess
    if best and best.intent != message.intent:
        parts.append(f"best guess {best.intent} {best.confidence:.2f}")
    if message.misunderstood(threshold):
        parts.append(f"below the fallback threshold {threshold:g}")
    if len(message.guesses) > 1:
        second = message.guesses[1]
        parts.append(f"second {second.intent} {second.confidence:.2f}")
    return ", ".join(parts)


def nlu_yaml(conversations: Iterable[Conversation], threshold: float) -> str:
    """The typed messages as NLU examples under their predicted intents."""
    by_intent: dict[str, dict[str, list[UserMessage]]] = {}
    for conversation in conversations:
        for message in conversation.messages:
            if not message.labelable or not message.intent or message.text is None:
                continue
            text = example_text(message.text)
            wording = text.lower()
            by_intent.setdefault(message.intent, {}).setdefault(wording, []).append(message)
    lines = [
        'version: "3.1"',
        "# Citizens' messages from the tracker store, redacted, grouped under the intent the",
        "# NLU predicted (make export-conversations). Check each label against",
        "# docs/annotation-guide.md before moving an example into data/nlu/; the examples",
        f"# under {FALLBACK_INTENT} were not understood and need one.",
        "nlu:",
    ]
    intents = sorted(by_intent, key=lambda name: (name == FALLBACK_INTENT, name))
    for intent in intents:
        lines += [f"  - intent: {_scalar(intent)}", "    examples:"]
        wordings = sorted(by_intent[intent].values(), key=lambda ms: (-len(ms), ms[0].text or ""))
        for messages in wordings:
            first = messages[0]
            where = ", ".join(f"{m.conversation} turn {m.turn}" for m in messages[:3])
            seen = f"seen {len(messages)} times" if len(messages) > 1 else "seen once"
            lines.append("      " + _comment(f"{_prediction(first, threshold)}; {seen} ({where})"))
            lines.append(f"      - text: {_scalar(example_text(first.text or ''))}")
    if not intents:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


def _user_step(message: UserMessage, threshold: float) -> list[str]:
    note = _prediction(message, threshold)
    if message.button:
        note = "a button; " + note
    elif message.text is None:
        note = "text erased by the tracker store; " + note
    lines = ["      " + _comment(f"{message.conversation} turn {message.turn}: {note}")]
    intent = message.intent
    if message.text is not None and not message.button:
        lines.append(f"      - user: {_scalar(example_text(message.text))}")
        if intent:
            lines.append(f"        intent: {_scalar(intent)}")
        return lines
    if not intent:
        return lines[:1]
    lines.append(f"      - intent: {_scalar(intent)}")
    if message.entities:
        lines.append("        entities:")
        for entity in message.entities:
            if entity.value is None:
                lines.append(f"          - {_scalar(entity.name)}")
            else:
                lines.append(f"          - {_scalar(entity.name)}: {_scalar(entity.value)}")
    return lines


def stories_yaml(conversations: Iterable[Conversation], threshold: float) -> str:
    """One test story per conversation, in Rasa's test-story format."""
    lines = [
        'version: "3.1"',
        "# One test story per conversation of the tracker store, redacted",
        "# (make export-conversations): user messages with the intents the NLU predicted,",
        "# the bot's actions, forms and slots. Correct the intents, then add the story to",
        "# tests/conversations/ to keep the bot on that path.",
        "stories:",
    ]
    count = 0
    for conversation in conversations:
        steps = _story_steps(conversation, threshold)
        if any(line.lstrip().startswith("- ") for line in steps):
            count += 1
            lines += [f"  - story: {_scalar('conversation ' + conversation.id)}", "    steps:"]
            lines += steps
    if not count:
        lines[-1] = "stories: []"
    return "\n".join(lines) + "\n"


def _story_steps(conversation: Conversation, threshold: float) -> list[str]:
    lines: list[str] = []
    slots: list[str] = []
    for step in conversation.steps:
        if not isinstance(step, SlotChange) and slots:
            lines += ["      - slot_was_set:"] + slots
            slots = []
        if isinstance(step, UserMessage):
            lines += _user_step(step, threshold)
        elif isinstance(step, Action):
            lines.append(f"      - action: {_scalar(step.name)}")
        elif isinstance(step, LoopChange):
            lines.append(f"      - active_loop: {_scalar(step.name)}")
        elif isinstance(step, SlotChange):
            slots.append(f"          - {_scalar(step.name)}: {_scalar(step.value)}")
        elif isinstance(step, BotResponse):
            lines.append("      " + _comment(f"bot: {step.name}"))
    if slots:
        lines += ["      - slot_was_set:"] + slots
    return lines
