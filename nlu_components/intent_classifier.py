"""Rasa's adapter for the project's intent model (:mod:`buzon.intent_model`).

The model reads the message text itself (its own normalisation and TF-IDF
features), so it needs no featurizer before it; the tokenizer stays for the
entity extractors. Trained models are saved with ``skops`` (no pickle), and a
model file is loaded only when the types skops does not trust by default are
exactly the few this model is made of (``TRUSTED_TYPES``); anything else is
refused with an error, never loaded and never silently replaced by an empty
classifier.

In ``config.yml``::

    - name: nlu_components.intent_classifier.IntentClassifier
      C: 1.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier as RasaIntentClassifier
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from buzon.intent_model import DEFAULTS, IntentModel

# The types of a trained IntentModel that skops 0.9 does not trust by default. A
# prefix test ("sklearn.", "numpy.") would let a crafted file name any callable of
# those packages and run it at load.
TRUSTED_TYPES = frozenset(
    {
        "scipy.sparse._csr.csr_matrix",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)
FILE_NAME = "intent_model.skops"


class UntrustedModel(ValueError):
    """A model file holding types the intent model is not made of."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(GraphComponent, RasaIntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DEFAULTS, "ranking_length": LABEL_RANKING_LENGTH}

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "skops"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: IntentModel | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            return self._resource
        settings = {k: self.config[k] for k in DEFAULTS}
        self.model = IntentModel.train(
            [e.get(TEXT) for e in examples], [e.get(INTENT) for e in examples], settings
        )
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Ranks the intents of each message, except a button's payload.

        A payload (``/affirm``, ``/inform{"category": ...}``: every tap on the web page
        and on WhatsApp) names its intent, and Rasa's ``RegexMessageHandler``, last in
        the pipeline, replaces whatever the classifiers said of it: ranking its text
        was 1.5 of the 2.5 ms of its parse (``make bench``). It gets the intent it
        names, as the handler will give it. Text that only looks like a payload (an
        intent this model does not know, a malformed one) is ranked as any other; the
        channels let only payloads of the domain's intents start with "/"
        (:mod:`channels.incoming`), and ``make validate`` fails when the NLU data holds
        an intent the domain does not (the handler would then keep this one's guess)."""
        if self.model is None:
            return messages
        pending = []
        for message in messages:
            named = self._named_intent(message.get(TEXT) or "")
            if named is None:
                pending.append(message)
            else:
                message.set(INTENT, named, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [dict(named)], add_to_output=True)
        if not pending:
            return messages
        texts = [m.get(TEXT) or "" for m in pending]
        for message, ranking in zip(pending, self.model.rank(texts), strict=True):
            named = [{"name": name, "confidence": confidence} for name, confidence in ranking]
            message.set(INTENT, named[0], add_to_output=True)
            length = self.config["ranking_length"]
            ranked = named[:length] if length > 0 else named
            message.set(INTENT_RANKING_KEY, ranked, add_to_output=True)
        return messages

    def _named_intent(self, text: str) -> dict[str, Any] | None:
        if not text.lstrip().startswith("/"):
            return None
        assert self.model is not None  # process() ranks nothing without a model
        unpacked = YAMLStoryReader.unpack_regex_message(Message(data={TEXT: text}))
        named = unpacked.get(INTENT)
        if not named or named.get("name") not in self.model.labels:
            return None
        return dict(named)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def persist(self) -> None:
        import skops.io as sio

        assert self.model is not None
        with self._model_storage.write_to(self._resource) as folder:
            sio.dump(
                {"intents": self.model.intents, "families": self.model.families},
                folder / FILE_NAME,
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> IntentClassifier:
        with model_storage.read_from(resource) as folder:
            model = read_model(folder / FILE_NAME)
        return cls(config, model_storage, resource, model)


def read_model(path: Path) -> IntentModel:
    """The intent model saved at ``path``, or :class:`UntrustedModel`."""
    import skops.io as sio

    types = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(types) - TRUSTED_TYPES)
    if unexpected:
        raise UntrustedModel(f"the intent model holds unexpected types: {unexpected}")
    saved = sio.load(path, trusted=types)
    return IntentModel(saved["intents"], saved["families"])
