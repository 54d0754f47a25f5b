"""Which area receives a case: the routing table in ``buzon/data/routing.yml``.

Every denuncia goes to the specialised denuncias team. A queja goes to the area
its category names, unless a keyword in its description points to a more
specific unit (the Seguro Campesino, pensions, reserve funds…).

>>> route("denuncia_coima", "me pidieron plata para la jubilacion").name
'Equipo especializado de gestión de denuncias'
>>> route("queja_administrativa", "Mi pensión de MONTEPÍO no llega").key
'pensiones'
>>> route("queja_turnos", "no hay turnos en el dispensario del Seguro Campesino").key
'campesino'
>>> route("queja_administrativa", "suspension del tramite").key
'cau'
>>> kind_of("queja_turnos"), label_of("denuncia_coima")
('queja', 'pedido de dinero (coima)')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from unidecode import unidecode

from buzon import datafiles


@dataclass(frozen=True)
class Area:
    key: str
    name: str


def _table() -> dict[str, Any]:
    return datafiles.load("routing.yml")


def categories(kind: str | None = None) -> list[str]:
    """Category ids in table order, optionally only those of one kind."""
    table = _table()["categories"]
    return [c for c, row in table.items() if kind is None or row["kind"] == kind]


def kind_of(category: str) -> str:
    return str(_table()["categories"][category]["kind"])


def label_of(category: str) -> str:
    return str(_table()["categories"][category]["label"])


def description_of(category: str) -> str:
    """One plain line saying what the category covers, for the citizen."""
    return str(_table()["categories"][category]["description"])


def area(key: str) -> Area:
    return Area(key, _table()["areas"][key])


def areas() -> dict[str, str]:
    return dict(_table()["areas"])


def _plain(text: str) -> str:
    return " ".join(unidecode(text or "").lower().split())


def route(category: str, description: str = "") -> Area:
    """The area responsible for a case of ``category`` with this description."""
    row = _table()["categories"][category]
    if row["kind"] == "queja":
        text = _plain(description)
        for rule in _table().get("overrides", []):
            if category not in rule.get("categories", [category]):
                continue
            if any(re.search(rf"\b{re.escape(_plain(word))}\b", text) for word in rule["keywords"]):
                return area(rule["area"])
    return area(row["area"])
