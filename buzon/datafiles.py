"""The YAML data files under ``buzon/data``, each read once.

>>> load("routing.yml")["areas"]["denuncias"]
'Equipo especializado de gestión de denuncias'
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

FOLDER = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    with (FOLDER / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
