"""Rasa's SQL tracker store with every event's content encrypted at rest, and forgetting.

A conversation's events hold what the citizen typed (cédula, phone, address,
the story) and the slots filled from it. This store keeps Rasa's ``events``
table and queries unchanged but encrypts the ``data`` column with the case
store's key (:mod:`buzon.wiring`; the process refuses to start with a bad key).
Rows written in clear by the plain ``SQL`` tracker store are still read.

Forgetting: when a turn's events include the slot ``forget_conversation`` (set by
the actions after «No acepto», «cancelar», a registration or a status look-up),
every stored event of the conversation is rewritten without the citizen's
words and data (:mod:`persistence.conversation_privacy`). Conversations idle for
longer than the retention period are deleted by :meth:`purge_idle`
(``make purge``, and the retention worker of ``make run``: :mod:`persistence.retention`).

Unreachable database: Rasa wraps every tracker store in a ``FailSafeTrackerStore``
that, when ``retrieve`` fails, answers "no such conversation" and goes on with an
empty one kept in memory: a citizen in the middle of the form got an answer from a
blank conversation (the menu, "I did not understand") instead of "try again", and
what they wrote was lost; when ``save`` fails it keeps the turn in memory only.
:meth:`EncryptedSQLTrackerStore.retrieve` and :meth:`~EncryptedSQLTrackerStore.save`
raise :class:`TrackerStoreUnavailable` instead on any database error, a
:class:`BaseException` that the fail-safe wrapper does not catch; the channels answer
it like an unreachable action server (``utter_service_busy``, :mod:`channels.incoming`).

Use it in ``endpoints.yml``::

    tracker_store:
      type: persistence.encrypted_tracker_store.EncryptedSQLTrackerStore
      dialect: sqlite
      db: var/tracker.db
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import TypeDecorator

from buzon import crypto, wiring
from persistence import conversation_privacy


class TrackerStoreUnavailable(BaseException):
    """The conversation could not be read: the turn stops here (see the module's note)."""


# Set by the channel for the turn it runs (channels.held_answers): awaited once the
# turn's events are committed, so that the citizen sees only a turn that was stored.
after_turn_saved: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "after_turn_saved", default=None
)


def _cipher() -> crypto.FieldCipher:
    return wiring.current().cipher


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


def _row(sender_id: str, event: Any, forgetting: bool = False) -> dict[str, Any]:
    """The ``events`` row of one event, as Rasa's SQL tracker store writes it (without
    what the citizen gave when the turn forgets the conversation)."""
    data = event.as_dict()
    if forgetting:
        data = conversation_privacy.redacted(data)
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _latest_turn(tracker: DialogueStateTracker) -> list:
    """The events since the citizen last wrote (what this save adds)."""
    turn = []
    for event in reversed(tracker.events):
        turn.append(event)
        if isinstance(event, UserUttered):
            break
    return turn


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """SQLite (the embedded profile) in write-ahead mode, synced at checkpoints: a turn's
    commit no longer waits for the disk twice, which stalled every conversation of the
    server (measured in ``make bench``). A crash of the process loses nothing; a power
    cut may lose the last turns, which the citizen then repeats. Production keeps its
    conversations in PostgreSQL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """:class:`SQLTrackerStore` whose events table encrypts each event's data."""

    Base = _Base
    SQLEvent = EncryptedEvent

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        wiring.check()  # a missing or malformed key stops the server here, not later
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # Rasa's SQLite engine opens a connection per read or write (SQLAlchemy 1.4's
            # NullPool for files): keep them, in write-ahead mode (make bench measured both)
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", _write_ahead_log)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            return await super().retrieve(sender_id)
        except sa.exc.SQLAlchemyError:  # the database failed: not "no conversation"
            # (OperationalError while it is down, InterfaceError on a connection that
            # died with a restart, a pool timeout under load: each one used to give a
            # blank conversation, whose save then started the citizen's session anew)
            raise TrackerStoreUnavailable() from None

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        """Rasa's, reading only the ``data`` column: no ORM object per event (a
        registration's conversation has about 150 events, read on every turn)."""
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions)
            events = [json.loads(data) for (data,) in query.with_entities(self.SQLEvent.data)]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's, with the new events inserted in one statement rather than one ORM
        object each, and the conversation forgotten in the same transaction when the
        turn asked for it; then, once committed, the turn's answers are released
        (:data:`after_turn_saved`): a citizen told that what they gave is forgotten is
        told so only once it is, and a failure to forget fails the turn ("try again")."""
        await self.stream_events(tracker)
        forgetting = any(
            isinstance(e, SlotSet) and e.key == conversation_privacy.FORGET_SLOT and e.value
            for e in _latest_turn(tracker)
        )
        try:
            with self.session_scope() as session:
                new = list(self._additional_events(session, tracker))
                if forgetting:
                    self._forget_stored(session, tracker.sender_id)
                rows = [_row(tracker.sender_id, event, forgetting) for event in new]
                if rows:
                    session.execute(sa.insert(self.SQLEvent.__table__), rows)
                session.commit()
        except (sa.exc.SQLAlchemyError, InvalidToken, ValueError):
            # Not kept in memory by Rasa's fail-safe wrapper as if saved, which would then
            # send the turn's answers: the citizen is told to try again, and the next turn
            # starts from what is stored (a case confirmed twice is registered once:
            # buzon.cases.store.AlreadyRegistered). A stored row that cannot be read back
            # to be forgotten (InvalidToken, ValueError) fails the turn the same way:
            # "forgotten" is never said of a conversation that is not.
            raise TrackerStoreUnavailable() from None
        release = after_turn_saved.get()
        if release is not None:
            await release()

    def _forget_stored(self, session: Any, sender_id: str) -> int:
        """Rewrite the stored events of the conversation (in ``session``'s transaction).

        Only the kinds of event that can hold what the citizen gave are read (an
        action's name holds nothing), and the changed rows are written in one
        statement: a registration's conversation of about 170 events took 35 ms here,
        one by one through the ORM."""
        table = self.SQLEvent.__table__
        rows = session.execute(
            sa.select(table.c.id, table.c.data).where(
                table.c.sender_id == sender_id,
                table.c.type_name.in_(conversation_privacy.REDACTED_KINDS),
            )
        )
        changes = []
        for row_id, data in rows:
            event = json.loads(data)
            clean = conversation_privacy.redacted(event)
            if clean != event:
                changes.append({"row_id": row_id, "clean": json.dumps(clean)})
        if changes:
            session.execute(
                table.update()
                .where(table.c.id == sa.bindparam("row_id"))
                .values(data=sa.bindparam("clean", type_=table.c.data.type)),
                changes,
            )
        return len(changes)

    def purge_idle(self, before_timestamp: float) -> int:
        """Delete every conversation whose last event is older than ``before_timestamp``."""
        event = self.SQLEvent
        idle = (
            sa.select(event.sender_id)
            .group_by(event.sender_id)
            .having(sa.func.max(event.timestamp) < before_timestamp)
        )
        with self.session_scope() as session:
            senders = [row[0] for row in session.execute(idle)]
            gone = 0
            for start in range(0, len(senders), 500):
                gone += (
                    session.query(event)
                    .filter(event.sender_id.in_(senders[start : start + 500]))
                    .delete(synchronize_session=False)
                )
            session.commit()
        return gone
