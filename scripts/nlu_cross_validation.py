"""Cross-validation of NLU pipelines on the training data, and the fallback threshold.

    python scripts/nlu_cross_validation.py CONFIG [CONFIG ...] [--folds 5]

Splits data/nlu into stratified folds (fixed seed), trains each pipeline
(without its FallbackClassifier) on k-1 folds and predicts the held fold, so
every training message gets an honest prediction. Prints accuracy, macro-F1 and
family accuracy over all folds, and for each threshold how many wrong
predictions a FallbackClassifier would catch (the bot asks instead of guessing)
against how many right ones it would needlessly question; the suggested
threshold is the one where caught minus questioned is largest (each costs the
citizen about one more answer). For the stories, per margin, how often the bot
would offer two categories and how often what it proposes holds the right one
(``buzon.cases.classification``). The held-out test sets are never touched.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml
from nlu_report import RASA, ROOT, family, parse_all, run
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
            held_texts = [e.get("text") for e in held]
            parsed_held = parse_all(fold / "nlu.tar.gz", held_texts)
            for example, parsed in zip(held, parsed_held, strict=True):
                rows.append(
                    {
                        "intent": example.get("intent"),
                        "intent_prediction": parsed["intent"],
                        "ranking": [
                            (r["name"], r["confidence"]) for r in parsed.get("intent_ranking") or []
                        ],
                    }
                )
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


def threshold_table(rows: list) -> float:
    """Per threshold, the wrong guesses a FallbackClassifier catches and the right
    ones it questions; the suggestion is the threshold where caught minus
    questioned is largest: either costs the citizen about one more answer (a
    wrong guess is refused, then the kind and the category are asked; a
    questioned right one is asked queja or denuncia, then the category)."""
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
    print("  threshold | wrong caught | right questioned | caught - questioned")
    best, best_net = THRESHOLDS[0], None
    for threshold in THRESHOLDS:
        caught = sum(c < threshold for c in wrong)
        questioned = sum(c < threshold for c in right)
        net = caught - questioned
        print(
            f"  {threshold:9.2f} | {caught / max(len(wrong), 1):12.1%} | "
            f"{questioned / max(len(right), 1):16.1%} | {net:19d}"
        )
        if best_net is None or net > best_net:
            best, best_net = threshold, net
    return best


MARGINS = [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]


def margin_table(rows: list) -> None:
    """For the stories, per same-family margin: how often the bot offers two
    categories, and how often what it proposes holds the right one."""
    from buzon.cases import classification, routing

    stories = [r for r in rows if r["intent"] in set(routing.categories())]
    print("  margin | offered two | proposal right | wrong confirmation")
    for margin in MARGINS:
        decisions = [classification.decide(r["ranking"], margin) for r in stories]
        two = sum(d.action == classification.CHOOSE_BETWEEN_TWO for d in decisions)
        right = sum(r["intent"] in d.options for r, d in zip(stories, decisions, strict=True))
        wrong = sum(
            d.action == classification.CONFIRM and r["intent"] not in d.options
            for r, d in zip(stories, decisions, strict=True)
        )
        n = max(len(stories), 1)
        print(f"  {margin:6.2f} | {two / n:11.1%} | {right / n:14.1%} | {wrong / n:18.1%}")


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
        margin_table(rows)
        table.append(
            f"| {config} | {result['accuracy']:.3f} | {result['macro_f1']:.3f} | "
            f"{result['family_accuracy']:.3f} | {best} |"
        )
    print("\n".join(table))


if __name__ == "__main__":
    main()
