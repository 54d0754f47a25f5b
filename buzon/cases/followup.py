"""The citizen's side after registration: the status with IESS's latest message, the
answer to a question, more information at any time, a rating, a reopening.

"Consultar estado" with the right number and tracking key gives the conversation
a follow-up grant for 30 minutes (:meth:`Followup.look_up`); everything else here
needs that grant, so nobody writes into a case without having proved its key,
and the key itself is not kept.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from buzon import evidence, messages
from buzon.cases import deadlines, numbering, routing, workflow
from buzon.cases.models import Case, CaseEvent, FollowupGrant
from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import session_factory
from buzon.validation import Invalid, text

GRANT = timedelta(minutes=30)
MIN_WORDS, MIN_CHARS = 2, 5  # "ya pagué la planilla" is an answer


@dataclass(frozen=True)
class CaseFollowup:
    """What the citizen sees of their case, and what they may do now."""

    number: str
    kind: str
    status: str
    status_label: str
    area_name: str
    updated_at: datetime
    latest_message: str | None
    question_pending: bool
    may_write: bool
    may_rate: bool
    may_reopen: bool


class NoGrant(Exception):
    """This conversation has not proved the case's key (or it expired)."""


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _may_reopen(case: Case, now: datetime) -> bool:
    return (
        case.status == workflow.RESOLVED
        and case.closed_at is not None
        and now <= deadlines.reopen_until(case.closed_at)
    )


def _by_the_citizen(session: Session, case: Case, at: datetime, kind: str, **values: Any) -> None:
    """A timeline entry written by the citizen (no staff actor)."""
    session.add(CaseEvent(case_id=case.id, at=at, actor_id=None, kind=kind, **values))


class Followup:
    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    def _conversation(self, conversation_id: str) -> str:
        return self.cipher.keyed_hash("conversation", conversation_id)

    def _view(self, session: Session, case: Case) -> CaseFollowup:
        # IESS's words to the citizen: a message, or the reason of an archiving or a
        # referral (which the citizen's e-mail told them too); never a note.
        told_reason = or_(
            and_(CaseEvent.kind == "status", CaseEvent.to_value == workflow.ARCHIVED),
            CaseEvent.kind == "moved",
        )
        row = session.execute(
            select(CaseEvent.message_enc, CaseEvent.reason_enc)
            .where(
                CaseEvent.case_id == case.id,
                CaseEvent.actor_id.isnot(None),
                or_(
                    CaseEvent.message_enc.isnot(None),
                    and_(told_reason, CaseEvent.reason_enc.isnot(None)),
                ),
            )
            .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        ).first()
        latest = (row.message_enc or row.reason_enc) if row else None
        closed = case.status in workflow.CLOSED
        return CaseFollowup(
            number=case.number,
            kind=case.kind,
            status=case.status,
            status_label=messages.status_label(case.status),
            area_name=routing.area(case.area).name,
            updated_at=case.updated_at,
            latest_message=self.cipher.decrypt(latest) if latest else None,
            question_pending=case.status == workflow.INFORMATION_REQUESTED,
            may_write=not closed,
            may_rate=case.status == workflow.RESOLVED and case.rating is None,
            may_reopen=_may_reopen(case, self.now()),
        )

    def look_up(self, number: str, tracking_key: str, conversation_id: str) -> CaseFollowup | None:
        """The case for the right number and key (and a grant); None otherwise, alike."""
        canonical = numbering.parse_case_number(number)
        key = numbering.normalize_tracking_key(tracking_key)
        key_hash = self.cipher.keyed_hash("tracking", key or tracking_key or "")
        with self._session.begin() as session:
            case = session.execute(
                select(Case).where(Case.number == (canonical or ""))
            ).scalar_one_or_none()
            if case is None or not _same(case.tracking_key_hash, key_hash):
                return None
            conversation = self._conversation(conversation_id)
            session.execute(
                delete(FollowupGrant).where(FollowupGrant.conversation_hash == conversation)
            )
            session.add(
                FollowupGrant(
                    conversation_hash=conversation, case_id=case.id, expires_at=self.now() + GRANT
                )
            )
            return self._view(session, case)

    def _granted(self, session: Session, conversation_id: str, number: str) -> Case:
        case: Case | None = session.execute(
            select(Case)
            .join(FollowupGrant, FollowupGrant.case_id == Case.id)
            .where(
                FollowupGrant.conversation_hash == self._conversation(conversation_id),
                FollowupGrant.expires_at > self.now(),
                Case.number == number,
            )
            .with_for_update()
        ).scalar_one_or_none()
        if case is None:
            raise NoGrant()
        return case

    def forget_expired(self) -> int:
        """Delete the grants that expired: they only linked a conversation to a case."""
        with self._session.begin() as session:
            done = session.execute(
                delete(FollowupGrant).where(FollowupGrant.expires_at <= self.now())
            )
        return int(done.rowcount)

    def current(self, conversation_id: str, number: str) -> CaseFollowup:
        with self._session() as session:
            return self._view(session, self._granted(session, conversation_id, number))

    def write(
        self, conversation_id: str, number: str, message: str, registration_id: str | None = None
    ) -> int:
        """The citizen's answer or more information, with the files sent for it; how many files.

        An answer to a question puts the case back "en análisis"; staff see it as new.
        """
        written = text.validate_description(message, min_words=MIN_WORDS, min_chars=MIN_CHARS)
        now = self.now()
        with self._session.begin() as session:
            case = self._granted(session, conversation_id, number)
            if case.status in workflow.CLOSED:
                raise Invalid("case_closed")
            files = 0
            if registration_id:
                files = evidence.attach_pending(
                    session, self.cipher, conversation_id, registration_id, case.id, case.kind
                )
                case.evidence_count = (case.evidence_count or 0) + files
            _by_the_citizen(
                session,
                case,
                now,
                "citizen_message",
                to_value=str(files) if files else None,
                message_enc=self.cipher.encrypt(written),
            )
            if case.status == workflow.INFORMATION_REQUESTED:
                _by_the_citizen(
                    session,
                    case,
                    now,
                    "status",
                    from_value=case.status,
                    to_value=workflow.IN_REVIEW,
                )
                case.status = workflow.IN_REVIEW
            case.has_news, case.updated_at = True, now
            return files

    def rate(self, conversation_id: str, number: str, stars: int, comment: str = "") -> None:
        if stars not in range(1, 6):
            raise Invalid("rating")
        comment = " ".join((comment or "").split())[:1000]
        now = self.now()
        with self._session.begin() as session:
            case = self._granted(session, conversation_id, number)
            if case.status != workflow.RESOLVED or case.rating is not None:
                raise Invalid("rating_not_now")
            case.rating, case.rated_at = stars, now
            _by_the_citizen(
                session,
                case,
                now,
                "rating",
                to_value=str(stars),
                message_enc=self.cipher.encrypt(comment) if comment else None,
            )

    def ask_reopen(self, conversation_id: str, number: str, reason: str) -> None:
        """Back to "en análisis" with the citizen's reason, within the reopening period."""
        reason = text.validate_description(reason, min_words=MIN_WORDS, min_chars=MIN_CHARS)
        now = self.now()
        with self._session.begin() as session:
            case = self._granted(session, conversation_id, number)
            if not _may_reopen(case, now):
                raise Invalid("reopen_not_now")
            _by_the_citizen(
                session,
                case,
                now,
                "citizen_reopened",
                from_value=case.status,
                to_value=workflow.IN_REVIEW,
                reason_enc=self.cipher.encrypt(reason),
            )
            case.status, case.closed_at = workflow.IN_REVIEW, None
            case.has_news, case.updated_at = True, now
