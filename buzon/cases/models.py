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

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text

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
    # None when the citizen chose to be told by WhatsApp only (contact_preference)
    email_enc = Column(Text)
    province_code = Column(String(2), nullable=False)
    canton_code = Column(String(4), nullable=False)
    address_enc = Column(Text, nullable=False)
    description_enc = Column(Text, nullable=False)
    evidence_count = Column(Integer, nullable=False, default=0)
    channel = Column(String(32), nullable=False)
    consent_version = Column(String(32), nullable=False)
    consent_at = Column(DateTime(), nullable=False)
    assigned_to = Column(Integer, ForeignKey("staff_users.id"), index=True)
    # The WhatsApp number the case came from (to notify there), encrypted like a phone.
    whatsapp_id_enc = Column(Text)
    first_action_at = Column(DateTime())
    closed_at = Column(DateTime())
    # The citizen wrote (an answer, more information, a reopening) since staff last looked.
    has_news = Column(Boolean, nullable=False, default=False)
    # The conversation and registration it came from, as a keyed hash: a registration
    # is stored once however often it is confirmed (buzon.cases.store.AlreadyRegistered).
    registration_hash = Column(String(64), unique=True)
    # How the citizen chose to be told: "email" (and WhatsApp too when the case came
    # by WhatsApp) or "whatsapp" (no e-mail given).
    contact_preference = Column(String(16), nullable=False, default="email", server_default="email")
    rating = Column(Integer)
    rated_at = Column(DateTime())
    created_at = Column(DateTime(), nullable=False)
    updated_at = Column(DateTime(), nullable=False)


class CaseSequence(Base):
    """The last number handed out for one kind in one year."""

    __tablename__ = "case_sequences"

    kind = Column(String(16), primary_key=True)
    year = Column(Integer, primary_key=True)
    last_value = Column(Integer, nullable=False)


class CaseEvent(Base):
    """One entry of a case's timeline: a status change, a note, an assignment, a move.

    ``note_enc`` is internal to staff; ``message_enc`` is what is said to the
    citizen (sent by the follow-up of the next issue); both encrypted.
    """

    __tablename__ = "case_events"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    at = Column(DateTime(), nullable=False)
    actor_id = Column(Integer, ForeignKey("staff_users.id"))
    kind = Column(String(32), nullable=False)
    from_value = Column(String(64))
    to_value = Column(String(64))
    reason_enc = Column(Text)
    note_enc = Column(Text)
    message_enc = Column(Text)


class RevealRequest(Base):
    """An investigator's reasoned request to see a denunciante's identity."""

    __tablename__ = "reveal_requests"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    requester_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    reason_enc = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, index=True)
    decided_by = Column(Integer, ForeignKey("staff_users.id"))
    decision_reason_enc = Column(Text)
    decided_at = Column(DateTime())
    expires_at = Column(DateTime())
    created_at = Column(DateTime(), nullable=False)


class FollowupGrant(Base):
    """A conversation that proved it holds a case's number and tracking key, for a while.

    After a right look-up the citizen may answer, add information, rate or ask to
    reopen in the same conversation without typing the key again; the key itself
    is not kept.
    """

    __tablename__ = "followup_grants"

    id = Column(Integer, primary_key=True)
    conversation_hash = Column(String(64), nullable=False, index=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False)
    expires_at = Column(DateTime(), nullable=False)
