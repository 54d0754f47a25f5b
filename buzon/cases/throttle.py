"""Slows down repeated failed status look-ups from one sender.

A case number is easy to guess; its tracking key is not, and this makes trying
keys slow: after ``FREE_FAILURES`` failures a sender must wait, 1 minute, then
2, 4 … up to an hour, before the next try. A success clears the count. Senders
are stored only as a keyed hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, String, UniqueConstraint, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory

FREE_FAILURES = 3
MAX_WAIT = timedelta(hours=1)
FORGET_AFTER = timedelta(hours=24)  # failures older than this are forgotten


class LookupThrottle(Base):
    """Failed status look-ups of one sender (kept as a keyed hash of the sender id)."""

    __tablename__ = "lookup_throttle"
    __table_args__ = (UniqueConstraint("sender_hash"),)

    id = Column(Integer, primary_key=True)
    sender_hash = Column(String(64), nullable=False)
    failures = Column(Integer, nullable=False, default=0)
    blocked_until = Column(DateTime())
    last_failure_at = Column(DateTime())


def wait_after(failures: int) -> timedelta:
    """How long a sender waits after ``failures`` failed look-ups.

    >>> [int(wait_after(n).total_seconds()) for n in (1, 3, 4, 5, 20)]
    [0, 60, 120, 240, 3600]
    """
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(timedelta(minutes=2 ** min(failures - FREE_FAILURES, 6)), MAX_WAIT)


class LookupThrottleStore:
    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    def _hash(self, sender_id: str) -> str:
        return self.cipher.keyed_hash("sender", sender_id)

    def seconds_to_wait(self, sender_id: str) -> int:
        """0 when the sender may try now, else whole seconds until then."""
        with self._session() as session:
            row = session.execute(
                select(LookupThrottle).where(LookupThrottle.sender_hash == self._hash(sender_id))
            ).scalar_one_or_none()
        if row is None or row.blocked_until is None:
            return 0
        remaining = (row.blocked_until - self.now()).total_seconds()
        return max(0, int(remaining + 0.999))

    def record_failure(self, sender_id: str) -> int:
        """Count a failed look-up; return the seconds the sender must now wait."""
        digest = self._hash(sender_id)
        now = self.now()
        for _ in range(2):  # a first failure may race with another one
            try:
                with self._session.begin() as session:
                    row = session.execute(
                        select(LookupThrottle)
                        .where(LookupThrottle.sender_hash == digest)
                        .with_for_update()
                    ).scalar_one_or_none()
                    if row is None:
                        row = LookupThrottle(sender_hash=digest, failures=0)
                        session.add(row)
                    elif row.last_failure_at and now - row.last_failure_at > FORGET_AFTER:
                        row.failures = 0
                    row.failures += 1
                    row.last_failure_at = now
                    wait = wait_after(row.failures)
                    row.blocked_until = now + wait if wait else None
                return int(wait.total_seconds())
            except IntegrityError:
                continue
        return int(wait_after(FREE_FAILURES).total_seconds())

    def record_success(self, sender_id: str) -> None:
        with self._session.begin() as session:
            row = session.execute(
                select(LookupThrottle).where(LookupThrottle.sender_hash == self._hash(sender_id))
            ).scalar_one_or_none()
            if row is not None:
                session.delete(row)
