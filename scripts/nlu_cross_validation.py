"""Cross-validation of NLU pipelines on the training data, and the fallback threshold.

    python scripts/nlu_cross_validation.py CONFIG [CONFIG ...] [--folds 5]

Splits data/nlu into stratified folds (fixed seed), trains each pipeline
(without its FallbackClassifier) on k-1 folds and predicts the held fold, so
every training message gets an honest prediction. Prints accuracy, macro-F1 and
family accuracy over all folds, and for each threshold how many wrong
predictions a FallbackClassifier would catch (the bot asks instead of guessing)
against how many right ones it would needlessly question; the suggested
threshold is the highest that questions at most 3% of the messages understood
right (asking a citizen again is cheap, but not free). The held-out test set is
never touched.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml
from nlu_report import RASA, ROOT, family, run
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.metrics import f1_score

THRESHOLDS = [round(0.05 * step, 2) for step in range(2, 15)]


def folds(data: TrainingData, k: int, seed: int = 42) -> list:
    by_intent = defaultdict(list)
    for example in data.intent_examples:
        by_intent[example.get("intent")].append(example)
    buckets = [[] for _ in range(k)]
    rng = random.Random(seed)
    for intent in sorted(by_intent):
        examples = by_intent[intent]
        rng.shuffle(examples)
        for index, example in enumerate(examples):
            buckets[index % k].append(example)
    return buckets


def without_fallback(config: Path, workdir: Path) -> Path:
    content = yaml.safe_load(config.read_text())
    content["pipeline"] = [c for c in content["pipeline"] if c["name"] != "FallbackClassifier"]
    content.pop("policies", None)
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True))
    return path


def predictions(config: Path, k: int) -> list:
    data = load_data(str(ROOT / "data" / "nlu"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        plain = without_fallback(config, workdir)
        buckets = folds(data, k)
        for index, held in enumerate(buckets):
            train = [e for j, bucket in enumerate(buckets) if j != index for e in bucket]
            fold = workdir / f"fold{index}"
            fold.mkdir()
            TrainingData(
                train,
                lookup_tables=data.lookup_tables,
                regex_features=data.regex_features,
                entity_synonyms=data.entity_synonyms,
            ).persist_nlu(fold / "train.yml")
            TrainingData(held).persist_nlu(fold / "test.yml")
            run(
                [
                    RASA,
                    "train",
                    "nlu",
                    "--config",
                    str(plain),
                    "--nlu",
                    str(fold / "train.yml"),
                    "--out",
                    str(fold),
                    "--fixed-model-name",
                    "nlu",
                    "--quiet",
                ]
            )
            run(
                [
                    RASA,
                    "test",
                    "nlu",
                    "--model",
                    str(fold / "nlu.tar.gz"),
                    "--nlu",
                    str(fold / "test.yml"),
                    "--out",
                    str(fold / "out"),
                    "--successes",
                    "--no-plot",
                    "--quiet",
                ]
            )
            for name in ("intent_successes.json", "intent_errors.json"):
                path = fold / "out" / name
                if path.exists():
                    rows += json.loads(path.read_text())
    return rows


def scores(rows: list) -> dict:
    truth = [r["intent"] for r in rows]
    guess = [r["intent_prediction"]["name"] or "" for r in rows]
    return {
        "accuracy": sum(t == g for t, g in zip(truth, guess, strict=False)) / len(rows),
        "macro_f1": f1_score(truth, guess, average="macro"),
        "family_accuracy": sum(family(t) == family(g) for t, g in zip(truth, guess, strict=False))
        / len(rows),
    }


MAX_QUESTIONED = 0.03  # at most 3 in 100 well-understood citizens asked needlessly


def threshold_table(rows: list) -> float:
    right = [
        r["intent_prediction"]["confidence"]
        for r in rows
        if r["intent"] == r["intent_prediction"]["name"]
    ]
    wrong = [
        r["intent_prediction"]["confidence"]
        for r in rows
        if r["intent"] != r["intent_prediction"]["name"]
    ]
    print("  threshold | wrong caught | right questioned")
    best = THRESHOLDS[0]
    for threshold in THRESHOLDS:
        caught = sum(c < threshold for c in wrong) / max(len(wrong), 1)
        questioned = sum(c < threshold for c in right) / max(len(right), 1)
        print(f"  {threshold:9.2f} | {caught:12.1%} | {questioned:16.1%}")
        if questioned <= MAX_QUESTIONED:
            best = threshold
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    table = [
        "| pipeline | CV accuracy | CV macro-F1 | CV family accuracy | suggested fallback |",
        "|---|---|---|---|---|",
    ]
    for config in args.configs:
        rows = predictions(config.resolve(), args.folds)
        result = scores(rows)
        print(
            f"{config}: {len(rows)} predictions, "
            + " ".join(f"{k}={v:.3f}" for k, v in result.items())
        )
        best = threshold_table(rows)
        print(f"  suggested FallbackClassifier threshold: {best}")
        table.append(
            f"| {config} | {result['accuracy']:.3f} | {result['macro_f1']:.3f} | "
            f"{result['family_accuracy']:.3f} | {best} |"
        )
    print("\n".join(table))


if __name__ == "__main__":
    main()
