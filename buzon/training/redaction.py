"""Personal data out of what citizens wrote, before a trainer reads it.

The trainers learn from real conversations (``make export-conversations``) but
never see who was in them: every text, entity value and slot value they get has
gone through this module. What is replaced, and by what:

- e-mail addresses, also spelled out ("ana arroba correo punto ec") → ``<correo>``;
- case numbers (:mod:`buzon.cases.numbering`), also loosely written
  ("iess q 2026 123", "Q-2026-000123") → ``<caso>``;
- tracking keys: 12 characters of the keys' alphabet, any case, grouped by 4 with
  "-", dots or spaces, or not grouped (then with a digit in them) → ``<clave>``;
- numbers, whatever spaces, dots, dashes or parentheses separate their digits,
  by their digits: a cédula (10) → ``<cedula>``, a RUC (13) → ``<ruc>``, a phone
  (``09…``, ``+593…``, ``593…``, a landline ``0X`` plus 7 digits) →
  ``<telefono>``, anything else of 6 digits or more → ``<numero>``;
- addresses inside free text: the clause that starts at "calle", "av.",
  "barrio", "ciudadela", "mz 3", "villa 12", "junto a", "entre X y Y", "s/n" or
  a Quito street code such as "N23-45", or after "vivo en", "mi dirección es"
  → ``<direccion>``;
- people's names → ``<nombre>``: spaCy's Spanish NER (``es_core_news_sm``, PER),
  the words after a title or a relation ("el doctor", "la licenciada", "mi esposo")
  or an introduction ("me llamo"), and frequent given names and surnames of
  Ecuador even in lower case ("el guardia pedro"), except the names of provinces,
  cantons and hospitals ("Pedro Carbo", "Carlos Andrade Marín");
- any run of 6 digits or more still left → ``<numero>``.

An answer to a question for a personal field (cédula, phone, e-mail, address,
the case number and key of a look-up) is replaced whole (:func:`redact_message`);
:func:`redact_slot` and :func:`redact_entity` do the same for slot and entity
values. Placeholders use ``< >``: square and curly brackets mean entities in
Rasa's YAML. The words the rules need (titles, address words, names) live in
``buzon/data/redaction_words.yml`` and ``buzon/data/person_names.yml``. spaCy's
model is loaded once, at the first text that needs it.

>>> redact("Soy Gladys, cel 099 876 5432, correo gladys.t@correo.ec")
'Soy <nombre>, cel <telefono>, correo <correo>'
>>> redact("mi caso es iess q 2026 123 y la clave 7hk2 m9pq x4rt")
'mi caso es <caso> y la clave <clave>'
>>> redact_message("Av. Amazonas N34-120 y Atahualpa", requested_slot="address")
'<direccion>'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from stdnum.ec import ci

from buzon import datafiles, territory
from buzon.validation import text as free_text

CEDULA = "<cedula>"
RUC = "<ruc>"
PHONE = "<telefono>"
EMAIL = "<correo>"
ADDRESS = "<direccion>"
CASE_NUMBER = "<caso>"
TRACKING_KEY = "<clave>"
NAME = "<nombre>"
NUMBER = "<numero>"
FILE_NAME = "<adjunto>"
PLACEHOLDERS = (
    CEDULA,
    RUC,
    PHONE,
    EMAIL,
    ADDRESS,
    CASE_NUMBER,
    TRACKING_KEY,
    NAME,
    NUMBER,
    FILE_NAME,
)

# The answer to these questions is personal as a whole (the slots of domain.yml's forms).
PERSONAL_SLOTS: dict[str, str] = {
    "cedula": CEDULA,
    "phone": PHONE,
    "email": EMAIL,
    "address": ADDRESS,
    "lookup_case_number": CASE_NUMBER,
    "lookup_key": TRACKING_KEY,
    "followup_case": CASE_NUMBER,
}
# Slots whose values the bot chose from its own lists (kinds, categories, places,
# yes/no, counts, the question asked): kept, digits still checked.
KEPT_SLOTS = frozenset(
    {
        "requested_slot",
        "forget_conversation",
        "case_kind",
        "category",
        "category_label",
        "consent",
        "consent_version",
        "confirmation",
        "evidence",
        "awaiting_evidence",
        "failed_attempts",
        "province",
        "province_code",
        "canton",
        "canton_code",
        "followup_kind",
        "followup_evidence",
        "awaiting_followup_evidence",
        "rating",
    }
)
# Values that would tie an exported conversation to a stored case (the consent's
# time and the registration id are stored with it): never exported.
DROPPED_SLOTS = frozenset({"consent_at", "registration_id", "followup_batch"})
ENTITY_PLACEHOLDERS: dict[str, str] = {
    "cedula": CEDULA,
    "phone": PHONE,
    "email": EMAIL,
    "case_number": CASE_NUMBER,
    "evidence_file": FILE_NAME,
}
# Entities whose values come from the bot's own lists (lookup tables, buttons).
VOCABULARY_ENTITIES = frozenset(
    {"province", "canton", "category", "correction", "rating", "evidence_error"}
)

# Overlapping findings become one, named after the kind first in this order.
_PRIORITY = (EMAIL, CASE_NUMBER, TRACKING_KEY, CEDULA, RUC, PHONE, ADDRESS, NAME, NUMBER)
_MAX_ADDRESS_WORDS = 8
_MAX_TITLED_NAME_WORDS = 4
# Parts of speech that are no part of a name at its edges.
_NOT_NAME_TAGS = frozenset(
    {"VERB", "AUX", "PRON", "ADP", "DET", "CCONJ", "SCONJ", "ADV", "PUNCT", "NUM", "SYM"}
)


@dataclass(frozen=True, order=True)
class Finding:
    """Personal data in a text: ``text[start:end]``, to be replaced by ``placeholder``."""

    start: int
    end: int
    placeholder: str


def fold(text: str) -> str:
    """``text`` in lower case without accents, one character for each of ``text``'s.

    >>> fold("Señora MARÍA Ñusta")
    'senora maria nusta'
    """
    return "".join(unicodedata.normalize("NFD", char.lower())[0] for char in text)


# --- the word lists ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    titles: frozenset[str]
    not_names_after_titles: frozenset[str]
    introducers: tuple[tuple[str, ...], ...]
    particles: tuple[tuple[str, ...], ...]
    given: frozenset[str]
    surnames: frozenset[str]
    lexicon: frozenset[str]  # given names, ambiguous ones and surnames
    stop_words: frozenset[str]
    address_markers: re.Pattern[str]
    address_introducers: re.Pattern[str]
    introducer_links: frozenset[str]
    numbered_markers: re.Pattern[str]
    beside: re.Pattern[str]
    between_streets: re.Pattern[str]
    between_names: re.Pattern[str]
    clause_ends: frozenset[str]
    trailing_connectors: frozenset[str]
    abbreviations: frozenset[str]
    public_names: re.Pattern[str]


def _load(name: str) -> dict[str, Any]:
    return datafiles.load(name)


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(str(word)) for word in words)


def _alternatives(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` (folded), longest first, spaces as any blank."""
    escaped = [re.escape(fold(str(w))).replace(r"\ ", r"\s+") for w in words]
    return "|".join(sorted(set(escaped), key=len, reverse=True))


def _bounded(alternation: str) -> str:
    return rf"(?<![0-9a-z])(?:{alternation})(?![0-9a-z])"


@cache
def _words() -> _Words:
    words = _load("redaction_words.yml")
    names = _load("person_names.yml")
    from spacy.lang.es.stop_words import STOP_WORDS

    places = [name for group in territory.lookup_names().values() for name in group]
    public = [territory.normalize(p) for p in places] + [fold(p) for p in words["public_names"]]
    signs = _alternatives(words["number_signs"])
    capitalised = r"[A-Z\u00c0-\u00d6\u00d8-\u00dd][\w.]*"
    return _Words(
        titles=_folded(words["person_titles"]),
        not_names_after_titles=_folded(words["not_names_after_titles"]),
        introducers=tuple(tuple(fold(w).split()) for w in words["name_introducers"]),
        particles=tuple(
            sorted((tuple(fold(w).split()) for w in words["name_particles"]), key=len, reverse=True)
        ),
        given=_folded(names["given"]),
        surnames=_folded(names["surnames"]),
        lexicon=_folded(names["given"] + names["given_ambiguous"] + names["surnames"]),
        stop_words=_folded(STOP_WORDS),
        address_markers=re.compile(_bounded(_alternatives(words["address_markers"]))),
        address_introducers=re.compile(_bounded(_alternatives(words["address_introducers"]))),
        introducer_links=_folded(words["address_introducer_links"]),
        numbered_markers=re.compile(
            _bounded(_alternatives(words["numbered_address_markers"]))
            + rf"\.?\s*(?:(?:{signs})\s*)?(?:\d|{_BLOCK_LETTER}(?![a-z]))"
        ),
        beside=re.compile(
            _bounded(_alternatives([words["beside_marker"]]))
            + rf"l?\s+(?!(?:{_alternatives(words['beside_not_before'])})(?![a-z]))"
        ),
        between_streets=re.compile(
            _bounded(_alternatives([words["between_marker"]]))
            + rf"\s+(?:{_alternatives(words['between_streets'])})(?![a-z])"
        ),
        between_names=re.compile(
            rf"(?<![\w])(?i:{re.escape(words['between_marker'])})\s+{capitalised}"
            rf"(?:\s+{capitalised})*\s+(?i:{re.escape(words['between_joiner'])})"
            rf"\s+(?:{capitalised}|\d+)"
        ),
        clause_ends=_folded(words["address_clause_ends"]),
        trailing_connectors=_folded(words["address_trailing_connectors"]),
        abbreviations=_folded(words["abbreviations"]),
        public_names=re.compile(_bounded(_alternatives(public))),
    )


# --- patterns ----------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.%+\-]+\s?@\s?[\w\-]+(?:\.[\w\-]+)+")
# Spelled out, on the folded text: "ana.lopez arroba correo punto ec".
_EMAIL_SPELLED = re.compile(
    r"[\w.%+\-]+\s+(?:arroba|\(at\))\s+[\w\-]+(?:\.[\w\-]+|\s+punto\s+[\w\-]+)+"
)
_SEPARATOR = r"[\s_.\-]*"
_CASE_NUMBER = re.compile(
    rf"(?<![0-9a-z])(?:iess{_SEPARATOR})?[qd]{_SEPARATOR}20\d\d{_SEPARATOR}\d{{1,6}}(?![0-9])"
)
# The keys' alphabet (numbering.ALPHABET) plus the look-alikes I, L and O that
# numbering.normalize_tracking_key accepts: every letter but U, in lower case.
_KEY_CHAR = "[0-9a-tv-z]"
_KEY_GROUPS = re.compile(
    rf"(?<![0-9a-z]){_KEY_CHAR}{{4}}(?P<gap>[ \t]*[\-.][ \t]*|[ \t]+){_KEY_CHAR}{{4}}"
    rf"(?:[ \t]*[\-.][ \t]*|[ \t]+){_KEY_CHAR}{{4}}(?![0-9a-z])"
)
_KEY_PLAIN = re.compile(rf"(?<![0-9a-z]){_KEY_CHAR}{{12}}(?![0-9a-z])")
# Grouped unevenly ("7hk2-m9pqx4rt"): whatever buzon.cases.numbering.find_in accepts.
_KEY_MIXED = re.compile(
    rf"(?<![0-9a-z]){_KEY_CHAR}{{4}}[ \t\-.]?{_KEY_CHAR}{{4}}[ \t\-.]?{_KEY_CHAR}{{4}}(?![0-9a-z])"
)
# Digits with spaces, dots, dashes or parentheses between them: "(02) 234-5678".
_DIGITS = re.compile(r"(?<![\w])\+?\(?\d+\)?(?:[ \t.\-]{1,3}\(?\d+\)?)*")
_LONG_DIGITS = re.compile(r"\d{6,}")
_NO_NUMBER = re.compile(r"(?<![0-9a-z])s\s*/\s*n(?:ro|um|umero)?\.?(?![0-9a-z])")
# Quito's street codes: N23-45, Oe3-120, E4-156, S12A-34.
_STREET_CODE = re.compile(
    r"(?<![0-9a-z])(?:n|s|e|oe|o)\d{1,3}[a-z]?\s?-\s?\d{1,4}[a-z]?(?![0-9a-z])"
)
_WORD = re.compile(r"\S+")
# A block's letter ("mz B", "villa s/n"): a consonant, so that "manzana y agua" is no address.
_BLOCK_LETTER = "[b-df-hj-np-tv-xz]"
_ARTICLES = frozenset({"el", "la", "los", "las", "al", "del", "un", "una"})
_CLOSING = ",;:!?\"'()[]{}"


def _number_placeholder(found: str) -> str | None:
    """What a number is, by its digits; None below 6 digits."""
    digits = re.sub(r"\D", "", found)
    if len(digits) < 6:
        return None
    if found.startswith("+") or (digits.startswith(("593", "00593")) and len(digits) >= 11):
        return PHONE
    if len(digits) == 13:
        return RUC
    if len(digits) == 10:
        if ci.is_valid(digits):
            return CEDULA
        if digits.startswith("09"):
            return PHONE
        return CEDULA if digits[:2] == "30" or 1 <= int(digits[:2]) <= 24 else NUMBER
    if len(digits) == 9 and digits.startswith("0"):
        return PHONE
    return NUMBER


def _key_like(found: str) -> bool:
    """A key has a digit in it (3 words of 4 letters are usually Spanish)."""
    return any(c.isdigit() for c in found) and any(c.isalpha() for c in found)


def _pattern_findings(text: str, folded: str) -> list[Finding]:
    found = [Finding(m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(text)]
    found += [Finding(m.start(), m.end(), EMAIL) for m in _EMAIL_SPELLED.finditer(folded)]
    found += [Finding(m.start(), m.end(), CASE_NUMBER) for m in _CASE_NUMBER.finditer(folded)]
    for m in _KEY_GROUPS.finditer(folded):
        if "-" in m.group("gap") or any(c.isdigit() for c in m.group()):
            found.append(Finding(m.start(), m.end(), TRACKING_KEY))
    found += [
        Finding(m.start(), m.end(), TRACKING_KEY)
        for pattern in (_KEY_PLAIN, _KEY_MIXED)
        for m in pattern.finditer(folded)
        if _key_like(m.group())
    ]
    for m in _DIGITS.finditer(text):
        placeholder = _number_placeholder(m.group())
        if placeholder:
            found.append(Finding(m.start(), m.end(), placeholder))
    return found


# --- addresses ---------------------------------------------------------------------------


def _clause_end(text: str, start: int, words: _Words) -> int:
    """Where the address clause that starts at ``start`` ends."""
    end = start
    previous = ""
    for count, match in enumerate(_WORD.finditer(text, start)):
        raw = match.group()
        bare = raw.rstrip(_CLOSING + ".").lstrip(_CLOSING)
        key = fold(bare)
        if count >= _MAX_ADDRESS_WORDS or not bare or key in words.clause_ends:
            break
        if key in words.titles and previous in _ARTICLES:
            break  # "... barrio La Floresta, el señor ...": a person comes next
        previous = key
        end = match.start() + len(raw.rstrip(_CLOSING + "."))
        tail = raw[len(raw.rstrip(_CLOSING + ".")) :]
        if tail == "." and key in words.abbreviations:
            end += 1  # "Av." goes on
        elif tail:
            break  # a comma, a full stop: the clause is over
    return _without_trailing_connectors(text, start, end, words)


def _without_trailing_connectors(text: str, start: int, end: int, words: _Words) -> int:
    tokens = list(_WORD.finditer(text[:end], start))
    while len(tokens) > 1 and fold(tokens[-1].group()) in words.trailing_connectors:
        tokens.pop()
    return tokens[-1].end() if tokens else end


def _clause_start(text: str, end: int, words: _Words, most: int = 3) -> int:
    """Up to ``most`` words before ``end`` that may name the street ("Av. Amazonas N34-120")."""
    start = end
    before = list(_WORD.finditer(text[:end]))
    for match in reversed(before[-most:]):
        raw = match.group()
        bare = raw.strip(_CLOSING + ".")
        tail = raw[len(raw.rstrip(_CLOSING + ".")) :]
        if not bare or fold(bare) in words.clause_ends | words.trailing_connectors:
            break
        if tail and not (tail == "." and fold(bare) in words.abbreviations):
            break
        start = match.start()
    return start


def _address_findings(text: str, folded: str) -> list[Finding]:
    words = _words()
    found = []
    starts = [m.start() for m in words.address_markers.finditer(folded)]
    starts += [m.start() for m in words.numbered_markers.finditer(folded)]
    starts += [m.start() for m in words.beside.finditer(folded)]
    starts += [m.start() for m in words.between_streets.finditer(folded)]
    for start in starts:
        found.append(Finding(start, _clause_end(text, start, words), ADDRESS))
    for m in words.between_names.finditer(text):
        found.append(Finding(m.start(), _clause_end(text, m.start(), words), ADDRESS))
    for m in words.address_introducers.finditer(folded):
        start = m.end()
        for word in _WORD.finditer(text, start):
            bare = word.group().strip(_CLOSING)
            if bare and fold(bare) not in words.introducer_links:
                start = word.start()
                break
        else:
            continue
        end = _clause_end(text, start, words)
        if end > start:
            found.append(Finding(start, end, ADDRESS))
    for m in list(_STREET_CODE.finditer(folded)) + list(_NO_NUMBER.finditer(folded)):
        start = _clause_start(text, m.start(), words)
        found.append(Finding(start, max(m.end(), _clause_end(text, m.start(), words)), ADDRESS))
    return found


# --- names -------------------------------------------------------------------------------


@cache
def _nlp() -> Any:
    """spaCy's small Spanish pipeline, without the parts redaction does not use."""
    import spacy

    return spacy.load(_load("redaction_words.yml")["spacy_model"], exclude=["parser", "lemmatizer"])


def _case_tells_names(text: str) -> bool:
    """Capitals mean something unless the text is shouted (mostly capitals)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) < 0.5 * len(letters)


class _NameFinder:
    """Names in one text, from spaCy's tokens, entities and the word lists."""

    def __init__(self, text: str, folded: str) -> None:
        self.words = _words()
        self.doc = _nlp()(text)
        self.tokens = list(self.doc)
        self.keys = [fold(t.text).rstrip(".") for t in self.tokens]
        self.capitals = _case_tells_names(text)
        self.folded = folded

    def _sentence_start(self, i: int) -> bool:
        return i == 0 or (self.tokens[i - 1].is_punct and self.tokens[i - 1].text not in ",;")

    def _word(self, i: int) -> bool:
        return (
            i < len(self.tokens)
            and self.tokens[i].is_alpha
            and self.keys[i] not in self.words.stop_words
            and self.keys[i] not in self.words.titles
        )

    def name_like(self, i: int) -> bool:
        if not self._word(i):
            return False
        token = self.tokens[i]
        return (
            self.keys[i] in self.words.lexicon
            or token.pos_ == "PROPN"
            or (self.capitals and token.text[0].isupper() and not self._sentence_start(i))
        )

    def _may_be_name_after_title(self, i: int) -> bool:
        return (
            self._word(i)
            and self.keys[i] not in self.words.not_names_after_titles
            and self.tokens[i].pos_ in {"PROPN", "NOUN", "ADJ", "X", "INTJ"}
        )

    def _particle_at(self, i: int) -> int:
        """How many tokens of a name particle ("de la") start at ``i`` before a name word."""
        for particle in self.words.particles:
            j = i + len(particle)
            if tuple(self.keys[i:j]) == particle and self.name_like(j):
                token = self.tokens[j]
                if self.keys[j] in self.words.lexicon or (
                    self.capitals and token.text[0].isupper()
                ):
                    return len(particle)
        return 0

    def _start(self, i: int) -> int:
        return int(self.tokens[i].idx)

    def _end(self, i: int) -> int:
        return int(self.tokens[i].idx + len(self.tokens[i]))

    def _telling(self, i: int) -> bool:
        """A word that looks like a name by itself (not only to spaCy's NER)."""
        token = self.tokens[i]
        return (
            self.keys[i] in self.words.lexicon
            or token.pos_ == "PROPN"
            or (self.capitals and token.text[:1].isupper())
        )

    def _loose(self, i: int) -> bool:
        """A word that cannot end a name: "pedro *me*", "*Soy* Gladys", "el *señor* Wilmer"."""
        return self.keys[i] not in self.words.lexicon and (
            self.keys[i] in self.words.stop_words
            or self.keys[i] in self.words.titles
            or not self.tokens[i].is_alpha
            or self.tokens[i].pos_ in _NOT_NAME_TAGS
        )

    def _trimmed(self, first: int, end: int) -> tuple[int, int, bool]:
        """An entity of spaCy's without the words around the name it found."""
        while first < end and self._loose(first):
            first += 1
        while end > first and self._loose(end - 1):
            end -= 1
        if not any(self._telling(i) for i in range(first, end)):
            return 0, 0, False  # "turno", "llame": the small model's guesses in lower case
        return self._start(first), self._end(end - 1), False

    def _after_titles(self) -> set[int]:
        """Where a name may start: after a title or an introduction."""
        starts = set()
        for i, key in enumerate(self.keys):
            ends = [i + 1] if key in self.words.titles else []
            ends += [
                i + len(words)
                for words in self.words.introducers
                if tuple(self.keys[i : i + len(words)]) == words
            ]
            for j in ends:
                while j < len(self.tokens) and (
                    self.keys[j] in self.words.titles or self.tokens[j].text in {".", ":"}
                ):
                    j += 1
                starts.add(j)
        return starts

    def _run(self, i: int, titled: bool) -> int:
        """The end (exclusive) of the name that starts at token ``i``."""
        j = i
        while j < len(self.tokens):
            if titled and j - i >= _MAX_TITLED_NAME_WORDS:
                break
            if self.name_like(j) or (titled and j == i and self._may_be_name_after_title(j)):
                j += 1
            elif j > i and (skip := self._particle_at(j)):
                j += skip
            else:
                break
        return j

    def findings(self) -> list[Finding]:
        titled_starts = self._after_titles()
        spans = [self._trimmed(e.start, e.end) for e in self.doc.ents if e.label_ == "PER"]
        i = 0
        while i < len(self.tokens):
            titled = i in titled_starts
            end = self._run(i, titled)
            if end == i:
                i += 1
                continue
            keys = self.keys[i:end]
            strong = [k for k in keys if k in self.words.given or k in self.words.surnames]
            if titled or any(k in self.words.given for k in keys) or (len(keys) > 1 and strong):
                spans.append((self._start(i), self._end(end - 1), titled))
            i = end
        return [
            Finding(start, end, NAME)
            for start, end, titled in spans
            if end > start and (titled or self._names_a_person(start, end))
        ]

    def _names_a_person(self, start: int, end: int) -> bool:
        """Not the name of a place ("Pedro Carbo", "Hospital Carlos Andrade Marín")."""
        public = [
            (m.start(), m.end())
            for m in self.words.public_names.finditer(self.folded)
            if m.start() < end and start < m.end()
        ]
        if not public:
            return True
        outside = [
            key
            for token, key in zip(self.tokens, self.keys, strict=True)
            if start <= token.idx < end and not any(s <= token.idx < e for s, e in public)
        ]
        return any(key in self.words.lexicon for key in outside)


# --- putting it together -----------------------------------------------------------------


def _merged(findings: Iterable[Finding]) -> list[Finding]:
    """Overlapping findings as one, named after the most telling kind."""
    merged: list[Finding] = []
    for finding in sorted(findings):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            placeholder = min(last.placeholder, finding.placeholder, key=_PRIORITY.index)
            merged[-1] = Finding(last.start, max(last.end, finding.end), placeholder)
        else:
            merged.append(finding)
    return merged


def find_personal_data(text: str, names: bool = True) -> list[Finding]:
    """Where the personal data in ``text`` is (``text`` as :func:`clean` leaves it).

    ``names=False`` skips the names (spaCy): for values from the bot's own lists.
    """
    folded = fold(text)
    found = _pattern_findings(text, folded) + _address_findings(text, folded)
    if names and any(c.isalpha() for c in text):
        found += _NameFinder(text, folded).findings()
    return _merged(f for f in found if f.end > f.start)


def clean(text: str) -> str:
    """One line of NFC text without control characters (what the redaction reads)."""
    return free_text.clean(text)


def redact(text: str | None, names: bool = True) -> str | None:
    """``text`` with every piece of personal data replaced by its placeholder."""
    if text is None:
        return None
    text = clean(text)
    out, last = [], 0
    for finding in find_personal_data(text, names):
        out += [text[last : finding.start], finding.placeholder]
        last = finding.end
    out.append(text[last:])
    return _LONG_DIGITS.sub(NUMBER, "".join(out))


def redact_message(text: str | None, requested_slot: str | None = None) -> str | None:
    """A citizen's message: whole when it answers a question for a personal field.

    >>> redact_message("mi cédula es 1712345678", requested_slot="cedula")
    '<cedula>'
    >>> redact_message("no sé cuál es", requested_slot="province")
    'no sé cuál es'
    """
    if text is None:
        return None
    if requested_slot in PERSONAL_SLOTS:
        return PERSONAL_SLOTS[requested_slot]
    return redact(text)


def slot_is_exported(name: str) -> bool:
    """Whether a slot's value may leave the tracker store at all."""
    return name not in DROPPED_SLOTS


def redact_value(value: Any, names: bool = True) -> Any:
    """Strings redacted, numbers of 6 digits or more hidden, lists and dicts walked."""
    if isinstance(value, str):
        return redact(value, names)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return NUMBER if len(re.sub(r"\D", "", str(value))) >= 6 else value
    if isinstance(value, Mapping):
        return {str(redact(str(k), names)): redact_value(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, names) for v in value]
    return redact(str(value), names)


def redact_slot(name: str, value: Any) -> Any:
    """A slot's value as the trainers may see it (check :func:`slot_is_exported` first).

    >>> redact_slot("cedula", "1712345678"), redact_slot("cedula", None)
    ('<cedula>', None)
    >>> redact_slot("category", "queja_turnos")
    'queja_turnos'
    """
    if value is None:
        return None
    if name in PERSONAL_SLOTS:
        return PERSONAL_SLOTS[name]
    return redact_value(value, names=name not in KEPT_SLOTS)


def redact_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An extracted entity as ``{"entity": name, "value": redacted value or None}``.

    >>> redact_entity({"entity": "email", "value": "a.b@correo.ec", "start": 3, "end": 16})
    {'entity': 'email', 'value': '<correo>'}
    """
    name = str(entity.get("entity"))
    value = entity.get("value")
    if value is not None:
        if name in ENTITY_PLACEHOLDERS:
            value = ENTITY_PLACEHOLDERS[name]
        else:
            value = redact_value(value, names=name not in VOCABULARY_ENTITIES)
    return {"entity": name, "value": value}


_PLACEHOLDER_ONLY = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS) + r"|[\W_]")


def only_placeholders(text: str | None) -> bool:
    """Whether nothing but placeholders and punctuation is left of ``text``.

    >>> only_placeholders("<cedula>."), only_placeholders("mi <cedula>")
    (True, False)
    """
    return not _PLACEHOLDER_ONLY.sub("", text or "")
