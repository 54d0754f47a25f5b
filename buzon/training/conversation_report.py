"""How the conversations went, for the trainers (``report.md``, ``make conversation-report``).

- **Registration funnel**: of the conversations that open the case form
  (``case_form``), how many end with a registered case (the slot
  ``forget_conversation`` set to ``registered``, or the response
  ``utter_case_registered``), and for the others the last question the form asked
  (``requested_slot``) and how they left: cancelled, consent refused, or gone
  (no answer since; a conversation still going on counts here too).
- **Fallback rate**: the share of the citizens' typed messages (button presses
  aside) predicted ``nlu_fallback`` or with a best guess below the fallback
  threshold; overall and outside forms (inside a form most answers are data).
- **Misunderstood messages**: the most frequent of them (redacted), with the
  classifier's best guess.
- **Corrected guesses** (guessed → chosen) and the number of close calls, as in
  the annotation queue (:mod:`buzon.training.annotation_queue`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from buzon.training import annotation_queue
from buzon.training.conversations import (
    Action,
    BotResponse,
    Conversation,
    LoopChange,
    SlotChange,
    UserMessage,
)

REGISTRATION_FORM = "case_form"
REGISTERED_RESPONSE = "utter_case_registered"
FORGET_SLOT = "forget_conversation"
# The values the actions give forget_conversation (actions/slots.py).
REGISTERED = "registered"
CANCELLED = "cancelled"
CONSENT_REFUSED = "consent_refused"
GONE = "gone"
NO_QUESTION = "(none asked)"
_ENDINGS = (REGISTERED, CANCELLED, CONSENT_REFUSED)


@dataclass(frozen=True)
class RegistrationOutcome:
    started: bool
    finished: bool
    last_question: str | None  # the last requested_slot of the case form
    how: str  # REGISTERED, CANCELLED, CONSENT_REFUSED or GONE


def registration_outcome(conversation: Conversation) -> RegistrationOutcome:
    """Whether the conversation opened the case form, and how that ended."""
    started = finished = in_form = False
    question: str | None = None
    how = GONE
    for step in conversation.steps:
        if isinstance(step, LoopChange):
            if step.name == REGISTRATION_FORM and not in_form:
                how = REGISTERED if finished else GONE  # a new registration starts
            in_form = step.name == REGISTRATION_FORM
            started = started or in_form
        elif isinstance(step, Action) and step.name == REGISTRATION_FORM:
            started = True
        elif isinstance(step, SlotChange):
            if step.name == "requested_slot" and in_form and step.value:
                question = str(step.value)
            elif step.name == FORGET_SLOT and step.value in _ENDINGS:
                how = str(step.value)
                finished = finished or how == REGISTERED
        elif isinstance(step, BotResponse) and step.name == REGISTERED_RESPONSE:
            finished = True
    if finished:
        how = REGISTERED
    return RegistrationOutcome(started, finished, question, how)


@dataclass(frozen=True)
class Misunderstood:
    text: str
    times: int
    best_guess: str | None
    confidence: float | None  # the average of the best guess's


@dataclass
class ConversationReport:
    threshold: float
    margin: float
    conversations: int = 0
    user_messages: int = 0
    erased_messages: int = 0
    typed_messages: int = 0
    misunderstood_messages: int = 0
    typed_outside_forms: int = 0
    misunderstood_outside_forms: int = 0
    close_calls: int = 0
    started_registration: int = 0
    finished_registration: int = 0
    # (last question, how they left) -> conversations
    departures: Counter[tuple[str, str]] = field(default_factory=Counter)
    misunderstood: list[Misunderstood] = field(default_factory=list)
    corrections: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def fallback_rate(self) -> float | None:
        return self.misunderstood_messages / self.typed_messages if self.typed_messages else None

    @property
    def fallback_rate_outside_forms(self) -> float | None:
        if not self.typed_outside_forms:
            return None
        return self.misunderstood_outside_forms / self.typed_outside_forms

    def left_at(self, question: str) -> int:
        return sum(n for (q, _), n in self.departures.items() if q == question)


def compute(
    conversations: Iterable[Conversation], threshold: float, margin: float, top: int = 20
) -> ConversationReport:
    conversations = list(conversations)
    report = ConversationReport(threshold=threshold, margin=margin)
    report.conversations = len(conversations)
    groups: dict[str, list[UserMessage]] = {}
    for conversation in conversations:
        outcome = registration_outcome(conversation)
        if outcome.started:
            report.started_registration += 1
            if outcome.finished:
                report.finished_registration += 1
            else:
                report.departures[(outcome.last_question or NO_QUESTION, outcome.how)] += 1
        for message in conversation.messages:
            report.user_messages += 1
            report.erased_messages += message.text is None and not message.button
            if message.button:
                continue
            report.typed_messages += 1
            wrong = message.misunderstood(threshold)
            report.misunderstood_messages += wrong
            if message.active_loop is None:
                report.typed_outside_forms += 1
                report.misunderstood_outside_forms += wrong
            if wrong and message.labelable:
                groups.setdefault(" ".join((message.text or "").lower().split()), []).append(
                    message
                )
            elif not wrong and message.close_call(margin):
                report.close_calls += 1
        for guess in annotation_queue.corrected_guesses(conversation):
            chosen = guess.chosen_category or guess.chosen_kind or "?"
            report.corrections[(guess.guessed or "?", chosen)] += 1
    ranked = sorted(groups.values(), key=lambda ms: (-len(ms), ms[0].text or ""))
    for messages in ranked[:top]:
        guesses = Counter(m.best_guess.intent for m in messages if m.best_guess)
        best = guesses.most_common(1)[0][0] if guesses else None
        scores = [m.best_guess.confidence for m in messages if m.best_guess]
        report.misunderstood.append(
            Misunderstood(
                messages[0].text or "",
                len(messages),
                best,
                sum(scores) / len(scores) if scores else None,
            )
        )
    return report


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.1%})" if whole else f"{part} of {whole}"


def _cell(text: str | None) -> str:
    return (text or "").replace("\\", "\\\\").replace("|", "\\|")


def as_markdown(report: ConversationReport) -> str:
    started = report.started_registration
    lines = [
        "# Conversation report",
        "",
        "For the trainers: how the conversations in the tracker store went. Every text is",
        "redacted (placeholders such as <cedula>, <telefono>, <nombre> replace personal data).",
        "",
        f"- Conversations: {report.conversations}",
        f"- Citizen messages: {report.user_messages} ({report.typed_messages} typed, "
        f"{report.user_messages - report.typed_messages} button presses)",
        f"- Typed messages whose text the tracker store already erased (after a registration, "
        f"a cancel or a status look-up): {report.erased_messages}",
        "",
        "## Registration funnel",
        "",
        f"Conversations that started the registration form ({REGISTRATION_FORM}): "
        f"{report.started_registration}",
        "",
        f"- finished (case registered): {_share(report.finished_registration, started)}",
        f"- left before registering: {_share(started - report.finished_registration, started)}",
        "",
    ]
    if report.departures:
        lines += [
            "Where the others left (the last question the form asked):",
            "",
            "| last question | left | cancelled | consent refused | gone |",
            "|---|---:|---:|---:|---:|",
        ]
        questions = sorted({q for q, _ in report.departures}, key=lambda q: (-report.left_at(q), q))
        for question in questions:
            counts = [
                report.departures[(question, how)] for how in (CANCELLED, CONSENT_REFUSED, GONE)
            ]
            lines.append(
                f"| {_cell(question)} | {report.left_at(question)} | "
                + " | ".join(str(n) for n in counts)
                + " |"
            )
        lines.append("")
    rate = report.fallback_rate
    outside = report.fallback_rate_outside_forms
    lines += [
        "## Fallback rate",
        "",
        f"Typed messages predicted nlu_fallback or with the best guess below the fallback "
        f"threshold ({report.threshold:g}, config.yml):",
        "",
        f"- all typed messages: {_share(report.misunderstood_messages, report.typed_messages)}"
        + ("" if rate is not None else " (no typed message)"),
        f"- outside a form: "
        f"{_share(report.misunderstood_outside_forms, report.typed_outside_forms)}"
        + ("" if outside is not None else " (no typed message)"),
        f"- close calls (two best guesses less than {report.margin:g} apart, above the "
        f"threshold): {report.close_calls}",
        "",
        "## Most frequent misunderstood messages",
        "",
    ]
    if report.misunderstood:
        lines += ["| times | message | best guess | confidence |", "|---:|---|---|---:|"]
        for item in report.misunderstood:
            confidence = "" if item.confidence is None else f"{item.confidence:.2f}"
            lines.append(
                f"| {item.times} | {_cell(item.text)} | {_cell(item.best_guess)} | {confidence} |"
            )
    else:
        lines.append("None with its text still kept.")
    lines += ["", "## Guesses the citizens corrected", ""]
    if report.corrections:
        lines += ["| guessed | chosen | times |", "|---|---|---:|"]
        for (guessed, chosen), times in report.corrections.most_common():
            lines.append(f"| {_cell(guessed)} | {_cell(chosen)} | {times} |")
    else:
        lines.append("None.")
    lines += [
        "",
        "## The annotation queue",
        "",
        "annotation_queue.csv ranks the messages to label first:",
        "",
    ]
    lines += annotation_queue.header(report.threshold, report.margin)[2:5]
    return "\n".join(lines) + "\n"
