"""WhatsApp's customer-service window: when a citizen last wrote to the business.

WhatsApp delivers a free-form message only within 24 hours of the citizen's last
message; outside it only an approved template. The WhatsApp channel records each
message it receives (:meth:`ContactWindow.saw`); the outbox worker asks
:meth:`ContactWindow.is_open` before a notice. Numbers are kept as keyed hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, String, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory

WINDOW = timedelta(hours=24)


class WhatsAppContact(Base):
    __tablename__ = "whatsapp_contacts"

    wa_hash = Column(String(64), primary_key=True)
    last_inbound_at = Column(DateTime(), nullable=False)


class ContactWindow:
    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    def _hash(self, wa_id: str) -> str:
        return self.cipher.keyed_hash("whatsapp-contact", wa_id)

    def saw(self, wa_id: str) -> None:
        """The citizen wrote just now."""
        digest, now = self._hash(wa_id), self.now()
        for _ in range(2):
            try:
                with self._session.begin() as session:
                    done = session.execute(
                        update(WhatsAppContact)
                        .where(WhatsAppContact.wa_hash == digest)
                        .values(last_inbound_at=now)
                    )
                    if done.rowcount == 0:
                        session.add(WhatsAppContact(wa_hash=digest, last_inbound_at=now))
                return
            except IntegrityError:  # two first messages at once
                continue

    def forget_closed(self) -> int:
        """Delete the windows that closed: after 24 hours a row decides nothing."""
        with self._session.begin() as session:
            done = session.execute(
                delete(WhatsAppContact).where(
                    WhatsAppContact.last_inbound_at <= self.now() - WINDOW
                )
            )
        return int(done.rowcount)

    def is_open(self, wa_id: str) -> bool:
        with self._session() as session:
            last = session.execute(
                select(WhatsAppContact.last_inbound_at).where(
                    WhatsAppContact.wa_hash == self._hash(wa_id)
                )
            ).scalar_one_or_none()
        return last is not None and self.now() - last < WINDOW
