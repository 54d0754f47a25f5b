"""The reports: the page (charts drawn on the server as SVG, a table under each) and
its CSV export, for the roles that work cases.

Each person sees the patterns of the cases they may see (an investigator's
within denuncias, an analyst's within their areas): :mod:`buzon.staff.reports`
counts them and suppresses the small cells; nothing here counts anything.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any, Dict, Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from buzon import wiring
from buzon.clock import ECUADOR_OFFSET, utcnow
from buzon.staff import reports
from buzon.staff.permissions import Action, allowed
from console.auth import Caller, api_caller
from console.pages import render, signed_in

# The periods a report covers: code -> days back (None: all); words in reports.html.
PERIODS = {"3m": 91, "12m": 365, "todo": None}
DEFAULT_PERIOD = "3m"
# What a spreadsheet would run as a formula if a cell started with it (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["API"])


def _since(period: str) -> Optional[date]:
    days = PERIODS.get(period, PERIODS[DEFAULT_PERIOD])
    if days is None:
        return None
    return (utcnow() + ECUADOR_OFFSET).date() - timedelta(days=days)


def _figures(caller: Caller, period: str, channel: str) -> reports.Summary:
    staff = caller.account.staff
    if not allowed(staff, Action.VIEW_REPORTS):
        raise HTTPException(status_code=403)
    wired = wiring.current()
    wired.audit.record(
        staff.id, caller.account.email, "view_reports", f"period:{period}", channel=channel
    )
    return reports.summary(wired.engine, staff, _since(period))


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _period(period: str) -> str:
    return period if period in PERIODS else DEFAULT_PERIOD


@pages.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, periodo: str = DEFAULT_PERIOD) -> HTMLResponse:
    caller = signed_in(request)
    period = _period(periodo)
    figures = _figures(caller, period, "page")
    return render(
        request,
        "reports.html",
        caller,
        report=reports.published(figures),
        period=period,
        periods=list(PERIODS),
    )


@pages.get("/reports.csv")
def reports_csv(request: Request, periodo: str = DEFAULT_PERIOD) -> Response:
    caller = signed_in(request)
    period = _period(periodo)
    figures = _figures(caller, period, "csv")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in reports.csv_rows(figures):
        writer.writerow([_cell(value) for value in row])
    stamp = (utcnow() + ECUADOR_OFFSET).date().isoformat()
    return Response(
        out.getvalue().encode("utf-8-sig"),  # the BOM: Excel reads the accents right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reportes-{period}-{stamp}.csv"'},
    )


@api.get("/reports/summary")
def summary(periodo: str = DEFAULT_PERIOD, caller: Caller = Depends(api_caller)) -> Dict[str, Any]:
    """The figures of the reports page for the cases this account may see.

    ``periodo``: ``3m``, ``12m`` or ``todo``. Counts from 1 to 4 are suppressed
    (``count`` null, ``shown`` "<5"), and one more count ("x") where a single one
    could be worked out from the total; a median or average of fewer than 5 cases
    is null.
    """
    period = _period(periodo)
    return {"period": period, **reports.published(_figures(caller, period, "api"))}
