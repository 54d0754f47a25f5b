"""Patterns: what fails most, where, and how fast IESS responds.

:func:`summary` counts the cases a staff member may see (an investigator's stay
within denuncias, an analyst's within their areas, a supervisor's within theirs)
by kind, category, area, province, canton and week, and measures the median days
to the first action and to resolution, the share resolved on time, the ratings
and the reopening rate. :func:`csv_rows` gives the same figures for export with
every count between 1 and ``MIN_CELL - 1`` suppressed, so that a denuncia from a
small canton cannot be traced to a person.

>>> suppressed(3), suppressed(0), suppressed(12)
('<5', '0', '12')
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from buzon import territory
from buzon.cases import deadlines, routing, workflow
from buzon.cases.models import Case, CaseEvent
from buzon.clock import ECUADOR_OFFSET, utcnow
from buzon.db import session_factory
from buzon.staff.permissions import Staff, visible_kinds_and_areas

MIN_CELL = 5
REOPENINGS = ("reopened", "citizen_reopened")


def suppressed(count: int) -> str:
    return f"<{MIN_CELL}" if 0 < count < MIN_CELL else str(count)


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
    provinces = {p.code: p.name for p in territory.provinces()}
    cantons = {c.code: f"{c.name} ({c.province.name})" for c in territory.cantons()}
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
    found.by_province = _bars(counters["province"], lambda code: provinces.get(code, code))
    found.by_canton = _bars(counters["canton"], lambda code: cantons.get(code, code))
    found.by_week = _bars(counters["week"], str, sorted(counters["week"]))
    found.median_days_to_first_action = statistics.median(first_action) if first_action else None
    found.median_days_to_resolution = statistics.median(resolution) if resolution else None
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


def csv_rows(figures: Summary) -> list[list[str]]:
    """The figures as CSV rows (section, key, label, value), small cells suppressed."""
    rows = [["section", "key", "label", "value"], ["total", "", "", suppressed(figures.total)]]
    for attribute, section in SECTIONS:
        rows += [
            [section, bar.key, bar.label, suppressed(bar.count)]
            for bar in getattr(figures, attribute)
        ]
    rows += [["ratings", str(n), str(n), suppressed(count)] for n, count in figures.ratings.items()]
    for key, value in (
        ("median_days_to_first_action", figures.median_days_to_first_action),
        ("median_days_to_resolution", figures.median_days_to_resolution),
        ("on_time_share", figures.on_time_share),
        ("reopen_rate", figures.reopen_rate),
        ("rating_average", figures.rating_average),
    ):
        rows.append(["measure", key, "", "" if value is None else str(value)])
    rows.append(["measure", "resolved", "", suppressed(figures.resolved)])
    return rows
