"""Cédula, phone and e-mail written inside a sentence, the way people answer.

"mi cédula es 1712345678", "es el 099 123 4567", "correo: ana@x.ec", "soy de Loja,
cédula …, celular …": the value is found in the sentence and then validated by its
own validator (:mod:`buzon.validation.cedula`, ``phone``, ``email``), never taken
on trust. Phones are found with ``phonenumbers``' matcher (region EC), e-mails with
a bounded pattern, cédulas as runs of ten digits (nine, a hyphen, one). A run of
ten digits that is both a valid phone and a valid cédula (0930000005: 09 is
Guayas) goes to the field a word just before it names ("cédula", "celular"…); with no such
word it goes only to the field that was asked.

>>> written = lambda text, asked=None: {f: v.value for f, v in find_all(text, asked).items()}
>>> written("mi cédula es 1700000001 y mi cel 0991234567")
{'cedula': '1700000001', 'phone': '0991234567'}
>>> find_all("correo: Ana.Perez@Example.com")["email"].normal
'Ana.Perez@example.com'
>>> find_all("es el 099 123 4567")["phone"].normal
'+593991234567'
>>> written("0930000005", asked="cedula"), written("0930000005", asked="phone")
({'cedula': '0930000005'}, {'phone': '0930000005'})
>>> written("0930000005", asked="email"), written("celular 0930000005", asked="email")
({}, {'phone': '0930000005'})
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import phonenumbers

from buzon import datafiles
from buzon.validation import Invalid, cedula, email, phone

FIELDS = ("cedula", "phone", "email")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_CEDULA = re.compile(r"(?<![\d+])(\d{9}-?\d|\d{2}[ .]?\d{4}[ .]?\d{3}-?\d)(?!\d)")
LABELS_FILE = "field_labels.yml"
_LOOKBEHIND = 30  # characters before a value where its label may be


@dataclass(frozen=True)
class _Words:
    labels: dict[str, re.Pattern[str]]  # a field's label at the end of a text
    own: dict[str, re.Pattern[str]]  # "mi" + the field's label at the end of a text
    fillers: re.Pattern[str]
    institutional: tuple[str, ...]


def _alternatives(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in words)


@cache
def _words() -> _Words:
    table = datafiles.load(LABELS_FILE)
    labels = {field: _alternatives(words) for field, words in table["labels"].items()}
    own = _alternatives(table["own"])
    return _Words(
        labels={f: re.compile(r"\b(" + w + r")\W*$") for f, w in labels.items()},
        own={f: re.compile(r"\b(" + own + r")\s+(" + w + r")\W*$") for f, w in labels.items()},
        fillers=re.compile(r"(\W|\b(" + _alternatives(table["fillers"]) + r")\b)+$"),
        institutional=tuple(table["institutional_email_domains"]),
    )


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def _before(text: str, start: int, fillers: bool = False) -> str:
    """The words just before ``start``, without the fillers between label and value
    ("mi celular ES EL 099…") unless ``fillers``."""
    before = _plain(text[max(0, start - _LOOKBEHIND) : start])
    if not fillers:
        before = _words().fillers.sub(" ", before)
    return before.rstrip() + " "


def _label_before(text: str, start: int) -> str | None:
    before = _before(text, start)
    for field, label in _words().labels.items():
        if field != "place" and label.search(before):
            return field
    return None


def _owned(text: str, start: int, field: str) -> bool:
    """Whether "mi <label of field>" stands just before ``start`` ("mi cédula es …")."""
    return bool(_words().own[field].search(_before(text, start)))


def place_named_at(text: str, start: int) -> bool:
    """Whether a place at ``start`` follows "soy de", "vivo en"…

    >>> place_named_at("soy de Loja", 7), place_named_at("mira, no quiero", 0)
    (True, False)
    """
    return bool(_words().labels["place"].search(_before(text, start, fillers=True)))


VALIDATORS = {"cedula": cedula.validate, "phone": phone.validate, "email": email.validate}


def _checked(field: str, value: str) -> str | None:
    """``value`` as its validator returns it, or None when refused."""
    try:
        return str(VALIDATORS[field](value))
    except Invalid:
        return None


@dataclass(frozen=True)
class Found:
    value: str  # as written
    normal: str  # as its validator returns it (+593…, the cédula's digits…)
    start: int
    end: int
    labelled: bool  # a word before it names the field ("celular 099…")
    owned: bool  # "mi <label>" before it: the citizen's own


def find_all(text: str, asked: str | None = None) -> dict[str, Found]:
    """The first valid-looking value of each field in ``text``, with where it is and
    whether a label names it.

    ``asked`` is the field the bot asked for: an unlabelled number that could be
    either a cédula or a phone goes to it, and to nothing else.
    """
    text = unicodedata.normalize("NFKC", text or "")
    found: dict[str, Found] = {}

    def take(field: str, value: str, normal: str, start: int, end: int, label: str | None) -> None:
        if field not in found:
            owned = _owned(text, start, field)
            found[field] = Found(value, normal, start, end, label == field or owned, owned)

    mail = _EMAIL.search(text)
    normal = _checked("email", mail.group(0)) if mail else None
    if mail and normal:
        before = _before(text, mail.start())
        label = "email" if _words().labels["email"].search(before) else None
        take("email", mail.group(0), normal, mail.start(), mail.end(), label)
    taken: list[tuple[int, int]] = []
    for match in _CEDULA.finditer(text):
        value = match.group(0)
        normal = _checked("cedula", value)
        if normal is None:
            continue
        label = _label_before(text, match.start())
        if label == "cedula" or (
            label is None and (asked == "cedula" or _checked("phone", value) is None)
        ):
            take("cedula", value, normal, match.start(), match.end(), label)
            taken.append(match.span())
    for number in phonenumbers.PhoneNumberMatcher(text, phone.REGION):
        if any(start <= number.start < end for start, end in taken):
            continue
        value = number.raw_string
        normal = _checked("phone", value)
        if normal is None:
            continue
        label = _label_before(text, number.start)
        if label == "phone" or (
            label is None and (asked == "phone" or _checked("cedula", value) is None)
        ):
            take("phone", value, normal, number.start, number.end, label)
    return found


def own_values(story: str) -> dict[str, str]:
    """Values the citizen says are theirs in a story ("mi cédula es …, mi cel …"),
    validated.

    A story names other people's numbers too (the official's phone, an IESS
    e-mail): only "mi <field>" values are taken, and never an institutional
    e-mail address.

    >>> own_values("mi cédula es 1700000001, el doctor me llamó del 0991234567")
    {'cedula': '1700000001'}
    >>> own_values("mi cel es 099 123 4567, mi correo es jefe@iess.gob.ec")
    {'phone': '+593991234567'}
    """
    owned = {f: v.normal for f, v in find_all(story).items() if v.owned}
    if owned.get("email", "").lower().endswith(_words().institutional):
        owned.pop("email")
    return owned


def after_label(rest: str) -> str:
    """What follows a field's name, without the words between ("es", "el", ":").

    >>> after_label(" es Durán"), after_label(": 0991234567"), after_label(" ")
    ('Durán', '0991234567', '')
    """
    words = rest.strip(" :=,.-").split()
    fillers = set(datafiles.load(LABELS_FILE)["fillers"])
    while words and _plain(words[0]).strip(":=,.") in fillers:
        words.pop(0)
    return " ".join(words).strip(" :=,.")


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
    validate = VALIDATORS[field]
    try:
        return str(validate(text))
    except Invalid as refused:
        found = find_all(text, asked=field).get(field)
        if found is not None:
            return found.normal
        # Something shaped like the field but wrong ("mi cédula es 1712345670"):
        # its own reason (check digit…) says more than "only digits".
        shaped = _SHAPED[field].search(unicodedata.normalize("NFKC", text or ""))
        if shaped is None or shaped.group(0).strip() == (text or "").strip():
            raise refused from None
        return str(validate(shaped.group(0)))


_SHAPED = {
    "cedula": _CEDULA,
    "phone": re.compile(r"\+?\d[\d \-.()]{6,18}\d"),
    "email": re.compile(r"\S{1,64}@\S{1,255}"),
}
