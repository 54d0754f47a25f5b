"""The life of a case, as data: its statuses and the changes between them.

::

    registered ──► in_review ──► resolved
                    │   ▲    ├─► archived   (no procede: needs a reason)
                    ▼   │    └─► referred   (to another area: needs a reason)
        information_requested
    resolved / archived ──► in_review   (reopened by a supervisor, with a reason)

The words for each status are in ``buzon/data/messages.yml``.

>>> can_change("registered", "in_review"), can_change("registered", "resolved")
(True, False)
>>> needs_reason("archived"), needs_reason("in_review")
(True, False)
>>> check_change("resolved", "in_review", reopening=False)
Traceback (most recent call last):
    ...
buzon.validation.Invalid: status_change
"""

from __future__ import annotations

from buzon.validation import Invalid

REGISTERED = "registered"
IN_REVIEW = "in_review"
INFORMATION_REQUESTED = "information_requested"
RESOLVED = "resolved"
ARCHIVED = "archived"
REFERRED = "referred"
STATUSES = (REGISTERED, IN_REVIEW, INFORMATION_REQUESTED, RESOLVED, ARCHIVED, REFERRED)

CHANGES: dict[str, frozenset[str]] = {
    REGISTERED: frozenset({IN_REVIEW}),
    IN_REVIEW: frozenset({INFORMATION_REQUESTED, RESOLVED, ARCHIVED, REFERRED}),
    INFORMATION_REQUESTED: frozenset({IN_REVIEW}),
    RESOLVED: frozenset(),
    ARCHIVED: frozenset(),
    REFERRED: frozenset({IN_REVIEW}),  # the new area takes it up
}
# Closed cases come back only by a reopening.
REOPENABLE = frozenset({RESOLVED, ARCHIVED})
# A status whose change must say why (the reason is kept in the timeline).
NEEDS_REASON = frozenset({ARCHIVED, REFERRED})
CLOSED = frozenset({RESOLVED, ARCHIVED})
# Staff may ask the citizen a question on any open case (asking again while the
# first question waits; a new or referred case is taken up by the asking).
ASKABLE = frozenset({REGISTERED, IN_REVIEW, INFORMATION_REQUESTED, REFERRED})


def can_change(current: str, new: str) -> bool:
    return new in CHANGES.get(current, frozenset())


def needs_reason(new: str) -> bool:
    return new in NEEDS_REASON


def next_statuses(current: str, reopening: bool = False) -> list[str]:
    """The statuses a case may move to now, in workflow order."""
    found = [s for s in STATUSES if can_change(current, s)]
    if reopening and current in REOPENABLE:
        found.append(IN_REVIEW)
    return found


def check_change(current: str, new: str, reopening: bool, reason: str = "") -> None:
    """Invalid unless ``current`` may become ``new`` (with a reason where one is needed)."""
    allowed = can_change(current, new) or (reopening and current in REOPENABLE and new == IN_REVIEW)
    if not allowed:
        raise Invalid("status_change", current=current, new=new)
    if (needs_reason(new) or current in REOPENABLE) and not reason.strip():
        raise Invalid("reason_required")
