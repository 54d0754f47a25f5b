"""The data-use consent text and its version (``buzon/data/consent.yml``).

>>> current().version != ""
True
>>> "LOPDP" in current().text or "Protección de Datos" in current().text
True
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

SOURCE = Path(__file__).resolve().parent / "data" / "consent.yml"


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str


@lru_cache(maxsize=1)
def current() -> ConsentText:
    with SOURCE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return ConsentText(version=str(data["version"]), text=data["text"].strip())
