"""Rasa's lookup of an event class by its name, remembered.

Every event read from the tracker store or sent by the action server is turned
into its class by ``Event.resolve_by_type``, which walks the whole tree of
``Event`` subclasses (``all_subclasses``, with an ``inspect.isabstract`` per
class) each time: a conversation of a hundred events does it a hundred times per
message, twice. A sampling profile under 20 concurrent registrations put about 7 %
of the Rasa server's CPU there (README, "Performance"). :func:`install` keeps
the answer for each name once found; a name not found goes to Rasa's own lookup,
so its errors and defaults are unchanged.

Installed when the channels load (:mod:`channels`).
"""

from __future__ import annotations

from typing import Any

from rasa.shared.core import events as rasa_events


def install() -> None:
    """Remember each event name's class (idempotent)."""
    current = rasa_events.Event.__dict__["resolve_by_type"].__func__
    if getattr(current, "_buzon_remembered", False):
        return
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = current(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type._buzon_remembered = True  # type: ignore[attr-defined]
    rasa_events.Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
