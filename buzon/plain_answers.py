"""Whether a short answer plainly says yes, no or stop (``buzon/data/plain_answers.yml``).

A statistical classifier will read *something* into any input: a lone ``?``, a
``👍`` or a word in another alphabet came out as "yes" with 44 % confidence.
For the answers that matter (consent to the processing of personal data, the
final confirmation of a case, cancelling a registration) the bot also asks these
plain word lists, which know no guessing.

>>> is_plain_yes("Sí, de acuerdo"), is_plain_yes("siii claro que si"), is_plain_yes("OK 👍")
(True, True, True)
>>> is_plain_yes("?"), is_plain_yes("👍"), is_plain_yes("да"), is_plain_yes("\\u200f\\u200b")
(False, False, False, False)
>>> is_plain_yes("si pero no quiero dar mi cedula"), is_plain_yes("Confirmar y registrar")
(False, True)
>>> says_no("No, gracias"), says_no("nada que ver"), says_no("¿qué?")
(True, True, False)
>>> says_cancel("cancelar"), says_cancel("ya no quiero seguir")
(True, True)
>>> says_cancel("Confirmar y registrar")
False
>>> words("¡¡Nooo, GRACIAS!!"), words("Regístrelo    YA")
(['no', 'gracias'], ['registrelo', 'ya'])
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from unidecode import unidecode

from buzon import datafiles

_WORD = re.compile(r"[a-z0-9]+")
_REPEATS = re.compile(r"([a-z])\1{2,}")  # "siii" -> "si", "nooo" -> "no"; "ll", "rr" stay


def _visible(text: str) -> str:
    """The text without control and invisible format characters (zero-width, RTL marks)."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFC", text or "")
        if unicodedata.category(ch) not in ("Cc", "Cf")
    )


def words(text: str) -> list[str]:
    """The Latin words of ``text``, lower case, without accents, repeats folded.

    Letters of other alphabets are dropped, not transliterated: "да" is no "da".
    """
    latin = "".join(ch for ch in _visible(text) if ord(ch) < 0x250 or not ch.isalpha())
    plain = unidecode(latin).lower()
    return [_fold(word) for word in _WORD.findall(plain)]


def _fold(word: str) -> str:
    folded = _REPEATS.sub(r"\1", word)
    return "si" if folded in ("sii",) else folded


@lru_cache(maxsize=1)
def _lists() -> dict[str, frozenset[str]]:
    data = datafiles.load("plain_answers.yml")
    for key, entries in data.items():
        if not all(isinstance(word, str) for word in entries):  # YAML read "no" as False
            raise ValueError(f"plain_answers.yml: quote every word of {key}")
    return {key: frozenset(data[key]) for key in data}


def yes_words() -> frozenset[str]:
    return _lists()["yes_words"]


def is_plain_yes(text: str) -> bool:
    """Every word is a yes word or a filler, and at least one is a yes word."""
    found = words(text)
    lists = _lists()
    return any(word in lists["yes_words"] for word in found) and all(
        word in lists["yes_words"] or word in lists["filler_words"] for word in found
    )


def says_no(text: str) -> bool:
    """At least one word of refusal ("no", "nada", "ninguno"…)."""
    return any(word in _lists()["no_words"] for word in words(text))


def says_without(text: str) -> bool:
    """A word of going without ("sin correo").

    >>> says_without("Seguir sin correo"), says_without("sinchi@example.com")
    (True, False)
    """
    return any(word in _lists()["without_words"] for word in words(text))


def says_cancel(text: str) -> bool:
    """A word or phrase of stopping ("cancelar", "salir", "ya no quiero"…)."""
    found = words(text)
    lists = _lists()
    if any(word in lists["cancel_words"] for word in found):
        return True
    if any(word.startswith(stem) for word in found for stem in lists["cancel_stems"]):
        return True
    joined = f" {' '.join(found)} "
    return any(f" {phrase} " in joined for phrase in lists["cancel_phrases"])


def is_blank(text: str) -> bool:
    """Nothing visible: empty, spaces, or only invisible marks.

    >>> is_blank("  \\n\\t"), is_blank("\\u200b\\u200f"), is_blank("?")
    (True, True, False)
    """
    return not "".join(ch for ch in _visible(text) if not ch.isspace())
