"""Trains the NLU on data/nlu and scores it on the held-out tests/nlu/test_set.yml.

    python scripts/nlu_report.py                      # config.yml -> results/nlu/
    python scripts/nlu_report.py --compare A.yml B.yml  # several pipelines, one table

Writes Rasa's per-intent report, the confusion-matrix PNG and every prediction
under results/nlu/<name>/, a summary.json, and prints on its last line:

    accuracy=0.951 macro_f1=0.948 family_accuracy=0.990

Family accuracy counts only whether a message landed in the right family:
queja (queja_* and registrar_queja), denuncia (denuncia_* and
registrar_denuncia) or other. A queja taken for a denuncia, or the reverse, is
the costliest mistake: the case goes to the wrong team. A prediction of
nlu_fallback (the bot asks instead of guessing) counts as wrong everywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA = str(ROOT / ".venv" / "bin" / "rasa")
TRAIN_DATA = ROOT / "data" / "nlu"
TEST_SET = ROOT / "tests" / "nlu" / "test_set.yml"
RESULTS = ROOT / "results" / "nlu"


def family(intent: str) -> str:
    """>>> family("queja_turnos"), family("registrar_denuncia"), family("greet")
    ('queja', 'denuncia', 'other')
    """
    for name in ("queja", "denuncia"):
        if intent.startswith(f"{name}_") or intent == f"registrar_{name}":
            return name
    return "other"


def run(args: list) -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
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


def evaluate(config: Path, name: str) -> dict:
    out = RESULTS / name
    models = out / "model"
    started = time.monotonic()
    run([RASA, "train", "nlu", "--config", str(config), "--nlu", str(TRAIN_DATA),
         "--out", str(models), "--fixed-model-name", "nlu", "--quiet"])
    train_seconds = time.monotonic() - started
    run([RASA, "test", "nlu", "--model", str(models / "nlu.tar.gz"), "--nlu", str(TEST_SET),
         "--out", str(out), "--successes", "--quiet"])
    report = json.loads((out / "intent_report.json").read_text())
    rows = predictions(out)
    right_family = sum(
        family(row["intent"]) == family((row.get("intent_prediction") or {}).get("name") or "")
        for row in rows
    )
    summary = {
        "config": str(config.relative_to(ROOT)),
        "examples": len(rows),
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro avg"]["f1-score"], 4),
        "family_accuracy": round(right_family / len(rows), 4),
        "train_seconds": round(train_seconds, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def line(summary: dict) -> str:
    return (f"accuracy={summary['accuracy']:.3f} macro_f1={summary['macro_f1']:.3f} "
            f"family_accuracy={summary['family_accuracy']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs="+", type=Path, help="pipeline configs to compare")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.compare:
        table = ["| pipeline | accuracy | macro-F1 | family accuracy | training (s) |",
                 "|---|---|---|---|---|"]
        for config in args.compare:
            summary = evaluate(config.resolve(), config.stem)
            table.append(f"| {summary['config']} | {summary['accuracy']:.3f} | "
                         f"{summary['macro_f1']:.3f} | {summary['family_accuracy']:.3f} | "
                         f"{summary['train_seconds']:.0f} |")
            print(f"{config.stem}: {line(summary)} train_seconds={summary['train_seconds']}")
        (RESULTS / "comparison.md").write_text("\n".join(table) + "\n")
        print("\n".join(table))
        return
    summary = evaluate(ROOT / "config.yml", "current")
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"results in {RESULTS.relative_to(ROOT)}/current "
          f"(intent_report.json, intent_confusion_matrix.png); trained in {summary['train_seconds']} s")
    print(line(summary))


if __name__ == "__main__":
    main()
