"""The data-use consent text and its version (``buzon/data/consent.yml``).

>>> current().version != ""
True
>>> "LOPDP" in current().text or "Protección de Datos" in current().text
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from buzon import datafiles


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str


@lru_cache(maxsize=1)
def current() -> ConsentText:
    data = datafiles.load("consent.yml")
    return ConsentText(version=str(data["version"]), text=data["text"].strip())
