"""An NLU component that keeps "yes", "no" and "cancel" for messages that say so.

The intent classifier reads *something* into any message: a lone ``?`` or ``👍``
came out as ``affirm``, the typed button label «Confirmar y registrar» as
``cancel``. In a conversation those three intents move a citizen the furthest
(consent, registration, discarding everything), so after the classifier this
component checks the words (:mod:`buzon.plain_answers`): an ``affirm`` needs a
yes word, a ``deny`` a no word, a ``cancel`` a word of stopping. Otherwise the
message becomes ``nlu_fallback`` with the classifier's confidence, and the bot
asks again instead of acting on a guess. Button payloads (``/affirm``) keep the
intent they name whatever this guard says of them: Rasa's ``RegexMessageHandler``,
last in the pipeline, replaces it.

In ``config.yml``, after the ``FallbackClassifier``::

    - name: nlu_components.answer_guard.AnswerGuard
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from buzon import plain_answers

# Which words each guarded intent needs.
REQUIRED_WORDS: dict[str, Callable[[str], bool]] = {
    "affirm": lambda text: bool(set(plain_answers.words(text)) & plain_answers.yes_words()),
    "deny": plain_answers.says_no,
    "cancel": plain_answers.says_cancel,
}


def guarded(intent: str | None, text: str) -> bool:
    """Whether ``intent`` must be dropped for ``text``.

    >>> guarded("affirm", "👍"), guarded("affirm", "sí, claro"), guarded("greet", "?")
    (True, False, False)
    >>> guarded("cancel", "Confirmar y registrar"), guarded("cancel", "ya no quiero")
    (True, False)
    """
    check = REQUIRED_WORDS.get(intent or "")
    return check is not None and not check(text)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class AnswerGuard(GraphComponent, IntentClassifier):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AnswerGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.data.get(INTENT) or {}
            if guarded(intent.get(INTENT_NAME_KEY), message.get(TEXT) or ""):
                fallback = {
                    INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                    PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY, 0.0),
                }
                message.data[INTENT] = fallback
                ranking = message.data.setdefault(INTENT_RANKING_KEY, [])
                if (
                    not ranking
                    or ranking[0].get(INTENT_NAME_KEY) != DEFAULT_NLU_FALLBACK_INTENT_NAME
                ):
                    ranking.insert(0, dict(fallback))
        return messages
