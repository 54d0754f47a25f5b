"""Patterns: what fails most, where, and how fast IESS responds.

:func:`summary` counts the cases a staff member may see (an investigator's stay
within denuncias, an analyst's within their areas, a supervisor's within theirs)
by kind, category, area, province, canton and week, and measures the median days
to the first action and to resolution, the share resolved on time, the ratings
and the reopening rate.

Nothing leaves this module unsuppressed: :func:`published` (the console's page,
the API) and :func:`csv_rows` (the export) show every count between 1 and
``MIN_CELL - 1`` as "<5", so that a denuncia from a small canton cannot be traced
to a person. Because each section adds up to the total, a single "<5" could be
worked out by subtraction; the next smallest count of that section is then hidden
too ("x"), as statistical offices do. A median or an average of fewer than
``MIN_CELL`` cases is not shown either.

>>> suppressed(3), suppressed(0), suppressed(12)
('<5', '0', '12')
>>> [cell.shown for cell in cells([Bar("a", "A", 40), Bar("b", "B", 9), Bar("c", "C", 2)])]
['40', 'x', '<5']
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from buzon import territory
from buzon.cases import deadlines, routing, workflow
from buzon.cases.models import Case, CaseEvent
from buzon.clock import ECUADOR_OFFSET, utcnow
from buzon.db import session_factory
from buzon.staff.permissions import Staff, visible_kinds_and_areas

MIN_CELL = 5
SMALL, HIDDEN = f"<{MIN_CELL}", "x"
REOPENINGS = ("reopened", "citizen_reopened")


def suppressed(count: int) -> str:
    return SMALL if 0 < count < MIN_CELL else str(count)


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    count: int


@dataclass
class Summary:
    total: int = 0
    by_kind: list[Bar] = field(default_factory=list)
    by_category: list[Bar] = field(default_factory=list)
    by_area: list[Bar] = field(default_factory=list)
    by_province: list[Bar] = field(default_factory=list)
    by_canton: list[Bar] = field(default_factory=list)
    by_week: list[Bar] = field(default_factory=list)
    median_days_to_first_action: float | None = None
    median_days_to_resolution: float | None = None
    first_actions: int = 0  # how many cases the medians are of
    resolutions: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    ratings: dict[int, int] = field(default_factory=dict)
    rating_average: float | None = None
    reopened: int = 0

    @property
    def on_time_share(self) -> float | None:
        return round(self.resolved_on_time / self.resolved, 3) if self.resolved else None

    @property
    def reopen_rate(self) -> float | None:
        return round(self.reopened / self.resolved, 3) if self.resolved else None


def _bars(
    counts: Counter[str], label: Callable[[str], str], order: Iterable[str] | None = None
) -> list[Bar]:
    keys = list(order) if order is not None else [k for k, _ in counts.most_common()]
    return [Bar(key, label(key), counts[key]) for key in keys if counts[key]]


def _days(start: datetime, end: datetime) -> float:
    return round((end - start) / timedelta(days=1), 1)


def _week(moment: datetime) -> str:
    day = (moment + ECUADOR_OFFSET).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def _place_name(code: str) -> str:
    """ "Guayas"; a canton with its province, "Olmedo (Manabí)" (two cantons share it)."""
    place = territory.by_code(code)
    if isinstance(place, territory.Canton):
        return f"{place.name} ({place.province.name})"
    return place.name if place else code


def summary(
    engine: Engine, staff: Staff, since: date | None = None, now: Callable[[], datetime] = utcnow
) -> Summary:
    """The figures of the cases ``staff`` may see (registered since ``since``)."""
    kinds, areas = visible_kinds_and_areas(staff)
    found = Summary()
    if not kinds:
        return found
    query = select(Case).where(Case.kind.in_(kinds))
    if areas is not None:
        query = query.where(Case.area.in_(areas))
    if since is not None:
        query = query.where(Case.created_at >= datetime.combine(since, datetime.min.time()))
    counters: dict[str, Counter[str]] = {
        name: Counter() for name in ("kind", "category", "area", "province", "canton", "week")
    }
    first_action, resolution, stars = [], [], []
    with session_factory(engine)() as session:
        cases = session.execute(query).scalars().all()
        reopened_ids = set(
            session.execute(
                select(CaseEvent.case_id).where(CaseEvent.kind.in_(REOPENINGS))
            ).scalars()
        )
        ever_resolved = set(
            session.execute(
                select(CaseEvent.case_id).where(CaseEvent.to_value == workflow.RESOLVED)
            ).scalars()
        )
    for case in cases:
        found.total += 1
        for name, value in (
            ("kind", case.kind),
            ("category", case.category),
            ("area", case.area),
            ("province", case.province_code),
            ("canton", case.canton_code),
            ("week", _week(case.created_at)),
        ):
            counters[name][value] += 1
        if case.first_action_at:
            first_action.append(_days(case.created_at, case.first_action_at))
        if case.id in ever_resolved:
            found.resolved += 1
            found.reopened += case.id in reopened_ids
        if case.status == workflow.RESOLVED and case.closed_at:
            resolution.append(_days(case.created_at, case.closed_at))
            found.resolved_on_time += bool(
                deadlines.met("resolution", case.kind, case.created_at, case.closed_at)
            )
        if case.rating:
            stars.append(case.rating)
    found.by_kind = _bars(counters["kind"], str.capitalize, ("queja", "denuncia"))
    found.by_category = _bars(counters["category"], routing.label_of)
    found.by_area = _bars(counters["area"], lambda key: routing.area(key).name)
    found.by_province = _bars(counters["province"], _place_name)
    found.by_canton = _bars(counters["canton"], _place_name)
    found.by_week = _bars(counters["week"], str, sorted(counters["week"]))
    found.median_days_to_first_action = statistics.median(first_action) if first_action else None
    found.median_days_to_resolution = statistics.median(resolution) if resolution else None
    found.first_actions, found.resolutions = len(first_action), len(resolution)
    found.ratings = {n: stars.count(n) for n in range(1, 6)}
    found.rating_average = round(statistics.mean(stars), 2) if stars else None
    return found


SECTIONS = (
    ("by_kind", "kind"),
    ("by_category", "category"),
    ("by_area", "area"),
    ("by_province", "province"),
    ("by_canton", "canton"),
    ("by_week", "week"),
)


@dataclass(frozen=True)
class Cell:
    """One count as it may be shown: ``count`` is None when it is suppressed."""

    key: str
    label: str
    count: int | None
    shown: str


def cells(bars: list[Bar]) -> list[Cell]:
    """A section's counts with small cells suppressed, and one more where a single
    suppressed cell could be worked out from the total."""
    small = {bar.key for bar in bars if 0 < bar.count < MIN_CELL}
    hidden: set[str] = set()
    if len(small) == 1:
        others = sorted(
            (bar for bar in bars if bar.key not in small and bar.count), key=lambda b: b.count
        )
        hidden = {others[0].key} if others else set()
    return [
        Cell(
            bar.key,
            bar.label,
            None if bar.key in small | hidden else bar.count,
            SMALL if bar.key in small else HIDDEN if bar.key in hidden else str(bar.count),
        )
        for bar in bars
    ]


def _measure(value: float | None, cases: int) -> float | None:
    return value if cases >= MIN_CELL else None


def measures(figures: Summary) -> dict[str, float | int | None]:
    """The speed and quality figures; a figure of fewer than MIN_CELL cases is None."""
    rated = sum(figures.ratings.values())
    return {
        "median_days_to_first_action": _measure(
            figures.median_days_to_first_action, figures.first_actions
        ),
        "median_days_to_resolution": _measure(
            figures.median_days_to_resolution, figures.resolutions
        ),
        "on_time_share": _measure(figures.on_time_share, figures.resolved),
        "reopen_rate": _measure(figures.reopen_rate, figures.resolved),
        "rating_average": _measure(figures.rating_average, rated),
    }


def published(figures: Summary) -> dict[str, Any]:
    """Every figure of the reports, suppressed, as plain data (the page and the API)."""
    ratings = [Bar(str(n), str(n), count) for n, count in figures.ratings.items()]
    return {
        "total": {
            "count": figures.total if figures.total >= MIN_CELL else None,
            "shown": suppressed(figures.total),
        },
        "sections": {
            section: [cell.__dict__ for cell in cells(getattr(figures, attribute))]
            for attribute, section in SECTIONS
        },
        "ratings": [cell.__dict__ for cell in cells(ratings)],
        "resolved": {
            "count": figures.resolved if figures.resolved >= MIN_CELL else None,
            "shown": suppressed(figures.resolved),
        },
        "measures": measures(figures),
        "min_cell": MIN_CELL,
    }


def csv_rows(figures: Summary) -> list[list[str]]:
    """The figures as CSV rows (section, key, label, value), small cells suppressed."""
    rows = [["section", "key", "label", "value"], ["total", "", "", suppressed(figures.total)]]
    for attribute, section in SECTIONS:
        rows += [
            [section, cell.key, cell.label, cell.shown]
            for cell in cells(getattr(figures, attribute))
        ]
    ratings = [Bar(str(n), str(n), count) for n, count in figures.ratings.items()]
    rows += [["ratings", cell.key, cell.label, cell.shown] for cell in cells(ratings)]
    for key, value in measures(figures).items():
        rows.append(["measure", key, "", "" if value is None else str(value)])
    rows.append(["measure", "resolved", "", suppressed(figures.resolved)])
    return rows
