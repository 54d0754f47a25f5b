"""Cédula de identidad (Ecuadorian personal identity number).

A cédula has 10 digits: two for the province of registration (01–24, or 30
for Ecuadorians registered abroad), a third digit below 6, six more digits
and a check digit. The check digit is verified with :mod:`stdnum.ec.ci`.

People type separators, so spaces, dots and hyphens are tolerated and
removed. The examples use synthetic numbers built for the doctest.

>>> validate('170000000-1')
'1700000001'
>>> validate(' 09 1234 5675 ')
'0912345675'
>>> validate('17000000O1')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: cedula_not_digits
>>> try:
...     validate('170000000')
... except Invalid as error:
...     print(error.reason, error.details)
cedula_length {'length': 9}
>>> try:
...     validate('2500000001')
... except Invalid as error:
...     print(error.reason, error.details)
cedula_province {'province_code': '25'}
>>> validate('1760000001')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: cedula_third_digit
>>> validate('1700000002')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: cedula_check_digit
"""

from __future__ import annotations

import re
import unicodedata

from stdnum.ec import ci
from stdnum.exceptions import ValidationError

from buzon.validation import Invalid

LENGTH = 10
_SEPARATORS = re.compile(r"[\s.\-]+")
_DIGITS = re.compile(r"[0-9]*")
_PROVINCES = frozenset(f"{code:02d}" for code in range(1, 25)) | {"30"}


def compact(text: str) -> str:
    """Return ``text`` without the spaces, dots and hyphens people type.

    >>> compact('17.000.0000-1')
    '1700000001'
    """
    # NFKC turns full-width digits (from some phone keyboards) into ASCII.
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))


def validate(text: str) -> str:
    """Return the 10 digits of the cédula in ``text`` or raise :class:`Invalid`.

    Reasons, checked in this order: ``cedula_empty``, ``cedula_not_digits``,
    ``cedula_length`` (``length``), ``cedula_province`` (``province_code``),
    ``cedula_third_digit``, ``cedula_check_digit``.
    """
    number = compact(text)
    if not number:
        raise Invalid("cedula_empty")
    if not _DIGITS.fullmatch(number):
        raise Invalid("cedula_not_digits")
    if len(number) != LENGTH:
        raise Invalid("cedula_length", length=len(number))
    if number[:2] not in _PROVINCES:
        raise Invalid("cedula_province", province_code=number[:2])
    # stdnum also accepts 6 (public bodies' RUC); a person's cédula is below 6.
    if number[2] >= "6":
        raise Invalid("cedula_third_digit")
    try:
        return ci.validate(number)
    except ValidationError:
        # Format, length, province and third digit were checked above.
        raise Invalid("cedula_check_digit") from None
