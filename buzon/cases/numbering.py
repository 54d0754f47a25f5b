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
    """A fresh random key (60 bits), grouped as XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))


def normalize_tracking_key(text: str) -> str | None:
    """The canonical grouped form of a key a citizen typed, or None."""
    raw = re.sub(r"[\s\-.]", "", text or "").upper()
    raw = raw.translate(str.maketrans("OIL", "011"))
    if len(raw) != KEY_LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))


def validate_case_number(text: str) -> str:
    """The canonical case number, or Invalid("case_number").

    >>> validate_case_number("iess-q-2026-7")
    'IESS-Q-2026-000007'
    """
    number = parse_case_number(text)
    if number is None:
        raise Invalid("case_number")
    return number


def validate_tracking_key(text: str) -> str:
    """The canonical tracking key, or Invalid("tracking_key")."""
    key = normalize_tracking_key(text)
    if key is None:
        raise Invalid("tracking_key")
    return key
