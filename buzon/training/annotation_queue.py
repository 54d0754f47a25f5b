"""The messages the trainers should label first, ranked (``annotation_queue.csv``).

Three kinds of message, in this order:

1. **corrected_guess**: a story told without the menu was classified
   (``action_classify_report`` → ``utter_confirm_classification``) and the citizen
   rejected the guess: the intent ``deny``, which is also what the button
   «No, elegir otra opción» sends (``/deny``, ``domain.yml``; the rule "the
   classification is rejected" in ``data/rules.yml`` answers it with
   ``action_reject_classification``). The row gives the story, the guessed
   intent and the category (or at least the kind) the citizen chose afterwards:
   a mistake the citizen has already labelled. A category picked with a button
   instead of the guessed one (when the bot offers more than one) counts too.
2. **nlu_fallback** / **below_threshold**: the NLU predicted ``nlu_fallback`` or
   its best guess was below the FallbackClassifier's threshold: the bot did not
   understand. Lowest confidence first.
3. **close_call**: the two best guesses within the margin of each other (0.2):
   right by luck, or about to go wrong. Closest first.

The same words (case and spaces aside) make one row per kind, with how many times
they were seen. Button presses and answers that are only placeholders (a cédula
replaced whole) are not queued: there is nothing to label.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from buzon.cases import routing
from buzon.training.conversations import (
    FALLBACK_INTENT,
    Action,
    BotResponse,
    Conversation,
    SlotChange,
    Step,
    UserMessage,
)

CORRECTED_GUESS = "corrected_guess"
NLU_FALLBACK = "nlu_fallback"
BELOW_THRESHOLD = "below_threshold"
CLOSE_CALL = "close_call"
_TIER = {CORRECTED_GUESS: 1, NLU_FALLBACK: 2, BELOW_THRESHOLD: 2, CLOSE_CALL: 3}

CLASSIFY_ACTION = "action_classify_report"
REJECT_ACTION = "action_reject_classification"
# What action_classify_report runs instead of guessing when queja and denuncia are close.
ASK_KIND_ACTION = "utter_kind_or_family_unclear"
# The citizen's "no" to a guess: the intent the button's payload /deny carries.
REJECTION_INTENTS = frozenset({"deny"})
KIND_OF_INTENT = {"register_queja": "queja", "register_denuncia": "denuncia"}
CATEGORY_QUESTION = "category"

COLUMNS = (
    "rank",
    "reason",
    "message",
    "predicted_intent",
    "confidence",
    "best_guess",
    "best_guess_confidence",
    "second_guess",
    "second_confidence",
    "chosen_category",
    "chosen_kind",
    "requested_slot",
    "times_seen",
    "conversation",
    "turn",
    "correct_intent",
)
# What a spreadsheet would run as a formula if a cell started with it (OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CorrectedGuess:
    """A classification the citizen rejected, and what they chose instead."""

    message: UserMessage  # the story that was classified
    guessed: str | None
    chosen_category: str | None
    chosen_kind: str | None


@dataclass(frozen=True)
class QueueRow:
    rank: int
    reason: str
    message: UserMessage
    times_seen: int = 1
    chosen_category: str | None = None
    chosen_kind: str | None = None


def _next_user(steps: Sequence[Step], start: int) -> int | None:
    return next((i for i in range(start, len(steps)) if isinstance(steps[i], UserMessage)), None)


def _choice(steps: Sequence[Step]) -> tuple[str | None, str | None]:
    """The category and the kind the citizen chose after rejecting a guess."""
    categories = set(routing.categories())
    category = kind = None
    for step in steps:
        if isinstance(step, Action) and step.name == CLASSIFY_ACTION:
            break  # a new story, a new guess
        if isinstance(step, SlotChange):
            if step.name == "category" and step.value in categories:
                category = str(step.value)
            elif step.name == "case_kind" and step.value in KIND_OF_INTENT.values():
                kind = kind or str(step.value)
        elif isinstance(step, UserMessage):
            if step.intent in KIND_OF_INTENT:
                kind = kind or KIND_OF_INTENT[step.intent]
            picked = [e.value for e in step.entities if e.name == "category"]
            if step.requested_slot == CATEGORY_QUESTION and step.intent in categories:
                picked.append(step.intent)
            category = next((str(p) for p in picked if p in categories), category)
        if category:
            break
    if category and kind is None:
        kind = routing.kind_of(category)
    return category, kind


def corrected_guesses(conversation: Conversation) -> list[CorrectedGuess]:
    """Every guess of a category that the citizen rejected in ``conversation``."""
    steps = conversation.steps
    found = []
    for i, step in enumerate(steps):
        if not (isinstance(step, Action) and step.name == CLASSIFY_ACTION):
            continue
        story = next((s for s in reversed(steps[:i]) if isinstance(s, UserMessage)), None)
        reply_at = _next_user(steps, i + 1)
        if story is None or reply_at is None:
            continue
        if any(
            isinstance(s, (Action, BotResponse)) and s.name == ASK_KIND_ACTION
            for s in steps[i:reply_at]
        ):
            continue  # no guess was shown: the bot asked queja or denuncia
        reply = steps[reply_at]
        if not isinstance(reply, UserMessage):
            continue
        guess = story.intent if story.intent != FALLBACK_INTENT else None
        if guess is None and story.best_guess:
            guess = story.best_guess.intent
        answer_end = _next_user(steps, reply_at + 1) or len(steps)
        answered = [s.name for s in steps[reply_at:answer_end] if isinstance(s, Action)]
        picked = _picked(reply)
        if reply.intent in REJECTION_INTENTS or answered[:1] == [REJECT_ACTION]:
            category, kind = _choice(steps[reply_at + 1 :])
            found.append(CorrectedGuess(story, guess, category, kind))
        elif picked and picked != guess:  # another category offered next to the guess
            found.append(CorrectedGuess(story, guess, picked, routing.kind_of(picked)))
    return found


def _picked(reply: UserMessage) -> str | None:
    """A category the reply chose with a button (``/inform{"category": ...}``)."""
    categories = set(routing.categories())
    return next(
        (str(e.value) for e in reply.entities if e.name == "category" and e.value in categories),
        None,
    )


def _words(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def rank(conversations: Iterable[Conversation], threshold: float, margin: float) -> list[QueueRow]:
    """The queue, best first (see the module's docstring for the order)."""
    conversations = list(conversations)
    corrected = [g for c in conversations for g in corrected_guesses(c)]
    queued = {(g.message.conversation, g.message.turn) for g in corrected}
    first = sorted(corrected, key=lambda g: g.message.text is None)  # erased stories last
    rows = [
        QueueRow(0, CORRECTED_GUESS, g.message, 1, g.chosen_category, g.chosen_kind) for g in first
    ]

    grouped: dict[tuple[int, str], list[UserMessage]] = {}
    for conversation in conversations:
        for message in conversation.messages:
            if (message.conversation, message.turn) in queued or not message.labelable:
                continue
            if message.misunderstood(threshold):
                reason = NLU_FALLBACK if message.intent == FALLBACK_INTENT else BELOW_THRESHOLD
            elif message.close_call(margin):
                reason = CLOSE_CALL
            else:
                continue
            grouped.setdefault((_TIER[reason], _words(message.text)), []).append(message)

    def order(item: tuple[tuple[int, str], list[UserMessage]]) -> tuple[int, float, int]:
        (tier, _), messages = item
        if tier == _TIER[CLOSE_CALL]:
            score = min(m.margin or 0.0 for m in messages)
        else:
            score = min(m.best_guess.confidence if m.best_guess else 0.0 for m in messages)
        return tier, score, -len(messages)

    for (_, _), messages in sorted(grouped.items(), key=order):
        message = messages[0]
        if message.misunderstood(threshold):
            reason = NLU_FALLBACK if message.intent == FALLBACK_INTENT else BELOW_THRESHOLD
        else:
            reason = CLOSE_CALL
        rows.append(QueueRow(0, reason, message, len(messages)))
    return [
        QueueRow(n, r.reason, r.message, r.times_seen, r.chosen_category, r.chosen_kind)
        for n, r in enumerate(rows, start=1)
    ]


def header(threshold: float, margin: float) -> list[str]:
    """The comment lines above the queue's table: what it is and how it is ranked."""
    return [
        "Messages to label first, most useful first (make export-conversations).",
        "Rank order:",
        f"1. {CORRECTED_GUESS}: the bot guessed a category for a story, the citizen said no and"
        " chose another (chosen_category, or chosen_kind when only the kind is known): a known"
        " mistake.",
        f"2. {NLU_FALLBACK} / {BELOW_THRESHOLD}: predicted nlu_fallback, or the best guess under"
        f" the fallback threshold ({threshold:g}, config.yml): lowest confidence first.",
        f"3. {CLOSE_CALL}: the two best guesses less than {margin:g} apart: closest first.",
        "The same words (case and spaces aside) are one row per reason; times_seen says how often.",
        "An empty message was erased by the tracker store (after a registration, a cancel or a"
        " status look-up).",
        "Personal data is replaced by placeholders (<cedula>, <telefono>, <nombre>...).",
        "Write the right intent in correct_intent (docs/annotation-guide.md).",
    ]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def as_csv(rows: Iterable[QueueRow], threshold: float, margin: float) -> str:
    """The queue as CSV, its header as ``#`` comment lines first."""
    out = io.StringIO()
    for line in header(threshold, margin):
        out.write(f"# {line}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        message = row.message
        best = message.best_guess
        second = message.guesses[1] if len(message.guesses) > 1 else None
        writer.writerow(
            [
                _cell(value)
                for value in (
                    row.rank,
                    row.reason,
                    message.text or "",
                    message.intent,
                    _number(message.confidence),
                    best.intent if best else "",
                    _number(best.confidence if best else None),
                    second.intent if second else "",
                    _number(second.confidence if second else None),
                    row.chosen_category,
                    row.chosen_kind,
                    message.requested_slot,
                    row.times_seen,
                    message.conversation,
                    message.turn,
                    "",
                )
            ]
        )
    return out.getvalue()
