"""The case store: register a case, look up its status, find a citizen's cases.

Registration is one transaction: the next number of the kind and year, the case
with its personal data encrypted, and the confirmation e-mail queued in the
outbox. Either all of it is stored or none of it.

A registration happens once: the conversation and its registration id are kept as
a keyed hash with the case, and registering them again (a «Confirmar» sent twice,
or repeated because the conversation could not be saved after the first) raises
:class:`AlreadyRegistered` with the number given the first time, and stores nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from buzon import consent, crypto, evidence, messages, outbox
from buzon.cases import confirmation, numbering, routing
from buzon.cases.draft import CaseDraft, checked
from buzon.cases.models import Case, CaseSequence
from buzon.clock import utcnow
from buzon.db import session_factory

__all__ = ["AlreadyRegistered", "CaseDraft", "CaseStatus", "CaseStore", "Registration"]

# A new case's status; the words for each status are in buzon/data/messages.yml.
STATUS_REGISTERED = "registered"


@dataclass(frozen=True)
class Registration:
    number: str
    tracking_key: str
    area_name: str


class AlreadyRegistered(Exception):
    """This conversation's registration is already case ``number``."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


@dataclass(frozen=True)
class CaseStatus:
    number: str
    status: str
    status_label: str
    area_name: str
    updated_at: datetime


class CaseStore:
    def __init__(
        self, engine: Engine, cipher: crypto.FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    def _next_sequence(self, session: Session, kind: str, year: int) -> int:
        # UPDATE first: it takes the row's write lock, so two registrations at
        # once never get the same number (SQLite and PostgreSQL alike).
        bump = (
            update(CaseSequence)
            .where(CaseSequence.kind == kind, CaseSequence.year == year)
            .values(last_value=CaseSequence.last_value + 1)
        )
        if session.execute(bump).rowcount == 0:
            try:
                with session.begin_nested():
                    session.add(CaseSequence(kind=kind, year=year, last_value=1))
                return 1
            except IntegrityError:  # another registration created the row first
                session.execute(bump)
        return int(
            session.execute(
                select(CaseSequence.last_value).where(
                    CaseSequence.kind == kind, CaseSequence.year == year
                )
            ).scalar_one()
        )

    def register(self, draft: CaseDraft) -> Registration:
        """Store the case, queue its confirmation e-mail, return number and key.

        Every field is validated again first (:func:`buzon.cases.draft.checked`);
        :class:`~buzon.validation.Invalid` says what was refused, and then nothing
        is stored.
        """
        now = self.now()
        draft = checked(draft, consent.current().version, now)
        area = routing.route(draft.category, draft.description)
        tracking_key = numbering.new_tracking_key()
        once = self._registration_hash(draft)
        try:
            return self._register(draft, now, area, tracking_key, once)
        except IntegrityError:
            earlier = self._registered_as(once)
            if earlier is None:
                raise
            raise AlreadyRegistered(earlier) from None

    def _registration_hash(self, draft: CaseDraft) -> str | None:
        if not (draft.conversation_id and draft.registration_id):
            return None
        return self.cipher.keyed_hash(
            "registration", f"{draft.conversation_id}\x00{draft.registration_id}"
        )

    def _registered_as(self, once: str | None, session: Session | None = None) -> str | None:
        if once is None:
            return None
        query = select(Case.number).where(Case.registration_hash == once)
        if session is not None:
            found = session.execute(query).scalar_one_or_none()
        else:
            with self._session() as reader:
                found = reader.execute(query).scalar_one_or_none()
        return None if found is None else str(found)

    def _register(
        self,
        draft: CaseDraft,
        now: datetime,
        area: routing.Area,
        tracking_key: str,
        once: str | None,
    ) -> Registration:
        enc = self.cipher.encrypt
        with self._session.begin() as session:
            sequence = self._next_sequence(session, draft.kind, now.year)
            # after the sequence's row lock: a registration of this conversation at the
            # same moment has committed by now, and is seen
            earlier = self._registered_as(once, session)
            if earlier is not None:
                raise AlreadyRegistered(earlier)  # the transaction rolls back: no number used
            number = numbering.format_case_number(draft.kind, now.year, sequence)
            case = Case(
                registration_hash=once,
                number=number,
                kind=draft.kind,
                category=draft.category,
                area=area.key,
                status=STATUS_REGISTERED,
                tracking_key_hash=self.cipher.keyed_hash("tracking", tracking_key),
                cedula_hash=self.cipher.keyed_hash("cedula", draft.cedula),
                cedula_enc=enc(draft.cedula),
                phone_enc=enc(draft.phone),
                email_enc=enc(draft.email) if draft.email is not None else None,
                contact_preference=draft.contact_preference,
                province_code=draft.province_code,
                canton_code=draft.canton_code,
                address_enc=enc(draft.address),
                description_enc=enc(draft.description),
                evidence_count=0,
                whatsapp_id_enc=enc(draft.whatsapp_id) if draft.whatsapp_id else None,
                has_news=False,
                channel=draft.channel,
                consent_version=draft.consent_version,
                consent_at=draft.consent_at,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            if draft.conversation_id and draft.registration_id:
                case.evidence_count = evidence.attach_pending(
                    session,
                    self.cipher,
                    draft.conversation_id,
                    draft.registration_id,
                    case.id,
                    draft.kind,
                )
            registration = Registration(number, tracking_key, area.name)
            subject, body = confirmation.compose(
                kind=draft.kind,
                category=draft.category,
                registration=registration,
                registered_at=now,
            )
            if draft.email is not None:
                outbox.enqueue(session, self.cipher, case.id, draft.email, subject, body, now)
            # else the citizen chose WhatsApp: the chat that registered the case holds
            # the number and key, and the notices go there (buzon.cases.notices)
        return registration

    def status(self, number: str, tracking_key: str) -> CaseStatus | None:
        """The case's status when number and key match; None otherwise, alike."""
        canonical = numbering.parse_case_number(number)
        key = numbering.normalize_tracking_key(tracking_key)
        # Hash whatever came so a wrong pair costs the same as a right one.
        key_hash = self.cipher.keyed_hash("tracking", key or tracking_key or "")
        with self._session() as session:
            case = session.execute(
                select(Case).where(Case.number == (canonical or ""))
            ).scalar_one_or_none()
        if case is None or not _same(case.tracking_key_hash, key_hash):
            return None
        return CaseStatus(
            number=case.number,
            status=case.status,
            status_label=messages.status_label(case.status),
            area_name=routing.area(case.area).name,
            updated_at=case.updated_at,
        )

    def numbers_for_cedula(self, cedula: str) -> list[str]:
        digest = self.cipher.keyed_hash("cedula", cedula)
        with self._session() as session:
            return list(
                session.execute(
                    select(Case.number).where(Case.cedula_hash == digest).order_by(Case.id)
                ).scalars()
            )

    def reveal(self, number: str) -> dict[str, Any] | None:
        """The whole case decrypted, for the staff who handle it (and tests)."""
        with self._session() as session:
            case = session.execute(select(Case).where(Case.number == number)).scalar_one_or_none()
        if case is None:
            return None
        dec = self.cipher.decrypt
        return {
            "number": case.number,
            "kind": case.kind,
            "category": case.category,
            "area": case.area,
            "status": case.status,
            "cedula": dec(case.cedula_enc),
            "phone": dec(case.phone_enc),
            "email": dec(case.email_enc) if case.email_enc else None,
            "contact_preference": case.contact_preference,
            "province_code": case.province_code,
            "canton_code": case.canton_code,
            "address": dec(case.address_enc),
            "description": dec(case.description_enc),
            "evidence_count": case.evidence_count,
            "channel": case.channel,
            "whatsapp_id": dec(case.whatsapp_id_enc) if case.whatsapp_id_enc else None,
            "consent_version": case.consent_version,
            "consent_at": case.consent_at,
            "created_at": case.created_at,
        }


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
