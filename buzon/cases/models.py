"""The tables of the case store (SQLAlchemy 1.4 declarative; schema under Alembic).

Personal data (cédula, phone, e-mail, address) and the description are stored
encrypted (``*_enc`` columns, see :mod:`buzon.crypto`). The cédula is also kept
as a keyed hash so that a citizen's cases can be found; the tracking key only
as a keyed hash. Times are naive UTC (the same on SQLite and PostgreSQL).
"""
from __future__ import annotations

from sqlalchemy import (Column, DateTime, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Case(Base):
    __tablename__ = "cases"

    id = Column(Integer, primary_key=True)
    number = Column(String(32), nullable=False, unique=True)
    kind = Column(String(16), nullable=False)
    category = Column(String(64), nullable=False)
    area = Column(String(64), nullable=False)
    status = Column(String(32), nullable=False)
    tracking_key_hash = Column(String(64), nullable=False)
    cedula_hash = Column(String(64), nullable=False, index=True)
    cedula_enc = Column(Text, nullable=False)
    phone_enc = Column(Text, nullable=False)
    email_enc = Column(Text, nullable=False)
    province_code = Column(String(2), nullable=False)
    canton_code = Column(String(4), nullable=False)
    address_enc = Column(Text, nullable=False)
    description_enc = Column(Text, nullable=False)
    evidence_count = Column(Integer, nullable=False, default=0)
    channel = Column(String(32), nullable=False)
    consent_version = Column(String(32), nullable=False)
    consent_at = Column(DateTime(), nullable=False)
    created_at = Column(DateTime(), nullable=False)
    updated_at = Column(DateTime(), nullable=False)

    emails = relationship("OutboxMessage", back_populates="case")


class CaseSequence(Base):
    """The last number handed out for one kind in one year."""

    __tablename__ = "case_sequences"

    kind = Column(String(16), primary_key=True)
    year = Column(Integer, primary_key=True)
    last_value = Column(Integer, nullable=False)


class OutboxMessage(Base):
    """An e-mail waiting to be sent, being sent, sent or given up (transactional outbox).

    Recipient and body are erased once the message is sent.
    """

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    recipient_enc = Column(Text)
    subject = Column(String(200), nullable=False)
    body_enc = Column(Text)
    status = Column(String(16), nullable=False, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(), nullable=False)
    lease_until = Column(DateTime())
    claim_token = Column(String(32))
    last_error = Column(String(200))
    created_at = Column(DateTime(), nullable=False)
    sent_at = Column(DateTime())

    case = relationship("Case", back_populates="emails")


class LookupThrottle(Base):
    """Failed status look-ups of one sender (kept as a keyed hash of the sender id)."""

    __tablename__ = "lookup_throttle"
    __table_args__ = (UniqueConstraint("sender_hash"),)

    id = Column(Integer, primary_key=True)
    sender_hash = Column(String(64), nullable=False)
    failures = Column(Integer, nullable=False, default=0)
    blocked_until = Column(DateTime())
    last_failure_at = Column(DateTime())


class EvidenceBatch(Base):
    """The files one registration has received so far: the quota, counted atomically.

    ``batch_hash`` is a keyed hash of the conversation and its registration, so a
    file count is raised with one conditional UPDATE, never read-then-written.
    """

    __tablename__ = "evidence_batches"

    batch_hash = Column(String(64), primary_key=True)
    file_count = Column(Integer, nullable=False, default=0)
    total_bytes = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime(), nullable=False)


class Evidence(Base):
    """A file the citizen sent: first of a registration in progress, then of its case.

    The content is stored encrypted in the database (every server reaches it,
    one backup holds it), indexed by a keyed hash of its bytes, never by a plain
    hash that a holder of the same document could recompute.
    """

    __tablename__ = "evidence"

    id = Column(Integer, primary_key=True)
    conversation_hash = Column(String(64), nullable=False, index=True)
    batch_hash = Column(String(64), nullable=False, index=True)
    case_id = Column(Integer, ForeignKey("cases.id"), index=True)
    kind = Column(String(8), nullable=False)
    size = Column(Integer, nullable=False)
    content_hmac = Column(String(64), nullable=False, index=True)
    content_enc = Column(LargeBinary, nullable=False)
    name_enc = Column(Text, nullable=False)
    created_at = Column(DateTime(), nullable=False, index=True)
