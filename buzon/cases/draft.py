"""A case as the citizen gave it, and the rules it must meet to be registered.

The form validates each answer as it comes; :func:`checked` validates the whole
draft again at registration, with the same validators, so that no path into the
case store (a forged request to the action server, a slot set by a bug, a
message processed while the validator was unreachable) can store what the form
would have refused: a cédula that is no cédula, a canton of another province,
a consent that was never given.

>>> from datetime import datetime
>>> from tests import synthetic
>>> good = CaseDraft("queja", "queja_turnos", synthetic.cedula("171234567"), "0987654321",
...     "Ana@Example.com", "17", "1701", "Av. Amazonas N34-120", "No me dan turno desde marzo",
...     "rest", "2026-11-v1", datetime(2026, 11, 23, 10, 0), "c1", "r1")
>>> checked(good, consent_version="2026-11-v1", now=datetime(2026, 11, 23, 10, 5)).phone
'+593987654321'
>>> checked(good._replace(cedula="' OR 1=1 --"), "2026-11-v1", datetime(2026, 11, 23, 10, 5))
Traceback (most recent call last):
    ...
buzon.validation.Invalid: cedula_not_digits

Without an e-mail, a case must have come by WhatsApp, which can tell the citizen:

>>> checked(good._replace(email=None), "2026-11-v1", datetime(2026, 11, 23, 10, 5))
Traceback (most recent call last):
    ...
buzon.validation.Invalid: email_empty
>>> by_whatsapp = good._replace(email=None, channel="whatsapp", whatsapp_id="593987654321")
>>> checked(by_whatsapp, "2026-11-v1", datetime(2026, 11, 23, 10, 5)).contact_preference
'whatsapp'
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from buzon import territory
from buzon.cases import routing
from buzon.validation import Invalid, cedula, email, phone, text

CHANNELS = frozenset({"rest", "socketio", "whatsapp", "cmdline"})
# A consent belongs to the registration it was given in: not from the future
# (beyond clock skew between servers), not older than a conversation can last.
CONSENT_SKEW = timedelta(minutes=5)
CONSENT_MAX_AGE = timedelta(days=7)


class CaseDraft(NamedTuple):
    """Everything the citizen gave for one case."""

    kind: str
    category: str
    cedula: str
    phone: str
    email: str | None  # None: told by WhatsApp only, for a case that came by WhatsApp
    province_code: str
    canton_code: str
    address: str
    description: str
    channel: str
    consent_version: str
    consent_at: datetime
    conversation_id: str | None = None  # with registration_id: the files sent for this case
    registration_id: str | None = None
    whatsapp_id: str | None = None  # the WhatsApp number it came from, to notify there

    @property
    def contact_preference(self) -> str:
        """How the citizen chose to be told: by e-mail (and WhatsApp), or WhatsApp only."""
        return "email" if self.email is not None else "whatsapp"


def _place(province_code: str, canton_code: str) -> tuple[str, str]:
    province, canton = territory.by_code(province_code), territory.by_code(canton_code)
    if not isinstance(province, territory.Province):
        raise Invalid("province_unknown")
    if not (isinstance(canton, territory.Canton) and canton.province == province):
        raise Invalid("canton_not_in_province")
    return province.code, canton.code


def checked(draft: CaseDraft, consent_version: str, now: datetime) -> CaseDraft:
    """The draft with every field validated and normalised again; Invalid if any fails.

    Fields are checked in the order the form asks them, so the first refusal is
    the first question to ask again.
    """
    if draft.kind not in ("queja", "denuncia"):
        raise Invalid("kind_unknown")
    if draft.channel not in CHANNELS:
        raise Invalid("channel_unknown")
    if (
        draft.consent_version != consent_version
        or not isinstance(draft.consent_at, datetime)
        or not now - CONSENT_MAX_AGE <= draft.consent_at <= now + CONSENT_SKEW
    ):
        raise Invalid("consent")
    valid_cedula = cedula.validate(draft.cedula)
    valid_phone = phone.validate(draft.phone)
    if draft.email is None:
        # Without an e-mail, only WhatsApp can tell the citizen anything
        if draft.channel != "whatsapp" or draft.whatsapp_id is None:
            raise Invalid("email_empty")
        valid_email = None
    else:
        valid_email = email.validate(draft.email)
    province_code, canton_code = _place(draft.province_code, draft.canton_code)
    valid_address = text.validate_address(draft.address)
    valid_description = text.validate_description(draft.description)
    if draft.category not in routing.categories(draft.kind):
        raise Invalid("category")
    if draft.whatsapp_id is not None and not re.fullmatch(r"\d{8,15}", draft.whatsapp_id):
        raise Invalid("whatsapp_id")
    return draft._replace(
        cedula=valid_cedula,
        phone=valid_phone,
        email=valid_email,
        province_code=province_code,
        canton_code=canton_code,
        address=valid_address,
        description=valid_description,
    )
