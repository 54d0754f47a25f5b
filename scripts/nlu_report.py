"""Trains the NLU on data/nlu and scores it on the held-out test sets.

    python scripts/nlu_report.py                      # config.yml -> results/nlu/
    python scripts/nlu_report.py --model models/current.tar.gz   # score a trained model
    python scripts/nlu_report.py --compare A.yml B.yml  # several pipelines, one table

The test sets (``TEST_SETS``) are never trained on:

- ``voices``: tests/nlu/test_set_voices.yml, written on 2026-11-30 by a writer who
  never saw the training data, in the voices of docs/annotation-guide.md, labelled
  by that guide. The floors of ``make test`` apply to it.
- ``original``: tests/nlu/test_set.yml, the project's first held-out set (written
  apart too, but in the training data's voice); kept as a second figure.
- ``questions``: tests/nlu/test_questions_voices.yml, questions asked in the middle
  of the form (is it confidential, why my data, how long), written apart from their
  training examples.

Each message is parsed by the trained model as the bot parses it (its
FallbackClassifier and answer guard included), so a message the bot asks about
(nlu_fallback) counts as a miss. Family accuracy counts only whether a message
landed in the right family: queja (queja_* and register_queja), denuncia
(denuncia_* and register_denuncia) or other; ``cross_family_rate`` is the
costliest mistake alone. For the messages that tell a story (a category), the
report also runs the bot's decision (:mod:`buzon.cases.classification`): how often
it proposes one category, offers two, or asks queja or denuncia, and how often
what it proposes holds the right category (``proposal_right``; a citizen who is
offered the right one takes it) and how often it proposes a single wrong
category to confirm (``wrong_confirmation``).

Writes results/nlu/<name>/<set>/predictions.json and intent_report.json, a
summary.json, and prints one line per set:

    voices: accuracy=0.951 macro_f1=0.948 family_accuracy=0.990 cross_family_rate=0.004
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from sklearn.metrics import classification_report, f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from buzon.cases import classification, routing  # noqa: E402
from buzon.intent_model import family_of as family  # noqa: E402

RASA = str(ROOT / ".venv" / "bin" / "rasa")
TRAIN_DATA = ROOT / "data" / "nlu"
TEST_SETS = {
    "voices": ROOT / "tests" / "nlu" / "test_set_voices.yml",
    "original": ROOT / "tests" / "nlu" / "test_set.yml",
    "questions": ROOT / "tests" / "nlu" / "test_questions_voices.yml",
}
RESULTS = ROOT / "results" / "nlu"


def run(args: list) -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-5000:])
        raise SystemExit(f"failed: {' '.join(args)}")


def fallback_threshold(config: Path) -> float:
    """The FallbackClassifier threshold of a pipeline (0 when it has none)."""
    pipeline = yaml.safe_load(config.read_text()).get("pipeline") or []
    return next(
        (c.get("threshold", 0.3) for c in pipeline if c["name"] == "FallbackClassifier"), 0.0
    )


def test_messages(path: Path) -> list[tuple[str, str]]:
    """(text, intent) of a test set, entity annotations removed."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples]


def parse_all(model: Path, texts: list[str]) -> list[dict]:
    """Each text parsed by the trained model, as the bot parses it."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.ERROR)
    configure_structlog(logging.WARNING)  # no debug line per parsed message
    agent = Agent.load(str(model))

    async def parse() -> list[dict]:
        return [await agent.parse_message(text) for text in texts]

    return asyncio.run(parse())


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


def dialogue_figures(truth: list[str], parses: list[dict]) -> dict:
    """What the bot does with the stories (messages whose label is a category)."""
    known = set(routing.categories())
    moves: Counter = Counter()
    right = wrong_confirmation = stories = 0
    for label, parsed in zip(truth, parses, strict=False):
        if label not in known:
            continue
        stories += 1
        ranking = [
            (r["name"], r["confidence"])
            for r in parsed.get("intent_ranking") or []
            if r["name"] != "nlu_fallback"
        ]
        predicted = (parsed.get("intent") or {}).get("name")
        if predicted not in known:
            # nlu_fallback with a category first: the bot asks queja or denuncia;
            # another intent: the citizen is answered as such (a miss).
            best = ranking[0][0] if ranking else None
            moves["ask_family" if predicted == "nlu_fallback" and best in known else "missed"] += 1
            continue
        decision = classification.decide(ranking)
        moves[decision.action] += 1
        right += label in decision.options
        wrong_confirmation += (
            decision.action == classification.CONFIRM and label not in decision.options
        )
    share = lambda n: round(n / stories, 4) if stories else 0.0  # noqa: E731
    return {
        "stories": stories,
        "proposed_one": share(moves[classification.CONFIRM]),
        "offered_two": share(moves[classification.CHOOSE_BETWEEN_TWO]),
        "asked_family": share(moves[classification.ASK_FAMILY] + moves["ask_family"]),
        "missed": share(moves["missed"]),
        "proposal_right": share(right),
        "wrong_confirmation": share(wrong_confirmation),
    }


def score(truth: list[str], parses: list[dict], out: Path, texts: list[str]) -> dict:
    guess = [(p.get("intent") or {}).get("name") or "" for p in parses]
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "text": text,
            "intent": t,
            "predicted": g,
            "confidence": round((p.get("intent") or {}).get("confidence") or 0.0, 4),
            "ranking": [
                (r["name"], round(r["confidence"], 4)) for r in (p.get("intent_ranking") or [])[:3]
            ],
        }
        for text, t, g, p in zip(texts, truth, guess, parses, strict=False)
    ]
    (out / "predictions.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    (out / "errors.json").write_text(
        json.dumps([r for r in rows if r["intent"] != r["predicted"]], ensure_ascii=False, indent=1)
    )
    labels = sorted(set(truth))
    report = classification_report(truth, guess, labels=labels, output_dict=True, zero_division=0)
    (out / "intent_report.json").write_text(json.dumps(report, indent=1))
    return {
        "examples": len(rows),
        "accuracy": round(sum(t == g for t, g in zip(truth, guess, strict=False)) / len(rows), 4),
        "macro_f1": round(f1_score(truth, guess, labels=labels, average="macro"), 4),
        "family_accuracy": round(
            sum(family(t) == family(g) for t, g in zip(truth, guess, strict=False)) / len(rows), 4
        ),
        "asked_instead": sum(g == "nlu_fallback" for g in guess),
        "cross_family_rate": cross_family_rate(truth, guess),
        "dialogue": dialogue_figures(truth, parses),
    }


def train(config: Path, out: Path) -> tuple[Path, float]:
    model = out / "model" / "nlu.tar.gz"
    started = time.monotonic()
    run(
        [RASA, "train", "nlu", "--config", str(config), "--nlu", str(TRAIN_DATA),
         "--out", str(model.parent), "--fixed-model-name", "nlu", "--quiet"]
    )  # fmt: skip
    return model, round(time.monotonic() - started, 1)


def evaluate(config: Path, name: str, model: Path | None = None) -> dict:
    """Train ``config`` on the training data (or take ``model``), score every test set."""
    out = RESULTS / name
    train_seconds = None
    if model is None:
        model, train_seconds = train(config, out)
    summary: dict = {
        "config": str(config.relative_to(ROOT)),
        "fallback_threshold": fallback_threshold(config),
        "train_seconds": train_seconds,
        "sets": {},
    }
    for set_name, path in TEST_SETS.items():
        messages = test_messages(path)
        texts = [text for text, _ in messages]
        truth = [intent for _, intent in messages]
        summary["sets"][set_name] = score(truth, parse_all(model, texts), out / set_name, texts)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def line(figures: dict) -> str:
    dialogue = figures["dialogue"]
    return (
        f"accuracy={figures['accuracy']:.3f} macro_f1={figures['macro_f1']:.3f} "
        f"family_accuracy={figures['family_accuracy']:.3f} "
        f"cross_family_rate={figures['cross_family_rate']:.3f} "
        f"(stories: one={dialogue['proposed_one']:.2f} two={dialogue['offered_two']:.2f} "
        f"family={dialogue['asked_family']:.2f} proposal_right={dialogue['proposal_right']:.3f} "
        f"wrong_confirmation={dialogue['wrong_confirmation']:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs="+", type=Path, help="pipeline configs to compare")
    parser.add_argument("--model", type=Path, help="score this trained model instead of training")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.compare:
        table = [
            "| pipeline | voices: accuracy | macro-F1 | family | original: accuracy | macro-F1 "
            "| family | training (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for config in args.compare:
            summary = evaluate(config.resolve(), config.stem)
            v, o = summary["sets"]["voices"], summary["sets"]["original"]
            table.append(
                f"| {summary['config']} | {v['accuracy']:.3f} | {v['macro_f1']:.3f} | "
                f"{v['family_accuracy']:.3f} | {o['accuracy']:.3f} | {o['macro_f1']:.3f} | "
                f"{o['family_accuracy']:.3f} | {summary['train_seconds']:.0f} |"
            )
            for set_name, figures in summary["sets"].items():
                print(f"{config.stem} {set_name}: {line(figures)}", flush=True)
        (RESULTS / "comparison.md").write_text("\n".join(table) + "\n")
        print("\n".join(table))
        return
    summary = evaluate(ROOT / "config.yml", "current", args.model)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"per-intent reports and errors: {RESULTS.relative_to(ROOT)}/current/<set>/")
    for set_name, figures in summary["sets"].items():
        print(f"{set_name}: {line(figures)}")


if __name__ == "__main__":
    main()
