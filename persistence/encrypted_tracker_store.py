"""Rasa's SQL tracker store with every event's content encrypted at rest.

A conversation's events hold what the citizen typed (cédula, phone, address,
the story) and the slots filled from it. This store keeps Rasa's ``events``
table and queries unchanged but encrypts the ``data`` column with the case
store's key (:mod:`buzon.crypto`). Rows written in clear by the plain
``SQL`` tracker store are still read.

Use it in ``endpoints.yml``::

    tracker_store:
      type: persistence.encrypted_tracker_store.EncryptedSQLTrackerStore
      dialect: sqlite
      db: var/tracker.db
"""
from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import TypeDecorator

from buzon import crypto, settings


@lru_cache(maxsize=1)
def _cipher() -> crypto.FieldCipher:
    current = settings.load()
    return crypto.FieldCipher(crypto.master_key(current.encryption_key, current.dev_key_file))


class EncryptedText(TypeDecorator):
    """Text encrypted on the way in and decrypted on the way out."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _cipher().encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return _cipher().decrypt(value)
        except InvalidToken:
            if value.lstrip().startswith("{"):
                return value  # written in clear before this store was configured
            raise


_Base = declarative_base()


class EncryptedEvent(_Base):
    """Rasa's ``events`` table, with ``data`` encrypted."""

    __tablename__ = "events"

    id = sa.Column(
        sa.Integer,
        sa.Sequence("events_seq", metadata=_Base.metadata, optional=True),
        primary_key=True,
    )
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    type_name = sa.Column(sa.String(255), nullable=False)
    timestamp = sa.Column(sa.Float)
    intent_name = sa.Column(sa.String(255))
    action_name = sa.Column(sa.String(255))
    data = sa.Column(EncryptedText)


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """:class:`SQLTrackerStore` whose events table encrypts each event's data."""

    Base = _Base
    SQLEvent = EncryptedEvent
