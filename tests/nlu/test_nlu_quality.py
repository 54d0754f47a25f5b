"""NLU quality on the held-out test set: reads what `make nlu-report` measured."""

import json
from pathlib import Path

import pytest

SUMMARY = Path(__file__).resolve().parents[2] / "results" / "nlu" / "summary.json"
MINIMUM = {"accuracy": 0.92, "macro_f1": 0.92, "family_accuracy": 0.98}


@pytest.fixture(scope="module")
def summary():
    assert SUMMARY.exists(), "run `make nlu-report` first (make test does)"
    return json.loads(SUMMARY.read_text())


def test_the_report_scored_the_whole_held_out_set(summary):
    assert summary["examples"] >= 300


@pytest.mark.parametrize("figure", sorted(MINIMUM))
def test_nlu_meets_its_minimum_on_messages_it_never_saw(summary, figure):
    assert summary[figure] >= MINIMUM[figure], f"{figure} {summary[figure]} < {MINIMUM[figure]}"
