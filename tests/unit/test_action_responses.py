"""Rasa's check of action-server responses: the same verdicts, the schema checked once."""

import copy

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


# --- the shortcut: each event against its own kind's alternative -------------------------

SCHEMA = RemoteAction.action_response_format_spec()
ALTERNATIVES = SCHEMA["properties"]["events"]["items"]["oneOf"]
WRONG = {"string": 3, "number": "3", "integer": 2.5, "boolean": "yes", "object": [], "array": {}}


def wrong_value(spec):
    """A value of none of the types ``spec`` allows (None when it allows anything)."""
    allowed = spec.get("type")
    if allowed is None:
        return None
    allowed = [allowed] if isinstance(allowed, str) else allowed
    return next(
        v
        for t, v in WRONG.items()
        if t not in allowed and not (t == "integer" and "number" in allowed)
    )


def events_of_every_shape():
    """From the schema itself: each kind's smallest event, each field of it wrong, each
    required field missing, an unknown kind, and fields of another kind."""
    shapes = [{"event": "no_such_event"}, {"event": 7}, {"name": "x"}, "slot", None]
    for alternative in ALTERNATIVES:
        kind = alternative["properties"]["event"]["const"]
        required = alternative.get("required", [])
        smallest = {"event": kind, **{field: "x" for field in required}}
        shapes += [smallest, {**smallest, "timestamp": None}, {**smallest, "timestamp": "now"}]
        shapes += [{**smallest, "metadata": []}]
        for field in required:
            shapes.append({k: v for k, v in smallest.items() if k != field})
        for field, spec in alternative["properties"].items():
            if field != "event" and wrong_value(spec) is not None:
                shapes.append({**smallest, field: wrong_value(spec)})
            if spec.get("type") == "array" and "items" in spec:
                shapes.append({**smallest, field: [{}]})  # an item missing what it requires
                shapes.append({**smallest, field: [3]})
        shapes.append({**smallest, "name": 3, "value": None, "entities": "x"})
    return shapes


def test_the_shortcut_gives_the_whole_schemas_verdict_on_every_shape_of_event():
    fast = action_responses.response_validator()
    whole = validator_for(SCHEMA)(SCHEMA)
    shapes = events_of_every_shape()
    responses = [{"events": [shape]} for shape in shapes]
    responses += [
        {"events": [shapes[i], shapes[j]]}
        for i in range(0, len(shapes), 7)
        for j in range(3, len(shapes), 11)
    ]
    responses += [{"events": [], "responses": [{"text": "hola"}]}, {"responses": "x"}, [], 3]
    valid = 0
    for response in responses:
        assert fast.is_valid(response) == whole.is_valid(response), response
        valid += whole.is_valid(response)
    assert 40 < valid < len(responses) - 100  # both verdicts well represented


def test_a_valid_response_is_not_checked_against_the_whole_schema(monkeypatch):
    fast = action_responses.response_validator()
    monkeypatch.setattr(fast.whole, "iter_errors", lambda *_: pytest.fail("whole schema used"))
    many = {"events": [{"event": "slot", "name": f"s{i}", "value": None} for i in range(25)]}
    assert fast.error(many) is None


def test_a_schema_whose_alternatives_share_a_name_is_refused():
    schema = copy.deepcopy(SCHEMA)
    items = schema["properties"]["events"]["items"]
    items["oneOf"].append(copy.deepcopy(items["oneOf"][0]))  # two alternatives for "user"
    with pytest.raises(ValueError):
        action_responses.ResponseValidator(schema)
