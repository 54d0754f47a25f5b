"""Who may see and do what: the staff roles and their rules (least privilege).

Every request of the console and every call of its API asks these functions;
templates and route handlers decide nothing themselves.

- **analista** (analyst of an area): the quejas routed to their areas, with the
  citizen's contact data, to analyse and resolve them.
- **investigador** (investigator): denuncias only; the denunciante is a pseudonym
  ("Denunciante D-7F3K"); the identity only through a reveal a custodian approved
  for them, for a limited time.
- **custodio** (custodian): decides the investigators' reveal requests; sees no case.
- **supervisor**: every case of their areas (the identity of a denunciante stays
  protected), moves cases between areas, reopens them.
- **administrador**: accounts, roles and areas; no case content.
- **auditor**: the audit log, read-only.

>>> analyst = Staff(1, Role.ANALYST, frozenset({"salud"}))
>>> queja = CaseScope("queja", "salud", assigned_to=None)
>>> allowed(analyst, Action.VIEW_CASE, queja), allowed(analyst, Action.VIEW_IDENTITY, queja)
(True, True)
>>> allowed(analyst, Action.VIEW_CASE, CaseScope("queja", "pensiones", None))
False
>>> investigator = Staff(2, Role.INVESTIGATOR, frozenset({"denuncias"}))
>>> denuncia = CaseScope("denuncia", "denuncias", None)
>>> allowed(investigator, Action.VIEW_CASE, denuncia)
True
>>> allowed(investigator, Action.VIEW_IDENTITY, denuncia)
False
>>> allowed(investigator, Action.VIEW_IDENTITY, denuncia, revealed_to={2})
True
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass


class Role(str, enum.Enum):
    """The roles; their codes are the names operators type (``make staff-user ROLE=…``)."""

    ANALYST = "analista"
    INVESTIGATOR = "investigador"
    CUSTODIAN = "custodio"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrador"
    AUDITOR = "auditor"

    @property
    def needs_second_factor(self) -> bool:
        """Every role that can see a citizen's identity, or give access to it, needs TOTP."""
        return self is not Role.AUDITOR

    @property
    def works_cases(self) -> bool:
        return self in (Role.ANALYST, Role.INVESTIGATOR, Role.SUPERVISOR)


class Action(str, enum.Enum):
    VIEW_CASE = "view_case"
    VIEW_IDENTITY = "view_identity"
    CHANGE_STATUS = "change_status"
    ADD_NOTE = "add_note"
    ASSIGN = "assign"
    REOPEN = "reopen"
    MOVE_AREA = "move_area"
    RECATEGORISE = "recategorise"
    DOWNLOAD_EVIDENCE = "download_evidence"
    DOWNLOAD_ORIGINAL = "download_original"
    REQUEST_REVEAL = "request_reveal"
    DECIDE_REVEAL = "decide_reveal"
    MANAGE_ACCOUNTS = "manage_accounts"
    READ_AUDIT = "read_audit"
    VIEW_REPORTS = "view_reports"


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member, as the rules need them."""

    id: int
    role: Role
    areas: frozenset[str]


@dataclass(frozen=True)
class CaseScope:
    """What the rules need to know of a case."""

    kind: str
    area: str
    assigned_to: int | None


# What each role may do with a case it can see.
CASE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ANALYST: frozenset(
        {
            Action.VIEW_CASE,
            Action.VIEW_IDENTITY,
            Action.CHANGE_STATUS,
            Action.ADD_NOTE,
            Action.ASSIGN,
            Action.RECATEGORISE,
            Action.DOWNLOAD_EVIDENCE,
            Action.DOWNLOAD_ORIGINAL,
        }
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Action.VIEW_CASE,
            Action.VIEW_IDENTITY,
            Action.CHANGE_STATUS,
            Action.ADD_NOTE,
            Action.ASSIGN,
            Action.RECATEGORISE,
            Action.DOWNLOAD_EVIDENCE,
            Action.REQUEST_REVEAL,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Action.VIEW_CASE,
            Action.VIEW_IDENTITY,
            Action.CHANGE_STATUS,
            Action.ADD_NOTE,
            Action.ASSIGN,
            Action.REOPEN,
            Action.MOVE_AREA,
            Action.RECATEGORISE,
            Action.DOWNLOAD_EVIDENCE,
            Action.DOWNLOAD_ORIGINAL,
        }
    ),
}
# What roles that see no case may do.
# The reports count only the cases the role sees (:func:`visible_kinds_and_areas`).
OTHER_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ANALYST: frozenset({Action.VIEW_REPORTS}),
    Role.INVESTIGATOR: frozenset({Action.VIEW_REPORTS}),
    Role.SUPERVISOR: frozenset({Action.VIEW_REPORTS}),
    Role.CUSTODIAN: frozenset({Action.DECIDE_REVEAL}),
    Role.ADMINISTRATOR: frozenset({Action.MANAGE_ACCOUNTS}),
    Role.AUDITOR: frozenset({Action.READ_AUDIT}),
}
# On a denuncia the denunciante is protected: these need an approved reveal.
PROTECTED_ON_DENUNCIAS = frozenset({Action.VIEW_IDENTITY, Action.DOWNLOAD_ORIGINAL})


def sees_case(staff: Staff, case: CaseScope) -> bool:
    """Whether the case is in the staff member's inbox at all."""
    if staff.role is Role.ANALYST:
        return case.kind == "queja" and case.area in staff.areas
    if staff.role is Role.INVESTIGATOR:
        return case.kind == "denuncia"
    if staff.role is Role.SUPERVISOR:
        return case.area in staff.areas
    return False


def allowed(
    staff: Staff, action: Action, case: CaseScope | None = None, revealed_to: Collection[int] = ()
) -> bool:
    """Whether ``staff`` may do ``action`` (on ``case``).

    ``revealed_to`` are the ids of the staff members holding an approved,
    unexpired reveal of this case's denunciante.
    """
    if case is None:
        return action in OTHER_ACTIONS.get(staff.role, frozenset())
    if not sees_case(staff, case) or action not in CASE_ACTIONS.get(staff.role, frozenset()):
        return False
    if case.kind == "denuncia" and action in PROTECTED_ON_DENUNCIAS:
        return staff.id in revealed_to
    return True


def visible_kinds_and_areas(staff: Staff) -> tuple[frozenset[str], frozenset[str] | None]:
    """The inbox's filter: (kinds, areas); areas None means every area."""
    if staff.role is Role.ANALYST:
        return frozenset({"queja"}), staff.areas
    if staff.role is Role.INVESTIGATOR:
        return frozenset({"denuncia"}), None
    if staff.role is Role.SUPERVISOR:
        return frozenset({"queja", "denuncia"}), staff.areas
    return frozenset(), frozenset()
