"""Cédula, phone and e-mail written inside a sentence, the way people answer.

"mi cédula es 1712345678", "es el 099 123 4567", "correo: ana@x.ec", "soy de Loja,
cédula …, celular …": the value is found in the sentence and then validated by its
own validator (:mod:`buzon.validation.cedula`, ``phone``, ``email``), never taken
on trust. Phones are found with ``phonenumbers``' matcher (region EC), e-mails with
a bounded pattern, cédulas as runs of ten digits (nine, a hyphen, one). A run of
ten digits that is both a valid phone and a valid cédula (0930000005: 09 is
Guayas) goes to the field a word just before it names ("cédula", "celular"…); with no such
word it goes only to the field that was asked.

>>> find("mi cédula es 1700000001 y mi cel 0991234567")
{'cedula': '1700000001', 'phone': '0991234567'}
>>> find("correo: Ana.Perez@Example.com")["email"]
'Ana.Perez@Example.com'
>>> find("es el 099 123 4567")
{'phone': '099 123 4567'}
>>> find("0930000005", asked="cedula"), find("0930000005", asked="phone")
({'cedula': '0930000005'}, {'phone': '0930000005'})
>>> find("0930000005", asked="email"), find("celular 0930000005", asked="email")
({}, {'phone': '0930000005'})
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import phonenumbers

from buzon import datafiles
from buzon.validation import Invalid, cedula, email, phone

FIELDS = ("cedula", "phone", "email")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_CEDULA = re.compile(r"(?<![\d+])(\d{9}-?\d|\d{2}[ .]?\d{4}[ .]?\d{3}-?\d)(?!\d)")
LABELS_FILE = "field_labels.yml"


@cache
def _labels() -> tuple[dict[str, re.Pattern[str]], re.Pattern[str]]:
    """Per field, a pattern for its label at the end of a text; and the fillers."""
    table = datafiles.load(LABELS_FILE)
    labels = {
        field: re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\W*$")
        for field, words in table["labels"].items()
    }
    fillers = "|".join(re.escape(w) for w in table["fillers"])
    return labels, re.compile(r"(\W|\b(" + fillers + r")\b)+$")


_LOOKBEHIND = 30  # characters before a value where its label may be


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def _label_before(text: str, start: int) -> str | None:
    labels, fillers = _labels()
    before = _plain(text[max(0, start - _LOOKBEHIND) : start])
    # "es", "el", ":" between the label and the value: "mi celular es el 099…"
    before = fillers.sub(" ", before).rstrip()
    for field, label in labels.items():
        if label.search(before + " "):
            return field
    return None


def _valid(validate, value: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        validate(value)
    except Invalid:
        return False
    return True


def find(text: str, asked: str | None = None) -> dict[str, str]:
    """The first valid-looking value of each field in ``text``, as written.

    ``asked`` is the field the bot asked for: an unlabelled number that could be
    either a cédula or a mobile goes to it, and to nothing else.
    """
    text = unicodedata.normalize("NFKC", text or "")
    found: dict[str, str] = {}
    mail = _EMAIL.search(text)
    if mail and _valid(email.validate, mail.group(0)):
        found["email"] = mail.group(0)
    taken: list[tuple[int, int]] = []
    for match in _CEDULA.finditer(text):
        value = match.group(0)
        if not _valid(cedula.validate, value):
            continue
        label = _label_before(text, match.start())
        if label == "cedula" or (
            label is None and (asked == "cedula" or not _valid(phone.validate, value))
        ):
            found.setdefault("cedula", value)
            taken.append(match.span())
    for number in phonenumbers.PhoneNumberMatcher(text, phone.REGION):
        if any(start <= number.start < end for start, end in taken):
            continue
        value = number.raw_string
        if not _valid(phone.validate, value):
            continue
        label = _label_before(text, number.start)
        if label == "phone" or (
            label is None and (asked == "phone" or not _valid(cedula.validate, value))
        ):
            found.setdefault("phone", value)
    return found


def email_span(text: str) -> tuple[int, int] | None:
    """Where an e-mail address is in ``text``, if anywhere.

    >>> email_span("es loja.ana@x.ec")
    (3, 16)
    """
    mail = _EMAIL.search(text or "")
    return mail.span() if mail else None


def validate_in(field: str, text: str) -> str:
    """``text`` validated as ``field``, or the value found inside it.

    The whole answer is tried first; when it is refused, a value of the field
    found in the sentence is validated instead; when none is valid, the refusal
    is that of what looks like the field ("1712345670": its check digit), or of
    the whole answer.

    >>> validate_in("cedula", "mi cédula es 1700000002")
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: cedula_check_digit
    >>> validate_in("phone", "no tengo celular")
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: phone_not_digits
    """
    validate = {"cedula": cedula.validate, "phone": phone.validate, "email": email.validate}[field]
    try:
        return str(validate(text))
    except Invalid as refused:
        value = find(text, asked=field).get(field)
        if value is None:
            # Something shaped like the field but wrong ("mi cédula es 1712345670"):
            # its own reason (check digit…) says more than "only digits".
            shaped = _SHAPED[field].search(unicodedata.normalize("NFKC", text or ""))
            if shaped is None or shaped.group(0).strip() == (text or "").strip():
                raise refused from None
            value = shaped.group(0)
        return str(validate(value))


_SHAPED = {
    "cedula": _CEDULA,
    "phone": re.compile(r"\+?\d[\d \-.()]{6,18}\d"),
    "email": re.compile(r"\S{1,64}@\S{1,255}"),
}
