"""Ecuadorian phone numbers, returned in E.164 (``+593…``).

Mobiles are ``09`` plus 8 digits; landlines are a one-digit area code
(``02`` Pichincha, ``04`` Guayas…) plus 7 digits. Numbers may be typed in
national form, with ``+593`` / ``593`` / ``00593`` in front, and with spaces,
hyphens, dots or parentheses. Parsing and validity come from
:mod:`phonenumbers` with region ``EC``. Only landlines and mobiles are
accepted: toll-free and other service numbers cannot reach the citizen.

>>> validate('098 765 4321')
'+593987654321'
>>> validate('+593 98 765 4321')
'+593987654321'
>>> validate('(02) 394-5666')
'+59323945666'
>>> validate('394 5666')  # landline without area code
Traceback (most recent call last):
    ...
buzon.validation.Invalid: phone_invalid
>>> validate('+57 300 1234567')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: phone_foreign
>>> validate('098 llamar tarde')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: phone_not_digits
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from buzon.validation import Invalid

REGION = "EC"
_ALLOWED = re.compile(r"[0-9\s+().\-/]*")
_ACCEPTED_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def validate(text: str) -> str:
    """Return the number in ``text`` in E.164 or raise :class:`Invalid`.

    Reasons: ``phone_empty``, ``phone_not_digits`` (letters or other
    symbols), ``phone_invalid`` (not a valid Ecuadorian landline or mobile),
    ``phone_foreign`` (a valid number of another country).

    >>> validate('593987654321')
    '+593987654321'
    >>> validate('042123456')
    '+59342123456'
    >>> validate('+1 202 555 0143')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: phone_foreign
    """
    # NFKC turns full-width digits and plus signs into ASCII.
    number = unicodedata.normalize("NFKC", text or "").strip()
    if not number:
        raise Invalid("phone_empty")
    if not _ALLOWED.fullmatch(number):
        raise Invalid("phone_not_digits")
    if not any(char.isdigit() for char in number):
        raise Invalid("phone_invalid")
    try:
        parsed = phonenumbers.parse(number, REGION)
    except NumberParseException:
        raise Invalid("phone_invalid") from None
    valid = phonenumbers.is_valid_number(parsed)
    if phonenumbers.region_code_for_number(parsed) != REGION:
        raise Invalid("phone_foreign" if valid else "phone_invalid")
    if not valid or phonenumbers.number_type(parsed) not in _ACCEPTED_TYPES:
        raise Invalid("phone_invalid")
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
