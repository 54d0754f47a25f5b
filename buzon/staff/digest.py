"""The daily digest: each area's staff learn what falls due soon and what is late.

Once a day (the outbox worker runs it) every area with open cases gets one e-mail
per active staff member who works its cases: the case numbers, their step and
due date, nothing about the citizen. A digest is sent once per area and day,
whatever the number of workers or restarts (a unique row claims it).

Words: ``buzon/data/digest.yml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from buzon import datafiles, outbox
from buzon.cases import deadlines, routing, workflow
from buzon.cases.models import Case
from buzon.clock import ECUADOR_OFFSET, ecuador_time_text, utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory
from buzon.staff.accounts import AccountStore
from buzon.staff.permissions import Action, CaseScope, allowed


class DigestRun(Base):
    __tablename__ = "digest_runs"

    area = Column(String(64), primary_key=True)
    day = Column(Date, primary_key=True)
    sent_at = Column(DateTime(), nullable=False)


@dataclass(frozen=True)
class DigestLine:
    number: str
    step: str
    due_at: datetime
    overdue: bool


def lines_by_area(engine: Engine, now: datetime) -> dict[str, list[DigestLine]]:
    """The open cases that are late or due soon, by area, the most urgent first."""
    found: dict[str, list[DigestLine]] = {}
    with session_factory(engine)() as session:
        cases = session.execute(select(Case).where(Case.status.notin_(workflow.CLOSED))).scalars()
        for case in cases:
            due = deadlines.next_due(
                case.kind, case.status, case.created_at, case.first_action_at, now
            )
            if due and (due.overdue or due.soon):
                found.setdefault(case.area, []).append(
                    DigestLine(case.number, due.step, due.at, due.overdue)
                )
    for lines in found.values():
        lines.sort(key=lambda line: line.due_at)
    return found


def compose(area: str, lines: list[DigestLine]) -> tuple[str, str]:
    words = datafiles.load("digest.yml")
    late = [line for line in lines if line.overdue]
    soon = [line for line in lines if not line.overdue]

    def listing(chosen: list[DigestLine]) -> str:
        return (
            "\n".join(
                words["line"].format(
                    number=line.number,
                    step=words["steps"][line.step],
                    due=ecuador_time_text(line.due_at),
                )
                for line in chosen
            )
            or words["none"]
        )

    body = words["body"].format(
        area_name=routing.area(area).name,
        late_count=len(late),
        soon_count=len(soon),
        late=listing(late),
        soon=listing(soon),
    )
    return words["subject"].format(area_name=routing.area(area).name, late_count=len(late)), body


# The digest goes out from this hour (Ecuador time), before the working day starts.
SEND_FROM_HOUR = 7


class Digest:
    def __init__(
        self,
        engine: Engine,
        cipher: FieldCipher,
        accounts: AccountStore,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.accounts = accounts
        self.now = now
        self._session = session_factory(engine)
        self._done_for: date | None = None

    def today(self) -> date:
        return (self.now() + ECUADOR_OFFSET).date()

    def send_if_due(self) -> int:
        """What the worker calls on every pass: today's digests once it is time,
        and nothing more (not even a query) until tomorrow."""
        local = self.now() + ECUADOR_OFFSET
        if local.hour < SEND_FROM_HOUR or self._done_for == local.date():
            return 0
        queued = self.send()
        self._done_for = local.date()
        return queued

    def send(self) -> int:
        """Queue today's digests not sent yet; how many e-mails were queued."""
        now, day = self.now(), self.today()
        queued = 0
        active = [a for a in self.accounts.all() if a.active]
        for area, lines in lines_by_area(self.engine, now).items():
            readers = [
                a
                for a in active
                if any(
                    allowed(a.staff, Action.VIEW_CASE, CaseScope(kind, area, None))
                    for kind in ("queja", "denuncia")
                )
            ]
            if not readers:
                continue
            subject, body = compose(area, lines)
            try:
                with self._session.begin() as session:
                    session.add(DigestRun(area=area, day=day, sent_at=now))
                    session.flush()  # IntegrityError: another worker sent it today
                    for reader in readers:
                        outbox.enqueue(session, self.cipher, None, reader.email, subject, body, now)
                        queued += 1
            except IntegrityError:
                continue
        return queued
