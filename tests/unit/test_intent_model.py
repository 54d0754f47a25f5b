"""The intent model: trained, saved with skops, read back, and refused when tampered."""

import operator

import pytest
import skops.io as sio

from buzon.intent_model import IntentModel
from nlu_components.intent_classifier import UntrustedModel, read_model

TEXTS = [
    "me cobraron por la insulina que es gratis",
    "vendieron la vacuna en el dispensario",
    "no habia insulina en la farmacia",
    "no hay medicina para la presion",
    "hola buenos dias",
    "buenas tardes",
] * 6
INTENTS = [
    "denuncia_venta_medicamentos",
    "denuncia_venta_medicamentos",
    "queja_medicamentos",
    "queja_medicamentos",
    "greet",
    "greet",
] * 6


@pytest.fixture(scope="module")
def model():
    return IntentModel.train(TEXTS, INTENTS, {"calibration_folds": 3})


def test_probabilities_add_up_and_the_family_weighs_in(model):
    ranking = model.rank(["me vendieron la insulina"])[0]
    assert ranking[0][0] == "denuncia_venta_medicamentos"
    assert abs(sum(p for _, p in ranking) - 1.0) < 1e-6


def test_a_saved_model_reads_back_and_ranks_the_same(model, tmp_path):
    path = tmp_path / "intent_model.skops"
    sio.dump({"intents": model.intents, "families": model.families}, path)
    again = read_model(path)
    assert again.rank(["no hay insulina"]) == model.rank(["no hay insulina"])


def test_a_model_file_naming_any_other_callable_is_refused(tmp_path):
    path = tmp_path / "intent_model.skops"
    sio.dump({"intents": operator.attrgetter, "families": None}, path)
    with pytest.raises(UntrustedModel):
        read_model(path)


def test_features_are_computed_once_when_both_classifiers_read_the_same(model):
    assert model._shared_features
    messages = ["me vendieron la insulina", "hola", "no hay pastillas"]
    once = model.rank(messages)
    separately = IntentModel(model.intents, model.families)
    separately.__dict__["_shared_features"] = False  # each pipeline its own features
    assert once == separately.rank(messages)


def test_classifiers_fitted_on_other_texts_do_not_share_features(model):
    other = IntentModel.train(
        TEXTS + ["otra cosa distinta"] * 6, INTENTS + ["greet"] * 6, {"calibration_folds": 3}
    )
    mixed = IntentModel(model.intents, other.families)
    assert not mixed._shared_features
    assert mixed.rank(["me vendieron la insulina"])[0][0][0] == "denuncia_venta_medicamentos"


def test_vectorisers_with_other_settings_do_not_share_features(model):
    import copy

    families = copy.deepcopy(model.families)
    families.set_params(features__words__sublinear_tf=False)  # same vocabulary, other weights
    assert not IntentModel(model.intents, families)._shared_features


def test_stacked_calibration_gives_scikit_learns_probabilities(model):
    import numpy

    from buzon.intent_model import StackedCalibration, normalized

    messages = [normalized(t) for t in TEXTS[:6] + ["", "insulina gratis cobro", "zzz qqq"]]
    for pipeline in (model.intents, model.families):
        features = pipeline[:-1].transform(messages)
        theirs = pipeline[-1].predict_proba(features)
        ours = StackedCalibration(pipeline[-1]).predict_proba(features)
        assert ours.shape == theirs.shape == (len(messages), len(pipeline.classes_))
        assert numpy.allclose(ours, theirs, rtol=0, atol=1e-12)
    assert model._intent_probabilities.__self__.__class__ is StackedCalibration


def test_a_model_stacked_calibration_does_not_cover_keeps_scikit_learns_method():
    from buzon.intent_model import StackedCalibration

    binary = ["denuncia_venta_medicamentos"] * 2 + ["queja_medicamentos"] * 2
    two = IntentModel.train(TEXTS[:4] * 6, binary * 6, {"calibration_folds": 3, "by_family": False})
    method = StackedCalibration.of(two.intents[-1])  # two classes: scikit-learn's own
    assert method == two.intents[-1].predict_proba
    assert two.rank(["no hay insulina"])[0][0][0] == "queja_medicamentos"


def test_a_fold_without_every_class_keeps_scikit_learns_method(model):
    import copy

    from buzon.intent_model import StackedCalibration

    calibrated = copy.deepcopy(model.intents[-1])
    fold = calibrated.calibrated_classifiers_[0].base_estimator
    fold.classes_ = fold.classes_[:-1]  # as when a class had too few examples for a fold
    assert StackedCalibration.of(calibrated) == calibrated.predict_proba


def test_a_button_payload_is_not_ranked_and_parses_as_before(model, tmp_path):
    """A payload's intent is the one it names, as Rasa's RegexMessageHandler (last in the
    pipeline) would have said anyway; text that only looks like one is ranked."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
    from rasa.shared.core.domain import Domain
    from rasa.shared.nlu.training_data.message import Message

    from nlu_components.intent_classifier import IntentClassifier

    ranked: list[str] = []

    class Counting(IntentModel):
        def rank(self, texts):
            ranked.extend(texts)
            return super().rank(texts)

    counting = Counting(model.intents, model.families)
    component = IntentClassifier({}, LocalModelStorage(tmp_path), Resource("c"), counting)
    domain = Domain.from_yaml("intents: [greet, queja_medicamentos]\nentities: [category]\n")
    handler = RegexMessageHandler()

    def parsed(text, shortcut):
        message = Message(data={"text": text})
        if shortcut:
            component.process([message])
        else:  # what the classifier said of every message before
            [[(name, confidence), *_]] = counting.rank([text])
            message.set("intent", {"name": name, "confidence": confidence})
        [message] = handler.process([message], domain)
        return message.get("intent")["name"], message.get("entities")

    payloads = ["/greet", '/queja_medicamentos{"category": "queja_medicamentos"}', " /greet"]
    looks_like_one = ["/hola", "/greet{roto", "/ no hay insulina", "no hay medicina /greet"]
    for text in payloads + looks_like_one:
        assert parsed(text, shortcut=True) == parsed(text, shortcut=False), text
    ranked.clear()
    for text in payloads + looks_like_one:
        parsed(text, shortcut=True)
    assert {"/hola", "/ no hay insulina", "no hay medicina /greet"} <= set(ranked)
    assert not set(payloads) & set(ranked)
