"""Case numbers and tracking keys.

A case number says only the kind, the year and a sequence: ``IESS-Q-2026-000123``
for a queja, ``IESS-D-2026-000045`` for a denuncia. It is not secret, so a case
is only shown together with its tracking key: twelve random characters from an
alphabet without look-alikes, shown in groups of four.

>>> format_case_number("queja", 2026, 123)
'IESS-Q-2026-000123'
>>> parse_case_number(" iess-d-2026-45 ")
'IESS-D-2026-000045'
>>> parse_case_number("IESS Q 2026 123")
'IESS-Q-2026-000123'
>>> parse_case_number("IESS-X-2026-000001") is None
True
>>> key = new_tracking_key()
>>> len(key), key[4], key[9]
(14, '-', '-')
>>> normalize_tracking_key(key.lower().replace("-", " ")) == key
True
"""

from __future__ import annotations

import re
import secrets

from buzon.validation import Invalid

KIND_LETTER = {"queja": "Q", "denuncia": "D"}
_NUMBER = re.compile(r"^IESS-([QD])-(\d{4})-(\d{1,6})$")
# Crockford's base32 without I, L, O and U: nothing to confuse on a cheap screen.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_LENGTH = 12


def format_case_number(kind: str, year: int, sequence: int) -> str:
    return f"IESS-{KIND_LETTER[kind]}-{year:04d}-{sequence:06d}"


def parse_case_number(text: str) -> str | None:
    """The canonical form of a case number a citizen typed, or None."""
    compact = re.sub(r"[\s_\-]+", "-", (text or "").strip()).upper()
    match = _NUMBER.match(compact)
    if not match:
        return None
    letter, year, sequence = match.groups()
    return f"IESS-{letter}-{year}-{int(sequence):06d}"


def new_tracking_key() -> str:
    """A fresh random key (about 60 bits), grouped as XXXX-XXXX-XXXX.

    Always with a letter and a digit: a key inside a sentence ("… clave abcd 2345
    efgh") is told from words and numbers by having both (:func:`find_in`); one key in
    a hundred drawn freely was letters only and was not found there.

    >>> key = new_tracking_key()
    >>> any(c.isdigit() for c in key) and any(c.isalpha() for c in key)
    True
    """
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))
        if any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw):
            return "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))


def normalize_tracking_key(text: str) -> str | None:
    """The canonical grouped form of a key a citizen typed, or None."""
    raw = re.sub(r"[\s\-.]", "", text or "").upper()
    raw = raw.translate(str.maketrans("OIL", "011"))
    if len(raw) != KEY_LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))


# A case number inside a sentence, loosely written: "iess q 2026 123", "IESS-D-2026-45".
_NUMBER_IN_TEXT = re.compile(r"\biess[\s_\-]*[qd][\s_\-]*\d{4}[\s_\-]*\d{1,6}\b", re.IGNORECASE)
# A key inside a sentence: twelve characters of its alphabet, in groups of four or
# run together, with a letter and a digit among them, so that three short words
# ("hola como esta") or a phone number are no key.
_KEY_IN_TEXT = re.compile(
    r"(?<![\w\-.+])([0-9a-z]{4})[\s\-.]?([0-9a-z]{4})[\s\-.]?([0-9a-z]{4})(?![\w\-])",
    re.IGNORECASE,
)


def find_in(text: str) -> tuple[str | None, str | None]:
    """The case number and the tracking key written anywhere in ``text``.

    >>> find_in("iess-q-2026-123 clave: k7m2-p9qr-x4tz")
    ('IESS-Q-2026-000123', 'K7M2-P9QR-X4TZ')
    >>> find_in("mi caso es IESS D 2026 45, la clave ab3d 7fgh 9kmn")
    ('IESS-D-2026-000045', 'AB3D-7FGH-9KMN')
    >>> find_in("quiero saber como va mi denuncia")
    (None, None)
    >>> find_in("IESS-Q-2026-123 hola como esta, mi cel +593998765432")
    ('IESS-Q-2026-000123', None)
    """
    text = text or ""
    number = None
    found = _NUMBER_IN_TEXT.search(text)
    if found:
        number = parse_case_number(found.group(0))
        text = text[: found.start()] + " " + text[found.end() :]
    key = None
    for match in _KEY_IN_TEXT.finditer(text):
        raw = "".join(match.groups()).upper()
        if not (any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw)):
            continue
        if all(c in ALPHABET for c in raw):  # no O/I/L read as 0/1/1 inside a sentence
            key = "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))
            break
    return number, key


def validate_case_number(text: str) -> str:
    """The canonical case number, or Invalid("case_number").

    >>> validate_case_number("iess-q-2026-7")
    'IESS-Q-2026-000007'
    """
    number = parse_case_number(text) or find_in(text)[0]
    if number is None:
        raise Invalid("case_number")
    return number


def validate_tracking_key(text: str) -> str:
    """The canonical tracking key (typed alone or in a sentence), or Invalid("tracking_key").

    >>> validate_tracking_key("la clave es qwer-5678-zxcv")
    'QWER-5678-ZXCV'
    """
    key = normalize_tracking_key(text) or find_in(text)[1]
    if key is None:
        raise Invalid("tracking_key")
    return key
