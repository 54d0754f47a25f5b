"""The audit log: every access to a citizen's data and every change, chained.

Each entry stores the keyed hash (HMAC-SHA256 with a key derived from the case
key) of its own content and of the entry before it; a head row holds the last
hash. A changed, deleted or inserted row breaks the chain, and
``make audit-verify`` (:mod:`buzon.commands`) says where.

Entries say who did what to which case or account, never a citizen's data: the
``details`` are codes and reasons' lengths, not contents.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(), nullable=False, index=True)
    actor_id = Column(Integer, index=True)
    actor = Column(String(254), nullable=False)
    action = Column(String(64), nullable=False, index=True)
    target = Column(String(64), nullable=False, index=True)
    details = Column(Text, nullable=False)
    prev_hash = Column(String(64), nullable=False)
    entry_hash = Column(String(64), nullable=False)


class AuditHead(Base):
    """The chain's last link (one row)."""

    __tablename__ = "audit_head"

    id = Column(Integer, primary_key=True)
    last_id = Column(Integer, nullable=False)
    last_hash = Column(String(64), nullable=False)


def _content(entry: AuditEntry) -> bytes:
    return json.dumps(
        [
            entry.prev_hash,
            entry.at.isoformat(),
            entry.actor_id,
            entry.actor,
            entry.action,
            entry.target,
            entry.details,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def _seal(key: bytes, entry: AuditEntry) -> str:
    return hmac.new(key, _content(entry), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditLog:
    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.key = cipher.hash_key("audit-chain")
        self.now = now
        self._session = session_factory(engine)

    def append(
        self,
        session: Session,
        actor_id: int | None,
        actor: str,
        action: str,
        target: str,
        **details: Any,
    ) -> None:
        """Add an entry in the caller's transaction (the head row serialises writers)."""
        head = session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            try:
                with session.begin_nested():
                    session.add(AuditHead(id=1, last_id=0, last_hash=GENESIS))
            except IntegrityError:
                pass
            head = session.execute(
                select(AuditHead).where(AuditHead.id == 1).with_for_update()
            ).scalar_one()
        entry = AuditEntry(
            at=self.now(),
            actor_id=actor_id,
            actor=actor[:254],
            action=action,
            target=target[:64],
            prev_hash=head.last_hash,
            details=json.dumps(details, sort_keys=True, ensure_ascii=False),
        )
        entry.entry_hash = _seal(self.key, entry)
        session.add(entry)
        session.flush()
        head.last_id, head.last_hash = entry.id, entry.entry_hash

    def record(
        self, actor_id: int | None, actor: str, action: str, target: str, **details: Any
    ) -> None:
        """Add an entry in a transaction of its own."""
        with self._session.begin() as session:
            self.append(session, actor_id, actor, action, target, **details)

    def entries(
        self,
        action: str | None = None,
        target: str | None = None,
        actor: str | None = None,
        limit: int = 200,
        before_id: int | None = None,
    ) -> list[Entry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        if target:
            query = query.where(AuditEntry.target == target)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if before_id:
            query = query.where(AuditEntry.id < before_id)
        with self._session() as session:
            rows = session.execute(query).scalars().all()
        return [Entry(r.id, r.at, r.actor, r.action, r.target, json.loads(r.details)) for r in rows]

    def _all(self, session: Session) -> Iterator[AuditEntry]:
        last = 0
        while (
            rows := session.execute(
                select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(500)
            )
            .scalars()
            .all()
        ):
            yield from rows
            last = rows[-1].id

    def verify(self) -> int | None:
        """The id of the first entry that breaks the chain (0: the tail was cut); None if whole."""
        previous = GENESIS
        last_id = 0
        with self._session() as session:
            for entry in self._all(session):
                if entry.prev_hash != previous or not hmac.compare_digest(
                    entry.entry_hash, _seal(self.key, entry)
                ):
                    return int(entry.id)
                previous, last_id = entry.entry_hash, entry.id
            head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
        if head is not None and (head.last_id != last_id or head.last_hash != previous):
            return 0
        return None
