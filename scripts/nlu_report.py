"""Trains the NLU on data/nlu and scores it on the held-out tests/nlu/test_set.yml.

    python scripts/nlu_report.py                      # config.yml -> results/nlu/
    python scripts/nlu_report.py --model models/current.tar.gz   # score a trained model
    python scripts/nlu_report.py --compare A.yml B.yml  # several pipelines, one table

Writes Rasa's per-intent report, the confusion-matrix PNG and every prediction
under results/nlu/<name>/, a summary.json, and prints on its last line:

    accuracy=0.951 macro_f1=0.948 family_accuracy=0.990

Family accuracy counts only whether a message landed in the right family:
queja (queja_* and register_queja), denuncia (denuncia_* and
register_denuncia) or other. A queja taken for a denuncia, or the reverse, is
the costliest mistake: the case goes to the wrong team. A prediction of
nlu_fallback (below the pipeline's FallbackClassifier threshold the bot asks
instead of guessing) counts as wrong everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
RASA = str(ROOT / ".venv" / "bin" / "rasa")
TRAIN_DATA = ROOT / "data" / "nlu"
TEST_SET = ROOT / "tests" / "nlu" / "test_set.yml"
RESULTS = ROOT / "results" / "nlu"


def family(intent: str) -> str:
    """>>> family("queja_turnos"), family("register_denuncia"), family("greet")
    ('queja', 'denuncia', 'other')
    """
    for name in ("queja", "denuncia"):
        if intent.startswith(f"{name}_") or intent == f"register_{name}":
            return name
    return "other"


def run(args: list) -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-5000:])
        raise SystemExit(f"failed: {' '.join(args)}")


def predictions(out: Path) -> list:
    rows = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = out / name
        if path.exists():
            rows += json.loads(path.read_text())
    return rows


def fallback_threshold(config: Path) -> float:
    """The FallbackClassifier threshold of a pipeline (0 when it has none)."""
    pipeline = yaml.safe_load(config.read_text()).get("pipeline") or []
    return next(
        (c.get("threshold", 0.3) for c in pipeline if c["name"] == "FallbackClassifier"), 0.0
    )


def as_the_bot_sees_it(row: dict, threshold: float) -> str:
    """The predicted intent, or nlu_fallback below the threshold.

    `rasa test nlu` undoes fallback predictions to score the classifier alone;
    the bot does not: below the threshold it asks instead, which counts as a miss.
    """
    prediction = row.get("intent_prediction") or {}
    if (prediction.get("confidence") or 0.0) < threshold:
        return "nlu_fallback"
    return prediction.get("name") or ""


def evaluate(config: Path, name: str, model: Path = None) -> dict:
    """Train ``config`` on the training data (or take ``model``), score the test set."""
    out = RESULTS / name
    train_seconds = None
    if model is None:
        model = out / "model" / "nlu.tar.gz"
        started = time.monotonic()
        run(
            [
                RASA,
                "train",
                "nlu",
                "--config",
                str(config),
                "--nlu",
                str(TRAIN_DATA),
                "--out",
                str(model.parent),
                "--fixed-model-name",
                "nlu",
                "--quiet",
            ]
        )
        train_seconds = round(time.monotonic() - started, 1)
    run(
        [
            RASA,
            "test",
            "nlu",
            "--model",
            str(model),
            "--nlu",
            str(TEST_SET),
            "--out",
            str(out),
            "--successes",
            "--quiet",
        ]
    )
    rows = predictions(out)
    threshold = fallback_threshold(config)
    truth = [row["intent"] for row in rows]
    guess = [as_the_bot_sees_it(row, threshold) for row in rows]
    summary = {
        "config": str(config.relative_to(ROOT)),
        "examples": len(rows),
        "fallback_threshold": threshold,
        "accuracy": round(sum(t == g for t, g in zip(truth, guess, strict=False)) / len(rows), 4),
        "macro_f1": round(f1_score(truth, guess, labels=sorted(set(truth)), average="macro"), 4),
        "family_accuracy": round(
            sum(family(t) == family(g) for t, g in zip(truth, guess, strict=False)) / len(rows), 4
        ),
        "asked_instead": sum(g == "nlu_fallback" for g in guess),
        "cross_family_rate": cross_family_rate(truth, guess),
        "train_seconds": train_seconds,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def cross_family_rate(truth: list[str], guess: list[str]) -> float:
    """The costliest mistake alone: of the quejas and denuncias, the share taken for
    the other one (the case would go to the wrong team).

    >>> cross_family_rate(["queja_turnos", "denuncia_coima", "greet"],
    ...                   ["denuncia_coima", "nlu_fallback", "queja_turnos"])
    0.5
    """
    pairs = [(family(t), family(g)) for t, g in zip(truth, guess, strict=False)]
    cases = [(t, g) for t, g in pairs if t in ("queja", "denuncia")]
    crossed = sum({t, g} == {"queja", "denuncia"} for t, g in cases)
    return round(crossed / len(cases), 4) if cases else 0.0


def line(summary: dict) -> str:
    return (
        f"accuracy={summary['accuracy']:.3f} macro_f1={summary['macro_f1']:.3f} "
        f"family_accuracy={summary['family_accuracy']:.3f} "
        f"cross_family_rate={summary['cross_family_rate']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs="+", type=Path, help="pipeline configs to compare")
    parser.add_argument("--model", type=Path, help="score this trained model instead of training")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.compare:
        table = [
            "| pipeline | accuracy | macro-F1 | family accuracy | training (s) |",
            "|---|---|---|---|---|",
        ]
        for config in args.compare:
            summary = evaluate(config.resolve(), config.stem)
            table.append(
                f"| {summary['config']} | {summary['accuracy']:.3f} | "
                f"{summary['macro_f1']:.3f} | {summary['family_accuracy']:.3f} | "
                f"{summary['train_seconds']:.0f} |"
            )
            print(f"{config.stem}: {line(summary)} train_seconds={summary['train_seconds']}")
        (RESULTS / "comparison.md").write_text("\n".join(table) + "\n")
        print("\n".join(table))
        return
    summary = evaluate(ROOT / "config.yml", "current", args.model)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"per-intent report and confusion matrix: {RESULTS.relative_to(ROOT)}/current/"
        "intent_report.json, intent_confusion_matrix.png"
    )
    print(line(summary))


if __name__ == "__main__":
    main()
