"""The JSON API under ``/api/v1``, for IESS's other systems and for tests.

``POST /api/v1/session`` with e-mail, password and TOTP code gives a bearer
token; every other call needs it and answers only what the caller's role
allows (:mod:`buzon.staff.permissions`): a case they may not see is a 404, an
action they may not take a 403, a refused value a 422 with its reason code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Dict, List, Optional, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from buzon import wiring
from buzon.staff.accounts import API, SignInRefused
from buzon.staff.desk import Forbidden, InboxFilter, NotFound, describe, describe_line
from buzon.staff.permissions import Action, allowed
from buzon.validation import Invalid
from console.auth import Caller, api_caller, client_of, throttle

router = APIRouter(prefix="/api/v1", tags=["API"])
T = TypeVar("T")


def domain(call: Callable[[], T]) -> T:
    """Run a domain call; its refusals become HTTP answers."""
    try:
        return call()
    except NotFound:
        raise HTTPException(status_code=404, detail="not found") from None
    except Forbidden:
        raise HTTPException(status_code=403, detail="forbidden") from None
    except Invalid as error:
        raise HTTPException(
            status_code=422, detail={"reason": error.reason, **error.details}
        ) from None


class SignIn(BaseModel):
    email: str
    password: str
    totp: Optional[str] = None


class Token(BaseModel):
    token: str
    role: str
    expires_in: int = Field(description="seconds")


class StatusChange(BaseModel):
    status: str
    reason: str = ""
    message: str = Field("", description="what the citizen is told (sent by the follow-up)")


class Note(BaseModel):
    text: str


class Question(BaseModel):
    text: str = Field(description="the question, as the citizen will read it")


class Assignment(BaseModel):
    assignee: Optional[int] = Field(None, description="a staff account id; null to unassign")


class AreaChange(BaseModel):
    area: str
    reason: str


class CategoryChange(BaseModel):
    category: str
    reason: str


class RevealRequestBody(BaseModel):
    reason: str


class Decision(BaseModel):
    approve: bool
    reason: str = ""


class AccountBody(BaseModel):
    email: str
    role: str
    areas: List[str] = []
    password: Optional[str] = None


@router.post("/session", response_model=Token)
def sign_in(body: SignIn, request: Request) -> Token:
    """A bearer token for the right e-mail, password and TOTP code."""
    wired = wiring.current()
    if not throttle.allow(client_of(request)):
        raise HTTPException(status_code=429, detail="too many attempts")
    try:
        signed = wired.accounts.sign_in(body.email, body.password, body.totp, kind=API)
    except SignInRefused:
        throttle.failed(client_of(request))
        known = wired.accounts.by_email(body.email or "")
        wired.audit.record(
            known.id if known else None,
            "api",
            "login_failed",
            f"staff#{known.id}" if known else "staff",
            channel="api",
        )
        raise HTTPException(status_code=401, detail="unauthorized") from None
    wired.audit.record(
        signed.account.id,
        signed.account.email,
        "login",
        f"staff#{signed.account.id}",
        channel="api",
    )
    return Token(token=signed.token, role=signed.account.role.value, expires_in=8 * 3600)


@router.delete("/session", status_code=204)
def sign_out(caller: Caller = Depends(api_caller)) -> Response:
    wiring.current().accounts.sign_out(caller.token)
    return Response(status_code=204)


@router.get("/cases")
def list_cases(
    caller: Caller = Depends(api_caller),
    status: Optional[str] = None,
    kind: Optional[str] = None,
    category: Optional[str] = None,
    area: Optional[str] = None,
    province: Optional[str] = None,
    canton: Optional[str] = None,
    created_from: Optional[datetime] = None,
    created_to: Optional[datetime] = None,
    number: Optional[str] = None,
    mine: bool = False,
    overdue: bool = Query(False, description="only open cases past their deadline"),
    page: int = Query(1, ge=1),
    per_page: int = Query(25, ge=1, le=200),
) -> Dict[str, Any]:
    """The cases this account may see, oldest first (no personal data), each with its
    next deadline (``due``) and whether the citizen wrote since it was last opened
    (``has_news``)."""
    wanted = InboxFilter(
        status,
        kind,
        category,
        area,
        province,
        canton,
        created_from,
        created_to,
        number,
        mine,
        overdue,
    )
    found = wiring.current().desk.inbox(caller.account.staff, wanted, page, per_page)
    return {
        "page": found.page,
        "pages": found.pages,
        "total": found.total,
        "cases": [describe_line(line) for line in found.lines],
    }


@router.get("/cases/{number}")
def get_case(number: str, caller: Caller = Depends(api_caller)) -> Dict[str, Any]:
    """A case as this account may see it: the identity only where the rules allow; its
    next deadline (``due``) and its timeline (questions, the citizen's answers and
    files, ratings, status changes)."""
    return describe(domain(lambda: wiring.current().desk.open(caller.account.staff, number)))


@router.post("/cases/{number}/status", status_code=204)
def change_status(
    number: str, body: StatusChange, caller: Caller = Depends(api_caller)
) -> Response:
    desk = wiring.current().desk
    domain(
        lambda: desk.change_status(
            caller.account.staff, number, body.status, body.reason, body.message
        )
    )
    return Response(status_code=204)


@router.post("/cases/{number}/questions", status_code=204)
def ask_citizen(number: str, body: Question, caller: Caller = Depends(api_caller)) -> Response:
    """Ask the citizen: the case waits in "información requerida"; the citizen is told
    by e-mail (and WhatsApp for a WhatsApp case) and answers through "Consultar estado"."""
    domain(lambda: wiring.current().desk.ask_citizen(caller.account.staff, number, body.text))
    return Response(status_code=204)


@router.post("/cases/{number}/notes", status_code=204)
def add_note(number: str, body: Note, caller: Caller = Depends(api_caller)) -> Response:
    domain(lambda: wiring.current().desk.add_note(caller.account.staff, number, body.text))
    return Response(status_code=204)


@router.post("/cases/{number}/assignment", status_code=204)
def assign(number: str, body: Assignment, caller: Caller = Depends(api_caller)) -> Response:
    wired = wiring.current()
    assignee = wired.accounts.get(body.assignee) if body.assignee is not None else None
    if body.assignee is not None and (assignee is None or not assignee.active):
        raise HTTPException(status_code=422, detail={"reason": "assignee_not_in_area"})
    domain(
        lambda: wired.desk.assign(
            caller.account.staff, number, body.assignee, assignee.staff if assignee else None
        )
    )
    return Response(status_code=204)


@router.post("/cases/{number}/area", status_code=204)
def move_area(number: str, body: AreaChange, caller: Caller = Depends(api_caller)) -> Response:
    domain(
        lambda: wiring.current().desk.move_area(
            caller.account.staff, number, body.area, body.reason
        )
    )
    return Response(status_code=204)


@router.post("/cases/{number}/category", status_code=204)
def recategorise(
    number: str, body: CategoryChange, caller: Caller = Depends(api_caller)
) -> Response:
    domain(
        lambda: wiring.current().desk.recategorise(
            caller.account.staff, number, body.category, body.reason
        )
    )
    return Response(status_code=204)


@router.get("/cases/{number}/evidence/{evidence_id}")
def evidence(
    number: str, evidence_id: int, original: bool = False, caller: Caller = Depends(api_caller)
) -> Response:
    """A file of the case: the disarmed copy, or the original (a separate, audited action)."""
    name, kind, content = domain(
        lambda: wiring.current().desk.evidence_file(
            caller.account.staff, number, evidence_id, original
        )
    )
    return attachment(name, kind, content)


@router.post("/cases/{number}/reveal-requests", status_code=201)
def request_reveal(
    number: str, body: RevealRequestBody, caller: Caller = Depends(api_caller)
) -> Dict[str, int]:
    request_id = domain(
        lambda: wiring.current().desk.request_reveal(caller.account.staff, number, body.reason)
    )
    return {"id": request_id}


@router.get("/reveal-requests")
def reveal_requests(
    caller: Caller = Depends(api_caller), pending_only: bool = True
) -> List[Dict[str, Any]]:
    lines = domain(
        lambda: wiring.current().desk.reveal_requests(caller.account.staff, pending_only)
    )
    return [
        {
            **line.__dict__,
            "created_at": line.created_at.isoformat(),
            "decided_at": line.decided_at.isoformat() if line.decided_at else None,
            "expires_at": line.expires_at.isoformat() if line.expires_at else None,
        }
        for line in lines
    ]


@router.post("/reveal-requests/{request_id}/decision", status_code=204)
def decide(request_id: int, body: Decision, caller: Caller = Depends(api_caller)) -> Response:
    domain(
        lambda: wiring.current().desk.decide_reveal(
            caller.account.staff, request_id, body.approve, body.reason
        )
    )
    return Response(status_code=204)


def _only(caller: Caller, action: Action) -> None:
    if not allowed(caller.account.staff, action):
        raise HTTPException(status_code=403, detail="forbidden")


@router.get("/accounts")
def accounts(caller: Caller = Depends(api_caller)) -> List[Dict[str, Any]]:
    _only(caller, Action.MANAGE_ACCOUNTS)
    return [
        {
            "id": a.id,
            "email": a.email,
            "role": a.role.value,
            "areas": sorted(a.areas),
            "active": a.active,
            "locked": a.locked,
        }
        for a in wiring.current().accounts.all()
    ]


@router.post("/accounts", status_code=201)
def save_account(body: AccountBody, caller: Caller = Depends(api_caller)) -> Dict[str, Any]:
    """Create or change an account; the answer carries the TOTP URI when one was made."""
    _only(caller, Action.MANAGE_ACCOUNTS)
    wired = wiring.current()
    saved = domain(lambda: wired.accounts.save(body.email, body.role, body.areas, body.password))
    wired.audit.record(
        caller.account.id,
        caller.account.email,
        "save_account",
        f"staff#{saved.account.id}",
        role=saved.account.role.value,
        areas=sorted(saved.account.areas),
    )
    return {"id": saved.account.id, "totp_uri": saved.totp_uri}


@router.post("/accounts/{account_id}/sessions/revoke", status_code=204)
def revoke(account_id: int, caller: Caller = Depends(api_caller)) -> Response:
    _only(caller, Action.MANAGE_ACCOUNTS)
    wired = wiring.current()
    wired.accounts.revoke_all(account_id)
    wired.audit.record(
        caller.account.id, caller.account.email, "revoke_sessions", f"staff#{account_id}"
    )
    return Response(status_code=204)


@router.get("/audit")
def audit(
    caller: Caller = Depends(api_caller),
    action: Optional[str] = None,
    target: Optional[str] = None,
    actor: Optional[str] = None,
    limit: int = Query(200, ge=1, le=1000),
    before_id: Optional[int] = None,
) -> List[Dict[str, Any]]:
    _only(caller, Action.READ_AUDIT)
    entries = wiring.current().audit.entries(action, target, actor, limit, before_id)
    return [{**e.__dict__, "at": e.at.isoformat()} for e in entries]


CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}


def attachment(name: str, kind: str, content: bytes) -> Response:
    """A file to save, never to render in the console's own page."""
    safe = "".join(ch for ch in name if ch.isalnum() or ch in "._- ") or f"evidencia.{kind}"
    return Response(
        content,
        media_type=CONTENT_TYPES.get(kind, "application/octet-stream"),
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
