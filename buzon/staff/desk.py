"""The staff's work on cases: the inbox, a case's page, and every change to a case.

Every method takes the signed-in :class:`~buzon.staff.permissions.Staff` and asks
:mod:`buzon.staff.permissions` first. A case the staff member may not see is
:class:`NotFound`, exactly like a case that does not exist (no list, no direct
address and no API call tells them apart); an action they may not take on a case
they see is :class:`Forbidden`. Every view of a citizen's identity, every
download, every change and every reveal is written to the audit log in the same
transaction.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from buzon import evidence as evidence_module
from buzon import evidence_disarm, messages, territory
from buzon.audit import AuditLog
from buzon.cases import deadlines, notices, numbering, routing, workflow
from buzon.cases.models import Case, CaseEvent, RevealRequest
from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import session_factory
from buzon.staff.permissions import Action, CaseScope, Role, Staff, allowed, visible_kinds_and_areas
from buzon.validation import Invalid

REVEAL_LIFETIME = timedelta(hours=24)
# What counts as the first action on a case (for its deadline).
FIRST_ACTIONS = frozenset({"status", "question", "note", "moved", "recategorised"})
PENDING, APPROVED, DENIED = "pending", "approved", "denied"
MAX_TEXT = 4000
PER_PAGE = 25
PSEUDONYM_ALPHABET = numbering.ALPHABET


class NotFound(Exception):
    """No such case for this staff member (or none at all)."""


class Forbidden(Exception):
    """The staff member sees the case but may not do this."""


@dataclass(frozen=True)
class InboxFilter:
    status: str | None = None
    kind: str | None = None
    category: str | None = None
    area: str | None = None
    province: str | None = None
    canton: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    number: str | None = None
    mine: bool = False
    overdue: bool = False


@dataclass(frozen=True)
class CaseLine:
    """A case as the inbox lists it (no personal data)."""

    number: str
    kind: str
    category: str
    category_label: str
    area: str
    area_name: str
    status: str
    status_label: str
    province: str
    canton: str
    channel: str
    created_at: datetime
    updated_at: datetime
    assigned_to: int | None
    due: deadlines.Due | None = None
    has_news: bool = False


@dataclass(frozen=True)
class Page:
    lines: list[CaseLine]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Identity:
    cedula: str
    phone: str
    email: str | None  # None: the citizen chose to be told by WhatsApp only
    address: str


@dataclass(frozen=True)
class EvidenceLine:
    id: int
    kind: str
    size: int
    name: str
    content_hmac: str
    received_at: datetime | None = None


# Timeline entries written by the citizen (their message is the citizen's words).
CITIZEN_EVENTS = frozenset({"citizen_message", "rating", "citizen_reopened"})


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: int | None
    kind: str
    from_value: str | None
    to_value: str | None
    reason: str | None
    note: str | None
    message: str | None


@dataclass(frozen=True)
class CaseView:
    line: CaseLine
    description: str
    consent_version: str
    consent_at: datetime
    identity: Identity | None
    pseudonym: str | None
    evidence: list[EvidenceLine]
    timeline: list[TimelineEntry]
    may: frozenset[Action]
    next_statuses: list[str]
    reveal: RevealState | None = None
    may_ask: bool = False  # a question to the citizen


@dataclass(frozen=True)
class RevealState:
    request_id: int
    status: str
    expires_at: datetime | None


@dataclass(frozen=True)
class RevealLine:
    id: int
    case_number: str
    requester_id: int
    reason: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None


@dataclass
class _Found:
    case: Case
    scope: CaseScope
    revealed_to: set[int] = field(default_factory=set)


def _clean_text(text: str | None, name: str, required: bool = False) -> str:
    value = " ".join((text or "").split())
    if required and not value:
        raise Invalid(f"{name}_required")
    if len(value) > MAX_TEXT:
        raise Invalid(f"{name}_too_long", max_chars=MAX_TEXT)
    return value


class CaseDesk:
    def __init__(
        self,
        engine: Engine,
        cipher: FieldCipher,
        audit: AuditLog,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cipher = cipher
        self.audit = audit
        self.now = now
        self._session = session_factory(engine)

    # --- finding ----------------------------------------------------------------------

    def _line(self, case: Case) -> CaseLine:
        province = territory.by_code(case.province_code)
        canton = territory.by_code(case.canton_code)
        return CaseLine(
            case.number,
            case.kind,
            case.category,
            routing.label_of(case.category),
            case.area,
            routing.area(case.area).name,
            case.status,
            messages.status_label(case.status),
            province.name if province else case.province_code,
            canton.name if canton else case.canton_code,
            case.channel,
            case.created_at,
            case.updated_at,
            case.assigned_to,
            deadlines.next_due(
                case.kind, case.status, case.created_at, case.first_action_at, self.now()
            ),
            bool(case.has_news),
        )

    def _revealed_to(self, session: Session, case_id: int) -> set[int]:
        now = self.now()
        return set(
            session.execute(
                select(RevealRequest.requester_id).where(
                    RevealRequest.case_id == case_id,
                    RevealRequest.status == APPROVED,
                    RevealRequest.expires_at > now,
                )
            ).scalars()
        )

    def _find(
        self, session: Session, staff: Staff, number: str, action: Action, for_update: bool = False
    ) -> _Found:
        canonical = numbering.parse_case_number(number or "")
        query = select(Case).where(Case.number == (canonical or ""))
        if for_update:
            query = query.with_for_update()
        case = session.execute(query).scalar_one_or_none()
        if case is None:
            raise NotFound()
        scope = CaseScope(case.kind, case.area, case.assigned_to)
        revealed = self._revealed_to(session, case.id)
        if not allowed(staff, Action.VIEW_CASE, scope):
            raise NotFound()
        if not allowed(staff, action, scope, revealed):
            raise Forbidden()
        return _Found(case, scope, revealed)

    def inbox(
        self,
        staff: Staff,
        wanted: InboxFilter | None = None,
        page: int = 1,
        per_page: int = PER_PAGE,
    ) -> Page:
        """The cases this staff member may see, oldest first, a page at a time."""
        wanted = wanted or InboxFilter()
        kinds, areas = visible_kinds_and_areas(staff)
        if not kinds:
            return Page([], 1, 1, 0)
        query = select(Case).where(Case.kind.in_(kinds))
        if areas is not None:
            query = query.where(Case.area.in_(areas))
        conditions = {
            "status": Case.status,
            "kind": Case.kind,
            "category": Case.category,
            "area": Case.area,
            "province": Case.province_code,
            "canton": Case.canton_code,
        }
        for name, column in conditions.items():
            value = getattr(wanted, name)
            if value:
                query = query.where(column == value)
        if wanted.created_from:
            query = query.where(Case.created_at >= wanted.created_from)
        if wanted.created_to:
            query = query.where(Case.created_at < wanted.created_to)
        if wanted.number:
            query = query.where(Case.number == (numbering.parse_case_number(wanted.number) or ""))
        if wanted.mine:
            query = query.where(Case.assigned_to == staff.id)
        query = query.order_by(Case.created_at, Case.id)
        with self._session() as session:
            if wanted.overdue:  # deadlines count business days: decided here, not in SQL
                now = self.now()
                late = [
                    case
                    for case in session.execute(
                        query.where(Case.status.notin_(workflow.CLOSED))
                    ).scalars()
                    if _overdue(case, now)
                ]
                total = len(late)
                pages = max(1, math.ceil(total / per_page))
                page = min(max(1, page), pages)
                shown = late[(page - 1) * per_page : page * per_page]
                return Page([self._line(case) for case in shown], page, pages, total)
            total = int(
                session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            )
            pages = max(1, math.ceil(total / per_page))
            page = min(max(1, page), pages)
            rows = (
                session.execute(query.offset((page - 1) * per_page).limit(per_page)).scalars().all()
            )
            return Page([self._line(r) for r in rows], page, pages, total)

    def pseudonym(self, case_number: str) -> str:
        """The denunciante's name on this case: stable, and telling nothing."""
        digest = hmac.new(
            self.cipher.hash_key("denunciante"), case_number.encode(), sha256
        ).digest()
        letters = "".join(PSEUDONYM_ALPHABET[b % len(PSEUDONYM_ALPHABET)] for b in digest[:4])
        return f"D-{letters}"

    def open(self, staff: Staff, number: str) -> CaseView:
        """A case's page for this staff member; the identity only where the rules allow."""
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.VIEW_CASE)
            case, scope, revealed = found.case, found.scope, found.revealed_to
            may = frozenset(a for a in Action if allowed(staff, a, scope, revealed))
            identity = None
            if Action.VIEW_IDENTITY in may:
                dec = self.cipher.decrypt
                identity = Identity(
                    dec(case.cedula_enc),
                    dec(case.phone_enc),
                    dec(case.email_enc) if case.email_enc else None,
                    dec(case.address_enc),
                )
                self.audit.append(session, staff.id, _who(staff), "view_identity", case.number)
            self.audit.append(session, staff.id, _who(staff), "view_case", case.number)
            if case.has_news and case.assigned_to in (None, staff.id):
                case.has_news = False
            files = session.execute(
                select(
                    evidence_module.Evidence.id,
                    evidence_module.Evidence.kind,
                    evidence_module.Evidence.size,
                    evidence_module.Evidence.name_enc,
                    evidence_module.Evidence.content_hmac,
                    evidence_module.Evidence.created_at,
                )
                .where(evidence_module.Evidence.case_id == case.id)
                .order_by(evidence_module.Evidence.id)
            ).all()
            events = (
                session.execute(
                    select(CaseEvent)
                    .where(CaseEvent.case_id == case.id)
                    .order_by(CaseEvent.at, CaseEvent.id)
                )
                .scalars()
                .all()
            )
            reveal = None
            if staff.role is Role.INVESTIGATOR:
                mine = (
                    session.execute(
                        select(RevealRequest)
                        .where(
                            RevealRequest.case_id == case.id, RevealRequest.requester_id == staff.id
                        )
                        .order_by(RevealRequest.id.desc())
                    )
                    .scalars()
                    .first()
                )
                if mine is not None:
                    reveal = RevealState(mine.id, mine.status, mine.expires_at)
            reopening = Action.REOPEN in may
            return CaseView(
                line=self._line(case),
                description=self.cipher.decrypt(case.description_enc),
                consent_version=case.consent_version,
                consent_at=case.consent_at,
                identity=identity,
                pseudonym=self.pseudonym(case.number) if case.kind == "denuncia" else None,
                evidence=[
                    EvidenceLine(
                        f.id,
                        f.kind,
                        f.size,
                        self.cipher.decrypt(f.name_enc),
                        f.content_hmac,
                        f.created_at,
                    )
                    for f in files
                ],
                timeline=[
                    TimelineEntry(
                        e.at,
                        e.actor_id,
                        e.kind,
                        e.from_value,
                        e.to_value,
                        self.cipher.decrypt(e.reason_enc),
                        self.cipher.decrypt(e.note_enc),
                        self.cipher.decrypt(e.message_enc),
                    )
                    for e in events
                ],
                may=may,
                next_statuses=(
                    workflow.next_statuses(case.status, reopening)
                    if Action.CHANGE_STATUS in may
                    else []
                ),
                reveal=reveal,
                may_ask=Action.CHANGE_STATUS in may and case.status in workflow.ASKABLE,
            )

    # --- changing --------------------------------------------------------------------

    def _event(
        self,
        session: Session,
        case: Case,
        staff: Staff,
        kind: str,
        from_value: str | None = None,
        to_value: str | None = None,
        reason: str = "",
        note: str = "",
        message: str = "",
    ) -> None:
        enc = self.cipher.encrypt
        session.add(
            CaseEvent(
                case_id=case.id,
                at=self.now(),
                actor_id=staff.id,
                kind=kind,
                from_value=from_value,
                to_value=to_value,
                reason_enc=enc(reason) if reason else None,
                note_enc=enc(note) if note else None,
                message_enc=enc(message) if message else None,
            )
        )
        case.updated_at = self.now()
        if kind in FIRST_ACTIONS and case.first_action_at is None:
            case.first_action_at = self.now()

    def change_status(
        self, staff: Staff, number: str, new: str, reason: str = "", message: str = ""
    ) -> None:
        """Move the case along the workflow; who, when and why go to the timeline."""
        reason = _clean_text(reason, "reason")
        message = _clean_text(message, "message")
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.CHANGE_STATUS, for_update=True)
            case = found.case
            reopening = case.status in workflow.REOPENABLE
            if reopening and not allowed(staff, Action.REOPEN, found.scope, found.revealed_to):
                raise Forbidden()
            workflow.check_change(case.status, new, reopening, reason)
            if new == workflow.REFERRED:
                raise Invalid("use_move_area")
            self._event(
                session,
                case,
                staff,
                "reopened" if reopening else "status",
                case.status,
                new,
                reason=reason,
                message=message,
            )
            self.audit.append(
                session,
                staff.id,
                _who(staff),
                "change_status",
                case.number,
                old=case.status,
                new=new,
            )
            case.status = new
            if new in workflow.CLOSED:
                case.closed_at = self.now()
            elif reopening:
                case.closed_at = None
            notices.queue(
                session, self.cipher, case, new, self.now(), message=message, reason=reason
            )

    def ask_citizen(self, staff: Staff, number: str, question: str) -> None:
        """A question to the citizen: the case waits for "información requerida", the
        citizen is told by e-mail (and WhatsApp), and their answer comes back to it."""
        question = _clean_text(question, "question", required=True)
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.CHANGE_STATUS, for_update=True)
            case = found.case
            if case.status not in workflow.ASKABLE:
                raise Invalid(
                    "status_change", current=case.status, new=workflow.INFORMATION_REQUESTED
                )
            if case.status in (workflow.REGISTERED, workflow.REFERRED):  # asking is analysing
                self._event(session, case, staff, "status", case.status, workflow.IN_REVIEW)
                case.status = workflow.IN_REVIEW
            self._event(
                session,
                case,
                staff,
                "question",
                case.status,
                workflow.INFORMATION_REQUESTED,
                message=question,
            )
            self.audit.append(session, staff.id, _who(staff), "ask_citizen", case.number)
            case.status = workflow.INFORMATION_REQUESTED
            notices.queue(session, self.cipher, case, case.status, self.now(), message=question)

    def add_note(self, staff: Staff, number: str, note: str) -> None:
        note = _clean_text(note, "note", required=True)
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.ADD_NOTE, for_update=True)
            self._event(session, found.case, staff, "note", note=note)
            self.audit.append(session, staff.id, _who(staff), "add_note", found.case.number)

    def assign(
        self, staff: Staff, number: str, assignee: int | None, assignee_scope: Staff | None
    ) -> None:
        """Assign the case to a named staff member who sees it (or to nobody)."""
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.ASSIGN, for_update=True)
            if assignee is not None and (
                assignee_scope is None or not allowed(assignee_scope, Action.VIEW_CASE, found.scope)
            ):
                raise Invalid("assignee_not_in_area")
            self._event(
                session,
                found.case,
                staff,
                "assigned",
                str(found.case.assigned_to or ""),
                str(assignee or ""),
            )
            self.audit.append(
                session, staff.id, _who(staff), "assign", found.case.number, assignee=assignee
            )
            found.case.assigned_to = assignee

    def move_area(self, staff: Staff, number: str, area: str, reason: str) -> None:
        """Refer the case to another area (status "referred"; the new area takes it up)."""
        reason = _clean_text(reason, "reason", required=True)
        if area not in routing.areas():
            raise Invalid("area_unknown")
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.MOVE_AREA, for_update=True)
            case = found.case
            if case.kind == "denuncia" or area == "denuncias":
                raise Invalid("denuncias_stay_with_their_team")
            if area == case.area:
                raise Invalid("same_area")
            self._event(session, case, staff, "moved", case.area, area, reason=reason)
            self.audit.append(
                session, staff.id, _who(staff), "move_area", case.number, old=case.area, new=area
            )
            case.area, case.assigned_to = area, None
            if case.status not in workflow.CLOSED:
                case.status = workflow.REFERRED
                notices.queue(
                    session, self.cipher, case, workflow.REFERRED, self.now(), reason=reason
                )

    def recategorise(self, staff: Staff, number: str, category: str, reason: str) -> None:
        """A new category; a queja that is a denuncia goes to the denuncias team, protected."""
        reason = _clean_text(reason, "reason", required=True)
        if category not in routing.categories():
            raise Invalid("category")
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.RECATEGORISE, for_update=True)
            case = found.case
            kind = routing.kind_of(category)
            if kind != case.kind and kind == "queja":
                raise Invalid("denuncias_stay_denuncias")
            description = self.cipher.decrypt(case.description_enc)
            area = routing.route(category, description).key
            self._event(
                session, case, staff, "recategorised", case.category, category, reason=reason
            )
            self.audit.append(
                session,
                staff.id,
                _who(staff),
                "recategorise",
                case.number,
                old=case.category,
                new=category,
            )
            if area != case.area:
                case.assigned_to = None
            case.category, case.kind, case.area = category, kind, area

    def evidence_file(
        self, staff: Staff, number: str, evidence_id: int, original: bool = False
    ) -> tuple[str, str, bytes]:
        """(name, kind, bytes) of a case's file: the disarmed copy, or the original."""
        action = Action.DOWNLOAD_ORIGINAL if original else Action.DOWNLOAD_EVIDENCE
        with self._session.begin() as session:
            found = self._find(session, staff, number, action)
            row = session.execute(
                select(evidence_module.Evidence).where(
                    evidence_module.Evidence.id == evidence_id,
                    evidence_module.Evidence.case_id == found.case.id,
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFound()
            content = self.cipher.decrypt_bytes(bytes(row.content_enc))
            name, kind = self.cipher.decrypt(row.name_enc), row.kind
            self.audit.append(
                session,
                staff.id,
                _who(staff),
                "download_original" if original else "download_evidence",
                found.case.number,
                evidence=evidence_id,
            )
        if original:
            return name, kind, content
        return name, kind, evidence_disarm.disarm(kind, content)

    # --- reveals -------------------------------------------------------------------------

    def request_reveal(self, staff: Staff, number: str, reason: str) -> int:
        reason = _clean_text(reason, "reason", required=True)
        with self._session.begin() as session:
            found = self._find(session, staff, number, Action.REQUEST_REVEAL)
            request = RevealRequest(
                case_id=found.case.id,
                requester_id=staff.id,
                reason_enc=self.cipher.encrypt(reason),
                status=PENDING,
                created_at=self.now(),
            )
            session.add(request)
            session.flush()
            self.audit.append(
                session,
                staff.id,
                _who(staff),
                "request_reveal",
                found.case.number,
                request=request.id,
            )
            return int(request.id)

    def reveal_requests(self, staff: Staff, pending_only: bool = True) -> list[RevealLine]:
        if not allowed(staff, Action.DECIDE_REVEAL):
            raise Forbidden()
        query = (
            select(RevealRequest, Case.number)
            .join(Case, Case.id == RevealRequest.case_id)
            .order_by(RevealRequest.id)
        )
        if pending_only:
            query = query.where(RevealRequest.status == PENDING)
        with self._session() as session:
            rows = session.execute(query).all()
            return [
                RevealLine(
                    r.id,
                    number,
                    r.requester_id,
                    self.cipher.decrypt(r.reason_enc),
                    r.status,
                    r.created_at,
                    r.decided_at,
                    r.expires_at,
                )
                for r, number in rows
            ]

    def decide_reveal(self, staff: Staff, request_id: int, approve: bool, reason: str = "") -> None:
        if not allowed(staff, Action.DECIDE_REVEAL):
            raise Forbidden()
        reason = _clean_text(reason, "reason", required=not approve)
        now = self.now()
        with self._session.begin() as session:
            request = session.get(RevealRequest, request_id, with_for_update=True)
            if request is None:
                raise NotFound()
            if request.status != PENDING:
                raise Invalid("already_decided")
            if request.requester_id == staff.id:
                raise Forbidden()
            request.status = APPROVED if approve else DENIED
            request.decided_by, request.decided_at = staff.id, now
            request.decision_reason_enc = self.cipher.encrypt(reason) if reason else None
            request.expires_at = now + REVEAL_LIFETIME if approve else None
            number = session.execute(
                select(Case.number).where(Case.id == request.case_id)
            ).scalar_one()
            self.audit.append(
                session,
                staff.id,
                _who(staff),
                "approve_reveal" if approve else "deny_reveal",
                number,
                request=request_id,
            )


def _overdue(case: Case, now: datetime) -> bool:
    due = deadlines.next_due(case.kind, case.status, case.created_at, case.first_action_at, now)
    return bool(due and due.overdue)


def _who(staff: Staff) -> str:
    return f"{staff.role.value}#{staff.id}"


def describe_line(line: CaseLine) -> dict[str, Any]:
    """An inbox line as plain data (no personal data)."""
    return {
        "number": line.number,
        "kind": line.kind,
        "category": line.category,
        "category_label": line.category_label,
        "area": line.area,
        "area_name": line.area_name,
        "status": line.status,
        "status_label": line.status_label,
        "province": line.province,
        "canton": line.canton,
        "channel": line.channel,
        "created_at": line.created_at.isoformat(),
        "updated_at": line.updated_at.isoformat(),
        "assigned_to": line.assigned_to,
        "has_news": line.has_news,
        "due": None
        if line.due is None
        else {
            "step": line.due.step,
            "at": line.due.at.isoformat(),
            "overdue": line.due.overdue,
            "soon": line.due.soon,
        },
    }


def describe(view: CaseView) -> dict[str, Any]:
    """A case view as plain data (the API's answer): nothing the rules did not allow."""
    return {
        **describe_line(view.line),
        "description": view.description,
        "consent": {"version": view.consent_version, "at": view.consent_at.isoformat()},
        "identity": None
        if view.identity is None
        else {
            "cedula": view.identity.cedula,
            "phone": view.identity.phone,
            "email": view.identity.email,
            "address": view.identity.address,
        },
        "denunciante": view.pseudonym,
        "evidence": [
            {
                "id": e.id,
                "kind": e.kind,
                "size": e.size,
                "name": e.name,
                "keyed_hash": e.content_hmac,
                "received_at": e.received_at.isoformat() if e.received_at else None,
            }
            for e in view.evidence
        ],
        "timeline": [
            {
                "at": t.at.isoformat(),
                "actor": t.actor,
                "kind": t.kind,
                "from": t.from_value,
                "to": t.to_value,
                "reason": t.reason,
                "note": t.note,
                "message_to_citizen": None if t.kind in CITIZEN_EVENTS else t.message,
                "message_from_citizen": t.message if t.kind in CITIZEN_EVENTS else None,
            }
            for t in view.timeline
        ],
        "allowed_actions": sorted(a.value for a in view.may),
        "next_statuses": view.next_statuses,
    }
