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

Installed when the channels load (:mod:`channels`), like
:mod:`channels.server_hardening`.
"""

from __future__ import annotations

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


def response_validator() -> Any:
    """The validator of Rasa's action-response schema, the schema checked once."""
    schema = rasa_action.RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    """Validate action responses with one validator (idempotent)."""
    current = rasa_action.RemoteAction._validate_action_result
    if getattr(current, "_buzon_prebuilt", False):
        return
    validator = response_validator()

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += _HINT  # as Rasa words it
            raise error
        return True

    _validate_action_result._buzon_prebuilt = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result
