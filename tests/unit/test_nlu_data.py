"""The training data, the domain and the data files agree with each other."""

from collections import Counter
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data

from buzon.cases import routing
from scripts.generate_lookups import TARGET, render

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())


def training_examples():
    data = load_data(str(ROOT / "data" / "nlu"))
    return [(m.get("intent"), m.get("text")) for m in data.intent_examples]


def test_lookup_tables_are_generated_from_the_territorial_list():
    assert TARGET.read_text(encoding="utf-8") == render(), "run scripts/generate_lookups.py"


def test_every_category_of_the_routing_table_is_an_intent_and_back():
    category_intents = {i for i in DOMAIN["intents"] if i.startswith(("queja_", "denuncia_"))}
    assert category_intents == set(routing.categories())
    assert len(routing.categories("queja")) == 7 and len(routing.categories("denuncia")) == 5


def test_every_intent_has_training_examples_and_no_example_is_in_two_intents():
    examples = training_examples()
    counts = Counter(intent for intent, _ in examples)
    for intent in DOMAIN["intents"]:
        assert counts[intent] >= 15, f"{intent} has only {counts[intent]} examples"
    owners = {}
    for intent, text in examples:
        key = " ".join(text.lower().split())
        assert owners.setdefault(key, intent) == intent, (
            f"'{text}' is in {owners[key]} and {intent}"
        )


def _plain(text: str) -> str:
    from unidecode import unidecode

    return " ".join(
        "".join(c for c in unidecode(text).lower() if c.isalnum() or c.isspace()).split()
    )


HELD_OUT = ["test_set.yml", "test_set_voices.yml", "test_questions_voices.yml"]


@pytest.mark.parametrize("name", HELD_OUT)
def test_no_held_out_message_is_in_the_training_data_or_a_near_copy_of_one(name):
    from rapidfuzz import fuzz, process

    training = [_plain(text) for _, text in training_examples()]
    held_out = load_data(str(ROOT / "tests" / "nlu" / name)).intent_examples
    assert len(held_out) >= 60
    for message in held_out:
        text = _plain(message.get("text"))
        assert text not in training, f"'{message.get('text')}' is also training data"
        if len(text.split()) >= 4:  # short answers ("si", "no gracias") repeat by nature
            match = process.extractOne(text, training, scorer=fuzz.ratio, score_cutoff=90)
            assert match is None, f"'{message.get('text')}' is a near copy of '{match[0]}'"


def test_every_intent_has_ten_held_out_messages():
    counts = Counter(
        m.get("intent")
        for name in HELD_OUT
        for m in load_data(str(ROOT / "tests" / "nlu" / name)).intent_examples
    )
    assert min(counts[i] for i in DOMAIN["intents"]) >= 10


def test_the_voices_set_has_twenty_messages_per_category():
    counts = Counter(
        m.get("intent")
        for m in load_data(str(ROOT / "tests" / "nlu" / "test_set_voices.yml")).intent_examples
    )
    assert min(counts[c] for c in routing.categories()) >= 20


def test_every_category_has_150_training_examples_from_several_voices():
    counts = Counter(intent for intent, _ in training_examples())
    assert min(counts[c] for c in routing.categories()) >= 150
    voices = list((ROOT / "data" / "nlu" / "voices").glob("*.yml"))
    assert len(voices) >= 4


def test_the_report_puts_every_intent_in_its_family():
    import importlib.util

    spec = importlib.util.spec_from_file_location("nlu_report", ROOT / "scripts" / "nlu_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    for intent in domain["intents"]:
        expected = next(
            (
                kind
                for kind in ("queja", "denuncia")
                if intent.startswith(f"{kind}_") or intent == f"register_{kind}"
            ),
            "other",
        )
        assert report.family(intent) == expected, intent
    assert {report.family("register_queja"), report.family("register_denuncia")} == {
        "queja",
        "denuncia",
    }
