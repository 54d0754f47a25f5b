"""Questions in the middle of a form get a short, true answer (actions/questions.py).

The rules then give the turn back to the form (tests/conversations), which asks its
question again; here: which answer, with the figures it needs.
"""

import pytest

from actions.questions import AnswerQuestion
from buzon.cases import deadlines
from tests.actions.helpers import CASE, make_tracker, run_action


def ask(intent, text, **given):
    return run_action(AnswerQuestion(), make_tracker(given, text=text, intent=intent))


@pytest.mark.parametrize(
    "intent,text,response",
    [
        ("ask_confidentiality", "¿es anónimo? ¿se enterará mi jefe?", "utter_confidentiality"),
        ("ask_why_data", "¿para qué quieren mi cédula?", "utter_why_data"),
        ("ask_process", "¿cuánto se demoran en responder?", "utter_process"),
    ],
)
def test_each_question_gets_its_answer_and_changes_nothing(intent, text, response):
    outcome = ask(intent, text, **CASE, requested_slot="phone")
    assert outcome.responses == [response]
    assert outcome.events == []  # the form's answers stay as they were


def test_the_time_it_takes_comes_from_the_configured_deadlines():
    outcome = ask("ask_process", "y despues que pasa")
    sent = outcome.sent("utter_process")
    assert {k: sent[k] for k in deadlines.promised()} == deadlines.promised()
    assert sent["queja_business_days"] == 30 and sent["denuncia_months"] == 3


def test_a_denunciante_is_told_who_sees_the_identity(tmp_path):
    from tests.actions.helpers import DOMAIN

    variants = DOMAIN["responses"]["utter_confidentiality"]
    for_denuncias = [v for v in variants if v.get("condition")]
    assert for_denuncias and "seudónimo" in for_denuncias[0]["text"]
    assert all("gestiondenuncias@iess.gob.ec" in v["text"] for v in variants)
    assert all("no es anónimo" in v["text"] for v in variants)
