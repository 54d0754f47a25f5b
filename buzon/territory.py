"""The territorial list of Ecuador: its 24 provinces and 221 cantons.

The list is INEC's División Político Administrativa (``buzon/data/dpa.csv``);
other names citizens use for its places (``Sangolquí``, ``Nueva Loja``,
``Bucay``…) are in ``buzon/data/dpa_aliases.csv``. What a citizen types is
compared without case, accents or punctuation, with abbreviations expanded
(``sto`` → ``santo``, ``gral`` → ``general``…) and small typos tolerated.
When nothing fits, the ``find_*`` functions raise :class:`Invalid` with a
reason (``province_unknown``, ``canton_unknown``, ``canton_not_in_province``,
``canton_ambiguous``) that the Rasa adapter turns into a message.

>>> len(provinces()), len(cantons())
(24, 221)
>>> find_province('los rios').name
'Los Ríos'
>>> find_canton('GUAYAKIL').name
'Guayaquil'
>>> province, canton = find_place('duran')
>>> province.name, canton.name
('Guayas', 'Durán')
>>> find_canton('Quito', province=find_province('Guayas'))
Traceback (most recent call last):
    ...
buzon.validation.Invalid: canton_not_in_province
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process
from unidecode import unidecode

from buzon.validation import Invalid

DATA = Path(__file__).resolve().parent / "data"
SOURCE = DATA / "dpa.csv"
ALIASES = DATA / "dpa_aliases.csv"

#: Lowest :func:`rapidfuzz.fuzz.ratio` (0-100) between an answer and a name,
#: as typed or both folded to how they sound (:func:`_sound`), for a typo to
#: count as the name. 85 keeps a slip in names of 7+ letters ("portovjejo"
#: 90, "guyaquil" 94) and any misspelling of a sound ("guayakil", "cuenka",
#: "esmeraldaz", "azuai" 100) but refuses words one letter away from a short
#: name ("costa" / Colta 80, "salir" / Salitre 83): asking again is cheaper
#: than filing a case in the wrong place. Against 1,547 Spanish words (a
#: sample text, stop words, data/nlu) it gives 8 false matches ("quiero" /
#: Quero, "tenia" / Tena…) where 82 gives 24, and it recovers every single
#: typo (letter added, dropped, changed or swapped) of names of 7+ letters.
FUZZY_CUTOFF = 85
#: Shorter answers (letters only) must be spelt right: too many names are close.
FUZZY_MIN_LETTERS = 5
#: Longer answers are not a place name but a sentence to be asked again.
MAX_LENGTH = 120

_ABBREVIATIONS = {
    "sto": "santo",
    "sta": "santa",
    "sn": "san",
    "gral": "general",
    "crnl": "coronel",
    "cnel": "coronel",
    "pto": "puerto",
}
# Words that may precede a name in an answer: "en la provincia del Guayas".
_FILLER = re.compile(
    r"^(?:(?:en|de|del|prov|provincia|canton|ciudad|(?:el|la) (?=provincia|canton|ciudad)) )+"
)
# Separators between the names of an answer: "Guayaquil, Guayas".
_PARTS = re.compile(r"[,;:/()\n]")
# Letters that sound alike in Ecuadorian Spanish, for typo tolerance.
_SOUNDS = [
    (re.compile(pattern), letter)
    for pattern, letter in [
        (r"qu(?=[ei])", "k"),
        (r"c(?=[ei])", "s"),
        (r"c(?!h)", "k"),
        (r"z", "s"),
        (r"v", "b"),
        (r"ll|y", "i"),
        (r"(?<![cs])h", ""),
    ]
]


@dataclass(frozen=True)
class Province:
    """A province: 2-digit INEC code (``09``) and official name (``Guayas``)."""

    code: str
    name: str


@dataclass(frozen=True)
class Canton:
    """A canton: 4-digit INEC code (``0907``), official name and province."""

    code: str
    name: str
    province: Province


Place = Province | Canton


class _Dpa(NamedTuple):
    provinces: tuple[Province, ...]
    cantons: tuple[Canton, ...]
    aliases: dict[str, list[str]]  # INEC code -> other names
    by_name: dict[str, tuple[Place, ...]]  # normalised name -> places
    sounds: dict[str, tuple[Place, ...]]  # _sound(name) -> places


def normalize(text: str) -> str:
    """Lower-case ASCII words of ``text``, abbreviations expanded.

    >>> normalize('  Sto. Domingo de los TSÁCHILAS ')
    'santo domingo de los tsachilas'
    >>> normalize('S. Miguel de Urcuquí')
    'san miguel de urcuqui'
    """
    text = re.sub(r"\bs\.", " san ", unidecode(text).lower())
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


@lru_cache(maxsize=1)
def _dpa() -> _Dpa:
    def rows(path: Path) -> list[dict[str, str]]:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(line for line in handle if not line.startswith("#")))

    by_code: dict[str, Province] = {}
    cantons = []
    for row in rows(SOURCE):
        province = by_code.setdefault(
            row["province_code"], Province(row["province_code"], row["province_name"])
        )
        cantons.append(Canton(row["canton_code"], row["canton_name"], province))
    aliases: dict[str, list[str]] = {}
    for row in rows(ALIASES):
        aliases.setdefault(row["code"], []).append(row["alias"])

    index: dict[str, list[Place]] = {}
    sounds: dict[str, list[Place]] = {}
    places: list[Place] = [*by_code.values(), *cantons]
    for place in places:
        for name in [place.name, *aliases.get(place.code, [])]:
            for table, key in ((index, normalize(name)), (sounds, _sound(normalize(name)))):
                if place not in table.setdefault(key, []):
                    table[key].append(place)
    return _Dpa(
        tuple(by_code.values()),
        tuple(cantons),
        aliases,
        {key: tuple(places) for key, places in index.items()},
        {key: tuple(places) for key, places in sounds.items()},
    )


def provinces() -> list[Province]:
    """All provinces in INEC code order.

    >>> [p.name for p in provinces()][:3]
    ['Azuay', 'Bolívar', 'Cañar']
    """
    return list(_dpa().provinces)


@lru_cache(maxsize=1)
def _by_code() -> dict[str, Place]:
    places: tuple[Place, ...] = (*_dpa().provinces, *_dpa().cantons)
    return {place.code: place for place in places}


def by_code(code: str | None) -> Place | None:
    """The province (2 digits) or canton (4 digits) with this INEC code, or None.

    >>> by_code("0907").name, by_code("09").name, by_code("99")
    ('Durán', 'Guayas', None)
    """
    return _by_code().get(code or "")


def cantons(province: Province | str | None = None) -> list[Canton]:
    """All cantons in INEC code order, or those of ``province`` (or its name).

    >>> [c.name for c in cantons('Santo Domingo')]
    ['Santo Domingo', 'La Concordia']
    """
    if isinstance(province, str):
        province = find_province(province)
    return [c for c in _dpa().cantons if province is None or c.province == province]


def lookup_names() -> dict[str, list[str]]:
    """Official names and aliases, to generate Rasa NLU lookup tables.

    >>> names = lookup_names()
    >>> 'Santo Domingo' in names['province'], 'Sangolquí' in names['canton']
    (True, True)
    """
    dpa = _dpa()

    def names(places: tuple[Place, ...]) -> list[str]:
        found = [name for p in places for name in [p.name, *dpa.aliases.get(p.code, [])]]
        return list(dict.fromkeys(found))

    return {"province": names(dpa.provinces), "canton": names(dpa.cantons)}


def find_province(text: str) -> Province:
    """The province named in ``text``, else ``Invalid('province_unknown')``.

    >>> find_province('provincia del Guayas').name
    'Guayas'
    >>> find_province('sto domingo').name
    'Santo Domingo de los Tsáchilas'
    >>> find_province('Guayaquil')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: province_unknown
    """
    _check(text, "province_unknown")
    found = _named(text, Province) or _fuzzy(text, Province)
    if not found:
        raise Invalid("province_unknown")
    province: Province = found[0]
    return province


def find_canton(text: str, province: Province | str | None = None) -> Canton:
    """The canton named in ``text``, if given one of ``province``'s.

    Reasons: ``canton_unknown``; ``canton_not_in_province`` (details
    ``canton_name``, ``canton_province``, ``province_name``) when the canton
    exists elsewhere; ``canton_ambiguous`` (details ``options``, province
    names) when several provinces have a canton of that name and no province
    was given. A canton spelt right in another province wins over a typo of
    one in ``province``.

    >>> find_canton('sangolqui').name
    'Rumiñahui'
    >>> find_canton('Olmedo', 'Manabí').code
    '1318'
    >>> find_canton('Olmedo')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: canton_ambiguous
    """
    if isinstance(province, str):
        province = find_province(province)
    _check(text, "canton_unknown")
    found = (
        _named(text, Canton)
        or (province is not None and _fuzzy(text, Canton, province))
        or _fuzzy(text, Canton)
    )
    if not found:
        raise Invalid("canton_unknown")
    return _one_canton(found, province)


def find_place(text: str) -> tuple[Province, Canton | None]:
    """The province, and canton if any, in an answer to "¿En qué provincia?".

    A province name gives no canton unless the answer also names one of its
    cantons; a canton alone gives its province. A name that is both a
    province and a canton ("Loja", "Santo Domingo") is the province.
    Reasons: ``province_unknown``, ``canton_ambiguous`` (a canton alone
    whose name several provinces have), ``canton_not_in_province`` (the
    answer names a canton of another province).

    >>> [p.name if p else None for p in find_place('Guayaquil, Guayas')]
    ['Guayas', 'Guayaquil']
    >>> find_place('Loja')
    (Province(code='11', name='Loja'), None)
    >>> find_place('casa')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: province_unknown
    """
    _check(text, "province_unknown")
    hits = _mentions(text, fuzzy=True)
    named = {p for hit in hits for p in hit if isinstance(p, Province)}
    # A name that is also a province's counts as a canton only next to another
    # name: "Loja" is the province, "Loja, Loja" the canton in it.
    plain = {
        p
        for hit in hits
        for p in hit
        if isinstance(p, Canton) and not any(isinstance(q, Province) for q in hit)
    }
    shared = {p for hit in hits for p in hit if isinstance(p, Canton) and len(hits) > 1} - plain
    for group in (plain, shared):
        inside = [c for c in group if c.province in named]
        if len(inside) == 1:
            return inside[0].province, inside[0]
    if not plain and len(named) == 1:
        return named.pop(), None
    if plain and len(named) <= 1 and len({c.name for c in plain}) == 1:
        canton = _one_canton(sorted(plain, key=lambda c: c.code), next(iter(named), None))
        return canton.province, canton
    raise Invalid("province_unknown")


def _check(text: str, reason: str) -> None:
    if not text or len(text) > MAX_LENGTH or not normalize(text):
        raise Invalid(reason)


def _one_canton(found: list[Canton], province: Province | None) -> Canton:
    if province is not None:
        inside = [c for c in found if c.province == province]
        if inside:
            return inside[0]
        raise Invalid(
            "canton_not_in_province",
            canton_name=found[0].name,
            canton_province=found[0].province.name,
            province_name=province.name,
        )
    if len(found) > 1:
        raise Invalid("canton_ambiguous", options=[c.province.name for c in found])
    return found[0]


def _mentions(text: str, fuzzy: bool) -> list[tuple[Place, ...]]:
    """Names in ``text`` word for word, longest first; else typos of a part."""
    by_name = _dpa().by_name
    longest = max(len(name.split()) for name in by_name)
    hits: list[tuple[Place, ...]] = []
    for part in _PARTS.split(text):
        words, start = normalize(part).split(), 0
        found: list[tuple[Place, ...]] = []
        while start < len(words):
            for size in range(min(longest, len(words) - start), 0, -1):
                places = by_name.get(" ".join(words[start : start + size]))
                if places:
                    found.append(places)
                    start += size
                    break
            else:
                start += 1
        if not found and fuzzy:
            found = [tuple(close)] if (close := _fuzzy(part, (Province, Canton))) else []
        hits += found
    return hits


def _named(text: str, kind: type | tuple[type, ...]) -> list[Any]:
    """The places of ``kind`` named word for word, if only one name is."""
    hits = {tuple(p for p in hit if isinstance(p, kind)) for hit in _mentions(text, fuzzy=False)}
    hits.discard(())
    return list(hits.pop()) if len(hits) == 1 else []


def _fuzzy(text: str, kind: type | tuple[type, ...], province: Province | None = None) -> list[Any]:
    """The places of ``kind`` (in ``province``) closest to ``text`` in spelling or sound."""
    dpa, key = _dpa(), _FILLER.sub("", normalize(text))
    if len(key.replace(" ", "")) < FUZZY_MIN_LETTERS:
        return []
    found: list[tuple[float, list[Any]]] = []
    for table, typed in ((dpa.by_name, key), (dpa.sounds, _sound(key))):
        choices = {
            name: fitting
            for name, places in table.items()
            if (
                fitting := [
                    p
                    for p in places
                    if isinstance(p, kind)
                    and (province is None or getattr(p, "province", None) == province)
                ]
            )
        }
        best = process.extractOne(
            typed, list(choices), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        if best:
            found.append((best[1], choices[best[0]]))
    return max(found, key=lambda score_places: score_places[0])[1] if found else []


def _sound(key: str) -> str:
    """``key`` spelt as it sounds: ``guayaquil`` and ``guayakil`` are alike.

    >>> _sound('guayaquil'), _sound('cuenka'), _sound('esmeraldaz')
    ('guaiakil', 'kuenka', 'esmeraldas')
    """
    for pattern, letter in _SOUNDS:
        key = pattern.sub(letter, key)
    return key
