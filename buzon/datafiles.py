"""The YAML data files under ``buzon/data``, each read once.

>>> load("routing.yml")["areas"]["denuncias"]
'Equipo especializado de gestión de denuncias'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).resolve().parent / "data"


@cache
def load(name: str) -> dict[str, Any]:
    with (FOLDER / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data
