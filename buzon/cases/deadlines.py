"""When each step of a case is due (``buzon/data/deadlines.yml``), in business days.

Business days skip Saturdays, Sundays and Ecuador's national holidays as the
well-kept ``holidays`` package knows them (its Ecuador calendar, observed days
included). A period counted in business days ends at the end of its last
business day (23:59:59 in Ecuador); one in months on the same day-of-month.

>>> from datetime import date
>>> add_business_days(date(2026, 2, 13), 1)  # a Friday before Carnaval (16-17 Feb)
datetime.date(2026, 2, 18)
>>> add_business_days(date(2026, 12, 30), 2)  # over New Year's Day
datetime.date(2027, 1, 4)
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import holidays

from buzon import datafiles
from buzon.cases import workflow
from buzon.clock import ECUADOR_OFFSET


@lru_cache(maxsize=32)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("EC", years=[year]).keys())


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_business_days(start: date, days: int) -> date:
    """The business day ``days`` business days after ``start``."""
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (0 if end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_business_day(day)
    return count


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _rules() -> dict[str, Any]:
    return datafiles.load("deadlines.yml")


def _ecuador_day(moment: datetime) -> date:
    return (moment + ECUADOR_OFFSET).date()


def _end_of_day_utc(day: date) -> datetime:
    """23:59:59 of ``day`` in Ecuador, as stored (naive UTC)."""
    return datetime.combine(day, time(23, 59, 59)) - ECUADOR_OFFSET


def due(step: str, kind: str, registered_at: datetime) -> datetime:
    """When ``step`` (first_action, resolution) of a case of ``kind`` is due."""
    rule = _rules()[step][kind]
    start = _ecuador_day(registered_at)
    if "business_days" in rule:
        last = add_business_days(start, int(rule["business_days"]))
    elif "months" in rule:
        last = add_months(start, int(rule["months"]))
    else:
        last = start + timedelta(days=int(rule["calendar_days"]))
    return _end_of_day_utc(last)


@dataclass(frozen=True)
class Due:
    """The next deadline of an open case, and whether it has passed."""

    step: str
    at: datetime
    overdue: bool
    soon: bool


def next_due(
    kind: str, status: str, registered_at: datetime, first_action_at: datetime | None, now: datetime
) -> Due | None:
    """The deadline that matters now: the first action until there is one, then the
    resolution; None once the case is closed."""
    if status in workflow.CLOSED:
        return None
    step = "first_action" if first_action_at is None else "resolution"
    at = due(step, kind, registered_at)
    soon_days = int(_rules()["due_soon_business_days"])
    soon = not now > at and business_days_between(_ecuador_day(now), _ecuador_day(at)) <= soon_days
    return Due(step, at, now > at, soon)


def met(step: str, kind: str, registered_at: datetime, done_at: datetime | None) -> bool | None:
    """Whether a step was done on time (None while it is not done)."""
    if done_at is None:
        return None
    return done_at <= due(step, kind, registered_at)


def promised() -> dict[str, int]:
    """The deadlines as a citizen is told them (``utter_process`` in domain.yml).

    >>> promised()
    {'first_action_days': 7, 'queja_business_days': 30, 'denuncia_months': 3}
    """
    rules = _rules()
    return {
        "first_action_days": max(
            int(rules["first_action"][kind]["business_days"]) for kind in ("queja", "denuncia")
        ),
        "queja_business_days": int(rules["resolution"]["queja"]["business_days"]),
        "denuncia_months": int(rules["resolution"]["denuncia"]["months"]),
    }


def reopen_until(resolved_at: datetime) -> datetime:
    return resolved_at + timedelta(days=int(_rules()["reopen_within_days"]))
