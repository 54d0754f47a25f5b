"""Rasa's check of each action-server response, with its validator built once.

Rasa 3.6 checks every response of the action server against a JSON schema
(``RemoteAction._validate_action_result``) with ``jsonschema.validate``, which
first checks the schema itself against the Draft 2020-12 metaschema, on every
call: about 20 ms of the Rasa server's CPU per call here, and a form turn makes
one or two calls. A sampling profile under load put half of the server's CPU
there (README, "Performance"). The schema is a constant, so :func:`install`
builds its validator once, after checking the schema once, and validates each
response with it: the same schema, the same errors (``best_match``, with Rasa's
words appended), a fraction of the time.

Even built once, the validator spent about 5 ms on a response of 21 events (the start
of a case resets every slot of the form): each event is checked against all 23
alternatives of the schema's ``oneOf``, one per kind of event, to prove that exactly
one matches. The alternatives are told apart by a ``const`` on the event's name, all
different, so exactly one matches when the event's own alternative does:
:class:`ResponseValidator` checks each event against that one (0.55 ms), and asks the
whole schema only for a response it refuses, for the error Rasa would give.

Installed when the channels load (:mod:`channels`), like
:mod:`channels.server_hardening`.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions import action as rasa_action

_HINT = (
    ". Failed to validate Action server response from API, "
    "make sure your response from the Action endpoint is valid. "
    "For more information about the format visit "
    f"{rasa_action.DOCS_BASE_URL}/custom-actions"
)


class ResponseValidator:
    """Rasa's action-response schema, each event checked against its kind's alternative."""

    def __init__(self, schema: dict[str, Any]) -> None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        self.whole = cls(schema)
        items = schema["properties"]["events"]["items"]
        kinds = [alt.get("properties", {}).get("event", {}).get("const") for alt in items["oneOf"]]
        if None in kinds or len(set(kinds)) != len(kinds):  # a schema this shortcut is not for
            raise ValueError("the alternatives of an event are not told apart by its name")
        outer = copy.deepcopy(schema)
        del outer["properties"]["events"]["items"]["oneOf"]
        self.outer = cls(outer)  # all but the oneOf: the response's shape, each event's fields
        self.of_kind = {kind: cls(alt) for kind, alt in zip(kinds, items["oneOf"], strict=True)}

    def is_valid(self, response: Any) -> bool:
        """What the whole schema says, by the shortcut (the module's note)."""
        if not self.outer.is_valid(response):
            return False
        events = response.get("events", []) if isinstance(response, dict) else []
        for event in events:  # each an object with a string "event" (checked by outer)
            alternative = self.of_kind.get(event["event"])
            if alternative is None or not alternative.is_valid(event):
                return False
        return True

    def error(self, response: Any) -> ValidationError | None:
        """None for a valid response, else the error the whole schema gives."""
        if self.is_valid(response):
            return None
        return best_match(self.whole.iter_errors(response))


def response_validator() -> ResponseValidator:
    """The validator of Rasa's action-response schema, the schema checked once."""
    return ResponseValidator(rasa_action.RemoteAction.action_response_format_spec())


def install() -> None:
    """Validate action responses with one validator (idempotent)."""
    current = rasa_action.RemoteAction._validate_action_result
    if getattr(current, "_buzon_prebuilt", False):
        return
    validator = response_validator()

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = validator.error(result)
        if error is not None:
            error.message += _HINT  # as Rasa words it
            raise error
        return True

    _validate_action_result._buzon_prebuilt = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result
