"""The tables of a case and its numbering (SQLAlchemy 1.4 declarative; schema under Alembic).

The tables of the outbox, the evidence and the look-up throttle live with the
module that owns them (:mod:`buzon.outbox`, :mod:`buzon.evidence`,
:mod:`buzon.cases.throttle`); :mod:`buzon.schema` lists them all for Alembic.

Personal data (cédula, phone, e-mail, address) and the description are stored
encrypted (``*_enc`` columns, see :mod:`buzon.crypto`). The cédula is also kept
as a keyed hash so that a citizen's cases can be found; the tracking key only
as a keyed hash. Times are naive UTC (the same on SQLite and PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Text

from buzon.db import Base


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


class CaseSequence(Base):
    """The last number handed out for one kind in one year."""

    __tablename__ = "case_sequences"

    kind = Column(String(16), primary_key=True)
    year = Column(Integer, primary_key=True)
    last_value = Column(Integer, nullable=False)
