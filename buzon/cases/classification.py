"""What the bot does with the NLU's guess at a story told without the menu.

The NLU ranks the categories; the bot then either proposes its best guess for
the citizen to confirm, offers the two closest categories to choose from, or
asks queja or denuncia first. The same decision serves the bot
(``actions/registration.py``) and the NLU report (``scripts/nlu_report.py``),
which measures how often the bot asks and how often what it proposes holds the
right category.

>>> decide([("queja_turnos", 0.9), ("queja_tiempo_espera", 0.05)]).action
'confirm'
>>> decide([("queja_turnos", 0.5), ("queja_tiempo_espera", 0.4)]).options
('queja_turnos', 'queja_tiempo_espera')
>>> decide([("queja_medicamentos", 0.5), ("denuncia_robo_medicamentos", 0.4)]).action
'ask_family'
>>> decide([("denuncia_coima", 0.6), ("denuncia_cobro_indebido", 0.3)]).action
'confirm'
"""

from __future__ import annotations

from dataclasses import dataclass

from buzon.cases import routing

# Two categories of different families this close: ask queja or denuncia first
# (a case sent to the wrong team is the costliest mistake).
FAMILY_MARGIN = 0.2
# Two categories of one family this close: offer both, each with its description.
# Chosen by cross-validation on the training data (README, "How the NLU was chosen").
CATEGORY_MARGIN = 0.25

CONFIRM = "confirm"
CHOOSE_BETWEEN_TWO = "choose_between_two"
ASK_FAMILY = "ask_family"


@dataclass(frozen=True)
class Decision:
    action: str  # CONFIRM, CHOOSE_BETWEEN_TWO or ASK_FAMILY
    options: tuple[str, ...]  # the categories proposed, best first


def decide(ranking: list[tuple[str, float]], category_margin: float = CATEGORY_MARGIN) -> Decision:
    """The bot's move for a ranking of intents (name, confidence), best first.

    Only categories count; the best one is proposed alone when no other
    category comes closer than ``category_margin`` (another margin: to measure).
    """
    known = set(routing.categories())
    categories = [(name, confidence) for name, confidence in ranking if name in known]
    if not categories:
        return Decision(ASK_FAMILY, ())
    first, kind = categories[0], routing.kind_of(categories[0][0])
    if len(categories) > 1:
        second = categories[1]
        if routing.kind_of(second[0]) != kind and first[1] - second[1] < FAMILY_MARGIN:
            return Decision(ASK_FAMILY, ())
    runner_up = next((c for c in categories[1:] if routing.kind_of(c[0]) == kind), None)
    if runner_up is not None and first[1] - runner_up[1] < category_margin:
        return Decision(CHOOSE_BETWEEN_TWO, (first[0], runner_up[0]))
    return Decision(CONFIRM, (first[0],))
