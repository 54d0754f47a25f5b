"""Free text the citizen writes: the description of the case and an address.

:func:`clean` is applied first by every validator here and the cleaned text is
what they return. It puts the text in Unicode NFC, drops control and
invisible format characters, and turns every run of whitespace, newlines
included, into a single space: the text is stored and read back on one line.

>>> clean('  Me negaron\\n\\n la  cita\\x00 ')
'Me negaron la cita'
>>> validate_description('Me negaron la cita médica dos veces.')
'Me negaron la cita médica dos veces.'
>>> validate_description('...................')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: description_too_short
>>> validate_address('Av. 10 de Agosto N24-15 y Cordero')
'Av. 10 de Agosto N24-15 y Cordero'
>>> validate_address('calle sucre s/n')
'calle sucre s/n'
>>> validate_address('calle principal')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: address_no_number
"""

from __future__ import annotations

import re
import unicodedata

from unidecode import unidecode

from buzon.validation import Invalid

# A real sentence of several words uses more distinct letters than this;
# "jajaja jajaja", "aaaa aaaa" or "mal mal mal mal" do not.
_MIN_DISTINCT_LETTERS = 5
_ADDRESS_MIN_WORDS = 2
_ADDRESS_MIN_CHARS = 5
# "s/n", "S / N", "s.n.", "sn", "s/nro", "sin número", "sin num.", "sin nº"
# (matched after removing accents and the ordinal signs º and °).
_NO_NUMBER = re.compile(
    r"(?<![a-z0-9])(s\s*/\s*n|s\.?\s*n|sin\s+n)(ro|um|umero)?\.?(?![a-z0-9])",
    re.IGNORECASE,
)
# An Ecuadorian address is often a reference instead of a number: "junto al mercado
# mayorista", "frente a la escuela", "diagonal al parque", "a dos cuadras del UPC".
_REFERENCE = re.compile(
    r"(?<![a-z])(junto|frente|diagonal|cerca|atras|detras|lado|alado|entre|esquina"
    r"|cuadras?|referencia|ref)(?![a-z])",
    re.IGNORECASE,
)
_ORDINAL_SIGNS = str.maketrans("", "", "º°")
_ZERO_WIDTH_JOINER = "\u200d"  # part of emoji such as family or flags


def _keep(char: str) -> bool:
    if char == _ZERO_WIDTH_JOINER:
        return True
    # Cc control, Cf format (zero-width space, BOM, bidi overrides),
    # Cs lone surrogates (cannot be stored as UTF-8), Cn unassigned.
    return unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Cn"}


def clean(text: str) -> str:
    """Return ``text`` stripped, without control characters, on one line.

    Whitespace control characters (newline, tab…) count as spaces; other
    control and format characters are removed.

    >>> clean('Quito,\\tsector\\r\\nnorte\\u200b')
    'Quito, sector norte'
    >>> clean(None)
    ''
    """
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(char if char.isspace() or _keep(char) else "" for char in text)
    return " ".join(text.split())


def _letters(text: str) -> list[str]:
    return [char for char in text if char.isalpha()]


def validate_description(
    text: str, min_words: int = 4, min_chars: int = 20, max_chars: int = 4000
) -> str:
    """Return the cleaned description or raise :class:`Invalid`.

    Reasons: ``description_empty``, ``description_too_long`` (``max_chars``),
    ``description_too_short`` (``min_words``, ``min_chars``). Only words with
    at least one letter count, and text made of one repeated character, with
    no letters or with very few distinct letters is too short.

    >>> validate_description('1234 5678 9999 0000 1111')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: description_too_short
    >>> try:
    ...     validate_description('x' * 4001)
    ... except Invalid as error:
    ...     print(error.reason, error.details)
    description_too_long {'max_chars': 4000}
    """
    description = clean(text)
    if not description:
        raise Invalid("description_empty")
    if len(description) > max_chars:
        raise Invalid("description_too_long", max_chars=max_chars)
    words = [word for word in description.split() if _letters(word)]
    distinct = {letter.casefold() for letter in _letters(description)}
    if (
        len(words) < min_words
        or len(description) < min_chars
        or len(distinct) < _MIN_DISTINCT_LETTERS
    ):
        raise Invalid("description_too_short", min_words=min_words, min_chars=min_chars)
    return description


def validate_address(text: str, max_chars: int = 200) -> str:
    """Return the cleaned street address or raise :class:`Invalid`.

    An address needs a street name (letters) and a house number: digits
    (``N34-120``, ``1234``, ``Mz 5 Villa 3``, ``km 5``), a "no number"
    marker (``s/n``, ``sn``, ``sin número``) or a reference, as Ecuadorian
    addresses often are (``junto al mercado mayorista``, ``frente a la escuela``).

    >>> validate_address('no sé la dirección exacta, junto al mercado mayorista')
    'no sé la dirección exacta, junto al mercado mayorista'

    Reasons, in this order: ``address_empty``, ``address_too_long``
    (``max_chars``), ``address_too_short`` (``min_words``, ``min_chars``),
    ``address_no_street`` (no letters at all), ``address_no_number``.

    >>> validate_address('Barrio San José, calle principal sin número')
    'Barrio San José, calle principal sin número'
    >>> validate_address('casa')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: address_too_short
    >>> validate_address('N34-120 455')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: address_no_street
    """
    address = clean(text)
    if not address:
        raise Invalid("address_empty")
    if len(address) > max_chars:
        raise Invalid("address_too_long", max_chars=max_chars)
    if len(address.split()) < _ADDRESS_MIN_WORDS or len(address) < _ADDRESS_MIN_CHARS:
        raise Invalid(
            "address_too_short",
            min_words=_ADDRESS_MIN_WORDS,
            min_chars=_ADDRESS_MIN_CHARS,
        )
    if len(_letters(address)) < 2:
        raise Invalid("address_no_street")
    has_digit = any(char.isdigit() for char in address)
    plain = unidecode(address.translate(_ORDINAL_SIGNS))
    if not has_digit and not _NO_NUMBER.search(plain) and not _REFERENCE.search(plain):
        raise Invalid("address_no_number")
    return address
