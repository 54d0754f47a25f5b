"""The intent model: what a message means, as calibrated probabilities.

A message is normalised (lower case, accents removed, every digit read as 0, so
"CÉDULA 1712345678" and "cedula 0000000000" look alike) and turned into TF-IDF
features of words (1-2-grams) and characters (2-5-grams inside words), with
sublinear term frequencies so a long story does not outweigh a short one. A
linear support-vector machine separates the classes, and a sigmoid fitted in
cross-validation turns its scores into probabilities (calibration), which the
bot's fallback threshold and its "which of these two?" margin compare.

Two such classifiers work together: one tells the family (queja, denuncia or
other), one the intent; an intent's probability is its own times its family's,
renormalised. A queja taken for a denuncia sends a case to the wrong team, and
the family classifier, trained on three classes with many examples each, is
surer of that border than the intent classifier alone.

Why these parts: they were chosen by five-fold cross-validation on the training
data, then reported on the two held-out sets (README, "How the NLU was chosen").
Counting features into a logistic regression (Rasa's LogisticRegressionClassifier)
was sure of itself on words it had seen in one class; marker features for
"paid for something free" or "money to go faster" did not help in
cross-validation and were left out.

Nothing here knows about Rasa: ``nlu_components/intent_classifier.py`` adapts it.

>>> normalized("Me COBRARON $15 por la insulina, ¡que es GRATIS!")
'me cobraron $00 por la insulina, ¡que es gratis!'
>>> family_of("queja_turnos"), family_of("register_denuncia"), family_of("greet")
('queja', 'denuncia', 'other')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy

DEFAULTS: dict[str, Any] = {
    "C": 1.0,
    "word_max_ngram": 2,
    "char_min_ngram": 2,
    "char_max_ngram": 5,
    "calibration_folds": 5,
    "by_family": True,
}


def normalized(text: str) -> str:
    """Lower case, without accents (ñ becomes n), digits read as 0."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"\d", "0", plain)


def family_of(intent: str) -> str:
    """queja (queja_* and register_queja), denuncia (likewise) or other."""
    for kind in ("queja", "denuncia"):
        if intent.startswith(f"{kind}_") or intent == f"register_{kind}":
            return kind
    return "other"


def build(settings: dict[str, Any]) -> Any:
    """An untrained scikit-learn pipeline: features, then a calibrated linear SVM."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    words = TfidfVectorizer(ngram_range=(1, settings["word_max_ngram"]), sublinear_tf=True)
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(settings["char_min_ngram"], settings["char_max_ngram"]),
        sublinear_tf=True,
    )
    svm = LinearSVC(C=settings["C"], class_weight="balanced", random_state=42)
    return Pipeline(
        [
            ("features", FeatureUnion([("words", words), ("chars", chars)])),
            (
                "classifier",
                CalibratedClassifierCV(svm, method="sigmoid", cv=settings["calibration_folds"]),
            ),
        ]
    )


class StackedCalibration:
    """``predict_proba`` of a fitted :class:`~sklearn.calibration.CalibratedClassifierCV`
    over linear SVMs with sigmoid calibration, the same arithmetic in one product.

    scikit-learn 1.1 computes it fold by fold and class by class: one SVM product per
    fold, then a calibrator call per class, each checking its input (5 folds × 30
    intents). That was 1.06 ms a message for the intents here, a third of the NLU; the
    folds' weights stacked in one matrix give the same probabilities in 0.02 ms
    (``tests/unit/test_intent_model.py`` compares them with scikit-learn's).
    :meth:`of` gives scikit-learn's own method for any model this does not cover."""

    def __init__(self, calibrated: Any) -> None:
        folds = calibrated.calibrated_classifiers_
        self.classes = calibrated.classes_
        weights, intercepts, slopes, offsets = [], [], [], []
        for fold in folds:
            svm = fold.base_estimator
            if len(self.classes) < 3 or not numpy.array_equal(svm.classes_, self.classes):
                raise ValueError("not a multi-class model with every class in every fold")
            weights.append(svm.coef_)
            intercepts.append(svm.intercept_)
            slopes.append([calibrator.a_ for calibrator in fold.calibrators])
            offsets.append([calibrator.b_ for calibrator in fold.calibrators])
        self.folds = len(folds)
        self.weights = numpy.vstack(weights).T  # features × (folds · classes)
        self.intercepts = numpy.concatenate(intercepts)
        self.slopes = numpy.concatenate(slopes)
        self.offsets = numpy.concatenate(offsets)

    @classmethod
    def of(cls, calibrated: Any) -> Any:
        """The fast ``predict_proba`` of ``calibrated``, or its own when not covered."""
        from sklearn.calibration import _SigmoidCalibration
        from sklearn.svm import LinearSVC

        folds = getattr(calibrated, "calibrated_classifiers_", [])
        if folds and all(
            isinstance(getattr(fold, "base_estimator", None), LinearSVC)
            and all(isinstance(c, _SigmoidCalibration) for c in getattr(fold, "calibrators", []))
            for fold in folds
        ):
            try:
                return cls(calibrated).predict_proba
            except ValueError:
                pass
        return calibrated.predict_proba

    def predict_proba(self, features: Any) -> Any:
        from scipy.special import expit

        scores = features @ self.weights + self.intercepts  # samples × (folds · classes)
        scores = numpy.asarray(scores)
        probabilities = expit(-(self.slopes * scores + self.offsets))
        probabilities = probabilities.reshape(len(scores), self.folds, len(self.classes))
        total = probabilities.sum(axis=2, keepdims=True)
        uniform = numpy.full_like(probabilities, 1 / len(self.classes))
        probabilities = numpy.divide(probabilities, total, out=uniform, where=total != 0)
        probabilities[(1.0 < probabilities) & (probabilities <= 1.0 + 1e-5)] = 1.0
        return probabilities.sum(axis=1) / self.folds


@dataclass
class IntentModel:
    intents: Any  # a fitted pipeline over intents
    families: Any | None  # a fitted pipeline over families, or None

    @classmethod
    def train(
        cls, texts: Sequence[str], intents: Sequence[str], config: dict[str, Any] | None = None
    ) -> IntentModel:
        settings = {**DEFAULTS, **(config or {})}
        inputs = [normalized(t) for t in texts]
        # arrays: scikit-learn 1.1's calibration compares labels with ==
        labels = numpy.asarray(list(intents))
        by_intent = build(settings).fit(inputs, labels)
        by_family = None
        if settings["by_family"]:
            families = numpy.asarray([family_of(i) for i in labels])
            by_family = build(settings).fit(inputs, families)
        return cls(by_intent, by_family)

    @cached_property
    def _shared_features(self) -> bool:
        """Whether both classifiers read the same features: their vectorisers were fitted
        on the same texts with the same settings, so a message's features are computed
        once (half of the model's time per message, measured in ``make bench``)."""
        if self.families is None:
            return False
        mine, theirs = self.intents[0].transformer_list, self.families[0].transformer_list
        if len(self.intents) != 2 or len(self.families) != 2 or len(mine) != len(theirs):
            return False
        return (
            all(
                name_a == name_b
                and a.get_params() == b.get_params()  # the same settings (n-grams, weights…)
                and a.vocabulary_ == b.vocabulary_
                and numpy.array_equal(a.idf_, b.idf_)
                for (name_a, a), (name_b, b) in zip(mine, theirs, strict=True)
            )
            and self.intents[0].transformer_weights == self.families[0].transformer_weights
        )

    @cached_property
    def labels(self) -> frozenset[str]:
        """The intents this model tells apart."""
        return frozenset(str(c) for c in self.intents.classes_)

    @cached_property
    def _intent_probabilities(self) -> Any:
        return StackedCalibration.of(self.intents[-1])

    @cached_property
    def _family_probabilities(self) -> Any:
        assert self.families is not None  # read only when there is a family classifier
        return StackedCalibration.of(self.families[-1])

    def rank(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """For each text, every intent with its probability, most likely first."""
        inputs = [normalized(t) for t in texts]
        features = self.intents[:-1].transform(inputs)
        probabilities = self._intent_probabilities(features)
        classes = [str(c) for c in self.intents.classes_]
        if self.families is not None:
            if not self._shared_features:
                features = self.families[:-1].transform(inputs)
            family_probabilities = self._family_probabilities(features)
            column = {str(f): i for i, f in enumerate(self.families.classes_)}
            weights = family_probabilities[:, [column[family_of(c)] for c in classes]]
            probabilities = probabilities * weights
            probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
        return [
            sorted(zip(classes, map(float, row), strict=True), key=lambda pair: -pair[1])
            for row in probabilities
        ]
