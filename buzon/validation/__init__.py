"""Validators for what a citizen types into the intake form.

Each validator returns the normalised value or raises :class:`Invalid` with a
short ``reason`` code. The Rasa adapter turns a reason into the domain response
``utter_invalid_<reason>``, so no citizen-facing sentence lives in Python.
"""


class Invalid(ValueError):
    """A value the citizen typed cannot be accepted.

    ``reason`` names what is wrong (``cedula_length``, ``phone_foreign``…);
    ``details`` carries values the Spanish message may mention.
    """

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details
