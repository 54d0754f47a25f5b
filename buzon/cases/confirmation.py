"""The confirmation e-mail of a new case (``buzon/data/confirmation_email.yml``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from buzon import datafiles
from buzon.cases import routing
from buzon.clock import ecuador_time_text


class Registered(Protocol):
    """What the e-mail says of the registration (a :class:`~buzon.cases.store.Registration`)."""

    @property
    def number(self) -> str: ...

    @property
    def tracking_key(self) -> str: ...

    @property
    def area_name(self) -> str: ...


def compose(
    kind: str, category: str, registration: Registered, registered_at: datetime
) -> tuple[str, str]:
    """Subject and body of the confirmation e-mail for a new case."""
    template = datafiles.load("confirmation_email.yml")
    values = {
        "kind_label": template["kind_labels"][kind],
        "kind_note": template["kind_notes"][kind],
        "category_label": routing.label_of(category),
        "number": registration.number,
        "tracking_key": registration.tracking_key,
        "area_name": registration.area_name,
        "registered_at": ecuador_time_text(registered_at),
    }
    return template["subject"].format(**values), template["body"].format(**values)
