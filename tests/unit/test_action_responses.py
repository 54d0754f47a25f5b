"""Rasa's check of action-server responses: the same verdicts, the schema checked once."""

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

import channels  # noqa: F401  (installs the validator, as the Rasa server does)
from channels import action_responses

GOOD = {
    "events": [{"event": "slot", "name": "cedula", "value": "x", "timestamp": None}],
    "responses": [{"response": "utter_ask_phone"}],
}
BAD = [
    {"events": [{"event": "slot", "name": 3}], "responses": []},  # a slot's name is a string
    {"events": "SlotSet", "responses": []},
    {"events": [], "responses": ["utter_ask_phone"]},  # responses are objects
    [],
]


def remote():
    return RemoteAction("validate_case_form", None)


def test_good_responses_pass():
    assert remote()._validate_action_result(GOOD) is True
    assert remote()._validate_action_result({}) is True


@pytest.mark.parametrize("response", BAD)
def test_bad_responses_are_refused_with_the_same_error_as_stock_rasa(response):
    import jsonschema

    with pytest.raises(ValidationError) as ours:
        remote()._validate_action_result(response)
    with pytest.raises(ValidationError) as stock:
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    assert ours.value.message.startswith(stock.value.message)
    assert ours.value.path == stock.value.path
    assert "Failed to validate Action server response" in ours.value.message


def test_the_schema_is_not_checked_against_its_metaschema_on_each_response(monkeypatch):
    cls = validator_for(RemoteAction.action_response_format_spec())
    checks = []
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **k: checks.append(s)))
    for _ in range(5):
        remote()._validate_action_result(GOOD)
    assert checks == []
    action_responses.response_validator()  # building one checks the schema, once
    assert len(checks) == 1


def test_install_is_idempotent():
    installed = RemoteAction._validate_action_result
    action_responses.install()
    assert RemoteAction._validate_action_result is installed
