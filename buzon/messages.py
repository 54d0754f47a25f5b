"""Citizen-facing words outside the bot's responses (``buzon/data/messages.yml``).

>>> status_label("in_review"), evidence_label(0), evidence_label(1), evidence_label(3)
('En análisis', 'ninguna', '1 archivo', '3 archivos')
"""

from __future__ import annotations

from typing import Any

from buzon import datafiles


def _messages() -> dict[str, Any]:
    return datafiles.load("messages.yml")


def text(key: str) -> str:
    return str(_messages()[key])


def status_label(status: str) -> str:
    """How a status reads to the citizen (the code itself if it has no label)."""
    return str(_messages()["status_labels"].get(status, status))


def evidence_label(count: int) -> str:
    words = _messages()["evidence_count"]
    if count <= 0:
        return str(words["none"])
    if count == 1:
        return str(words["one"])
    return str(words["many"]).format(count=count)
