"""The console's pages: server-rendered HTML forms, no front-end framework, no script.

Every page asks :mod:`buzon.staff` what the signed-in person may see and do;
every form posts a CSRF token. The words are in the templates (Spanish).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, List, Optional, Tuple, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from buzon import messages, territory, wiring
from buzon.cases import routing, workflow
from buzon.clock import ecuador_time_text
from buzon.staff.accounts import BROWSER, SignInRefused
from buzon.staff.desk import CITIZEN_EVENTS, Forbidden, InboxFilter, NotFound
from buzon.staff.permissions import Action, CaseScope, Role, allowed
from buzon.validation import Invalid
from console import api
from console.auth import COOKIE, Caller, check_csrf, client_of, page_caller, same_origin, throttle

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.filters["ecuador"] = lambda moment: ecuador_time_text(moment) if moment else ""
templates.env.globals.update(
    status_label=messages.status_label,
    area_name=lambda key: routing.area(key).name,
    category_label=routing.label_of,
    citizen_events=CITIZEN_EVENTS,
)
T = TypeVar("T")

HOME = {Role.CUSTODIAN: "/reveals", Role.ADMINISTRATOR: "/accounts", Role.AUDITOR: "/audit"}


def render(
    request: Request, name: str, caller: Optional[Caller], status_code: int = 200, **values: Any
) -> HTMLResponse:
    account = caller.account if caller else None
    return templates.TemplateResponse(
        name,
        {
            "request": request,
            "account": account,
            "csrf": caller.csrf if caller else "",
            "may": (lambda action: allowed(account.staff, Action(action)))
            if account
            else (lambda action: False),
            **values,
        },
        status_code=status_code,
    )


def error_page(request: Request, status_code: int) -> HTMLResponse:
    return render(
        request, "error.html", page_caller(request), status_code=status_code, code=status_code
    )


def signed_in(request: Request) -> Caller:
    caller = page_caller(request)
    if caller is None:
        raise HTTPException(status_code=303, headers={"Location": "/login"})
    return caller


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def attempt(call: Callable[[], T]) -> Tuple[Optional[T], Optional[str]]:
    """The domain's answer, or the reason it refused (NotFound and Forbidden propagate)."""
    try:
        return call(), None
    except NotFound:
        raise HTTPException(status_code=404) from None
    except Forbidden:
        raise HTTPException(status_code=403) from None
    except Invalid as error:
        return None, error.reason


# --- signing in -----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", None)


@router.post("/login")
def login(
    request: Request, email: str = Form(""), password: str = Form(""), totp: str = Form("")
) -> Response:
    wired = wiring.current()
    if not same_origin(request):
        raise HTTPException(status_code=403)
    if not throttle.allow(client_of(request)):
        return render(request, "login.html", None, status_code=429, refused="too_many")
    try:
        signed = wired.accounts.sign_in(email, password, totp or None, kind=BROWSER)
    except SignInRefused:
        throttle.failed(client_of(request))
        known = wired.accounts.by_email(email)
        wired.audit.record(
            known.id if known else None,
            "page",
            "login_failed",
            f"staff#{known.id}" if known else "staff",
            channel="page",
        )
        return render(request, "login.html", None, status_code=401, refused="wrong", email=email)
    wired.audit.record(
        signed.account.id,
        signed.account.email,
        "login",
        f"staff#{signed.account.id}",
        channel="page",
    )
    response = back(HOME.get(signed.account.role, "/"))
    response.set_cookie(
        COOKIE,
        signed.token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=not wired.settings.embedded,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    caller = signed_in(request)
    check_csrf(request, caller, csrf)
    wiring.current().accounts.sign_out(caller.token)
    response = back("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# --- cases -------------------------------------------------------------------------------


def _date(value: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/", response_class=HTMLResponse)
def inbox(
    request: Request,
    status: str = "",
    kind: str = "",
    category: str = "",
    area: str = "",
    province: str = "",
    canton: str = "",
    created_from: str = "",
    created_to: str = "",
    number: str = "",
    mine: str = "",
    overdue: str = "",
    page: int = 1,
) -> Response:
    caller = signed_in(request)
    if caller.account.role in HOME:
        return back(HOME[caller.account.role])
    wanted = InboxFilter(
        status or None,
        kind or None,
        category or None,
        area or None,
        province or None,
        canton or None,
        _date(created_from),
        _date(created_to),
        number or None,
        bool(mine),
        bool(overdue),
    )
    found = wiring.current().desk.inbox(caller.account.staff, wanted, page)
    query = {
        k: v
        for k, v in {
            "status": status,
            "kind": kind,
            "category": category,
            "area": area,
            "province": province,
            "canton": canton,
            "created_from": created_from,
            "created_to": created_to,
            "number": number,
            "mine": mine,
            "overdue": overdue,
        }.items()
        if v
    }
    return render(
        request,
        "inbox.html",
        caller,
        found=found,
        wanted=query,
        page_link=lambda n: "/?" + urlencode({**query, "page": n}),
        statuses=workflow.STATUSES,
        categories=routing.categories(),
        areas=routing.areas(),
        provinces=territory.provinces(),
    )


def _case_page(
    request: Request,
    caller: Caller,
    number: str,
    refused: Optional[str] = None,
    status_code: int = 200,
) -> HTMLResponse:
    wired = wiring.current()
    view, _ = attempt(lambda: wired.desk.open(caller.account.staff, number))
    assert view is not None
    accounts = wired.accounts.all()
    people = {a.id: a.email for a in accounts}
    scope = CaseScope(view.line.kind, view.line.area, view.line.assigned_to)
    colleagues = [
        a
        for a in accounts
        if a.active and a.role.works_cases and allowed(a.staff, Action.VIEW_CASE, scope)
    ]
    return render(
        request,
        "case.html",
        caller,
        view=view,
        people=people,
        refused=refused,
        colleagues=colleagues,
        categories=routing.categories(),
        areas=routing.areas(),
        status_code=status_code,
    )


@router.get("/cases/{number}", response_class=HTMLResponse)
def case_page(request: Request, number: str) -> HTMLResponse:
    return _case_page(request, signed_in(request), number)


def _act(request: Request, number: str, csrf: str, call: Callable[[Caller], Any]) -> Response:
    caller = signed_in(request)
    check_csrf(request, caller, csrf)
    _, refused = attempt(lambda: call(caller))
    if refused:
        return _case_page(request, caller, number, refused=refused, status_code=422)
    return back(f"/cases/{number}")


@router.post("/cases/{number}/status")
def change_status(
    request: Request,
    number: str,
    csrf: str = Form(""),
    status: str = Form(""),
    reason: str = Form(""),
    message: str = Form(""),
) -> Response:
    return _act(
        request,
        number,
        csrf,
        lambda caller: wiring.current().desk.change_status(
            caller.account.staff, number, status, reason, message
        ),
    )


@router.post("/cases/{number}/question")
def ask_citizen(
    request: Request, number: str, csrf: str = Form(""), question: str = Form("")
) -> Response:
    return _act(
        request,
        number,
        csrf,
        lambda caller: wiring.current().desk.ask_citizen(caller.account.staff, number, question),
    )


@router.post("/cases/{number}/note")
def add_note(request: Request, number: str, csrf: str = Form(""), note: str = Form("")) -> Response:
    return _act(
        request,
        number,
        csrf,
        lambda caller: wiring.current().desk.add_note(caller.account.staff, number, note),
    )


@router.post("/cases/{number}/assign")
def assign(
    request: Request, number: str, csrf: str = Form(""), assignee: str = Form("")
) -> Response:
    wired = wiring.current()
    account = wired.accounts.get(int(assignee)) if assignee.isdigit() else None
    return _act(
        request,
        number,
        csrf,
        lambda caller: wired.desk.assign(
            caller.account.staff,
            number,
            account.id if account else None,
            account.staff if account else None,
        ),
    )


@router.post("/cases/{number}/area")
def move_area(
    request: Request,
    number: str,
    csrf: str = Form(""),
    area: str = Form(""),
    reason: str = Form(""),
) -> Response:
    return _act(
        request,
        number,
        csrf,
        lambda caller: wiring.current().desk.move_area(caller.account.staff, number, area, reason),
    )


@router.post("/cases/{number}/category")
def recategorise(
    request: Request,
    number: str,
    csrf: str = Form(""),
    category: str = Form(""),
    reason: str = Form(""),
) -> Response:
    caller = signed_in(request)
    check_csrf(request, caller, csrf)
    _, refused = attempt(
        lambda: wiring.current().desk.recategorise(caller.account.staff, number, category, reason)
    )
    if refused:
        return _case_page(request, caller, number, refused=refused, status_code=422)
    try:  # a queja that became a denuncia may leave this person's inbox
        wiring.current().desk.open(caller.account.staff, number)
    except (NotFound, Forbidden):
        return back("/")
    return back(f"/cases/{number}")


@router.post("/cases/{number}/reveal")
def request_reveal(
    request: Request, number: str, csrf: str = Form(""), reason: str = Form("")
) -> Response:
    return _act(
        request,
        number,
        csrf,
        lambda caller: wiring.current().desk.request_reveal(caller.account.staff, number, reason),
    )


@router.get("/cases/{number}/evidence/{evidence_id}")
def evidence(request: Request, number: str, evidence_id: int, original: int = 0) -> Response:
    caller = signed_in(request)
    found, _ = attempt(
        lambda: wiring.current().desk.evidence_file(
            caller.account.staff, number, evidence_id, bool(original)
        )
    )
    assert found is not None
    return api.attachment(*found)


# --- reveals, accounts, audit -------------------------------------------------------------


@router.get("/reveals", response_class=HTMLResponse)
def reveals(request: Request) -> HTMLResponse:
    caller = signed_in(request)
    lines, _ = attempt(lambda: wiring.current().desk.reveal_requests(caller.account.staff, False))
    people = {a.id: a.email for a in wiring.current().accounts.all()}
    return render(request, "reveals.html", caller, lines=lines, people=people)


@router.post("/reveals/{request_id}")
def decide(
    request: Request,
    request_id: int,
    csrf: str = Form(""),
    decision: str = Form(""),
    reason: str = Form(""),
) -> Response:
    caller = signed_in(request)
    check_csrf(request, caller, csrf)
    _, refused = attempt(
        lambda: wiring.current().desk.decide_reveal(
            caller.account.staff, request_id, decision == "approve", reason
        )
    )
    return back("/reveals" + (f"?refused={refused}" if refused else ""))


def _manager(request: Request) -> Caller:
    caller = signed_in(request)
    if not allowed(caller.account.staff, Action.MANAGE_ACCOUNTS):
        raise HTTPException(status_code=403)
    return caller


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, created: str = "", refused: str = "") -> HTMLResponse:
    caller = _manager(request)
    return render(
        request,
        "accounts.html",
        caller,
        accounts=wiring.current().accounts.all(),
        roles=list(Role),
        areas=routing.areas(),
        refused=refused or None,
    )


@router.post("/accounts")
def save_account(
    request: Request,
    csrf: str = Form(""),
    email: str = Form(""),
    role: str = Form(""),
    areas: List[str] = Form([]),
    password: str = Form(""),
) -> Response:
    caller = _manager(request)
    check_csrf(request, caller, csrf)
    wired = wiring.current()
    saved, refused = attempt(lambda: wired.accounts.save(email, role, areas, password or None))
    if refused or saved is None:
        return render(
            request,
            "accounts.html",
            caller,
            status_code=422,
            accounts=wired.accounts.all(),
            roles=list(Role),
            areas=routing.areas(),
            refused=refused,
        )
    wired.audit.record(
        caller.account.id,
        caller.account.email,
        "save_account",
        f"staff#{saved.account.id}",
        role=saved.account.role.value,
        areas=sorted(saved.account.areas),
    )
    return render(
        request,
        "accounts.html",
        caller,
        accounts=wired.accounts.all(),
        roles=list(Role),
        areas=routing.areas(),
        saved=saved,
    )


@router.post("/accounts/{account_id}/revoke")
def revoke(request: Request, account_id: int, csrf: str = Form("")) -> Response:
    caller = _manager(request)
    check_csrf(request, caller, csrf)
    wired = wiring.current()
    wired.accounts.revoke_all(account_id)
    wired.audit.record(
        caller.account.id, caller.account.email, "revoke_sessions", f"staff#{account_id}"
    )
    return back("/accounts")


@router.post("/accounts/{account_id}/active")
def set_active(
    request: Request, account_id: int, csrf: str = Form(""), active: str = Form("")
) -> Response:
    caller = _manager(request)
    check_csrf(request, caller, csrf)
    wired = wiring.current()
    wired.accounts.set_active(account_id, active == "1")
    wired.audit.record(
        caller.account.id,
        caller.account.email,
        "enable_account" if active == "1" else "disable_account",
        f"staff#{account_id}",
    )
    return back("/accounts")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, action: str = "", target: str = "", actor: str = "", before_id: int = 0
) -> HTMLResponse:
    caller = signed_in(request)
    if not allowed(caller.account.staff, Action.READ_AUDIT):
        raise HTTPException(status_code=403)
    entries = wiring.current().audit.entries(
        action or None, target or None, actor or None, 100, before_id or None
    )
    return render(
        request,
        "audit.html",
        caller,
        entries=entries,
        wanted={"action": action, "target": target, "actor": actor},
    )
