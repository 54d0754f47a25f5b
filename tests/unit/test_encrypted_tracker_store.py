"""The conversation history: stored encrypted, read back whole, forgotten when promised,
and deleted when idle past the retention period."""

import asyncio
import json
import sqlite3
import time

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from buzon import crypto, wiring
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests import synthetic

CEDULA = synthetic.cedula("171122334")
# A WhatsApp message id: base64 of a record that holds the sender's number
WAMID = "wamid.HBgMNTkzOTgxMTEyMjMzFQIAEhgUM0VCMEQ5NjE1NzY0RDE3QjQ0NjcA"
DOMAIN = Domain.from_yaml("""
slots:
  cedula:
    type: text
    mappings:
    - type: custom
  forget_conversation:
    type: text
    mappings:
    - type: custom
""")


@pytest.fixture()
def store(tmp_path, wired):
    wired()
    return EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))


def sqlalchemy_error(name):
    import sqlalchemy

    return getattr(sqlalchemy.exc, name)("SELECT", {}, Exception("server closed the connection"))


def rows(tmp_path):
    return sqlite3.connect(tmp_path / "t.db").execute("SELECT * FROM events").fetchall()


def save(store, sender, events):
    tracker = asyncio.run(store.retrieve(sender)) or DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    asyncio.run(store.save(tracker))
    return tracker


def test_events_are_encrypted_at_rest_and_read_back(store, tmp_path):
    save(store, "ciudadana", [UserUttered(CEDULA, {"name": "inform"}), SlotSet("cedula", CEDULA)])
    raw = rows(tmp_path)
    assert len(raw) == 2 and CEDULA not in repr(raw)
    assert [row[4] for row in raw] == ["inform", None]  # intent names stay queryable
    again = asyncio.run(store.retrieve("ciudadana"))
    assert again.latest_message.text == CEDULA and again.get_slot("cedula") == CEDULA


def test_rows_written_in_clear_before_are_still_read(store, tmp_path):
    event = UserUttered("hola", {"name": "greet"}).as_dict()
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
            "VALUES (?,?,?,?,?)",
            ("antes", "user", event["timestamp"], "greet", json.dumps(event)),
        )
    assert asyncio.run(store.retrieve("antes")).latest_message.text == "hola"


def test_a_request_to_forget_erases_what_the_citizen_gave(store, tmp_path):
    save(
        store,
        "olvido",
        [
            UserUttered(
                f"mi cédula es {CEDULA}",
                {"name": "inform"},
                [{"entity": "cedula", "value": CEDULA, "start": 13, "end": 23}],
            ),
            SlotSet("cedula", CEDULA),
            BotUttered(
                f"Cédula: {CEDULA}", {"buttons": [{"title": "Confirmar", "payload": "/affirm"}]}
            ),
        ],
    )
    save(store, "otra", [UserUttered(CEDULA, {"name": "inform"}), SlotSet("cedula", CEDULA)])
    save(
        store,
        "olvido",
        [
            UserUttered("cancelar", {"name": "cancel"}),
            ActionExecuted("action_cancel"),
            SlotSet("cedula", None),
            SlotSet("forget_conversation", "cancelled"),
            BotUttered("Listo, cancelé el registro"),
        ],
    )
    forgotten = asyncio.run(store.retrieve("olvido"))
    dump = json.dumps([e.as_dict() for e in forgotten.events], ensure_ascii=False)
    assert CEDULA not in dump
    said = [e.text for e in forgotten.events if isinstance(e, (UserUttered, BotUttered))]
    assert len(said) == 4 and said == [None] * 4  # the words go, the intent names stay
    assert [e.intent_name for e in forgotten.events if isinstance(e, UserUttered)] == [
        "inform",
        "cancel",
    ]
    assert forgotten.get_slot("cedula") is None
    assert asyncio.run(store.retrieve("otra")).get_slot("cedula") == CEDULA  # others untouched
    # the rewritten rows are encrypted too (read back, clear JSON would pass as old rows)
    raw = [row for row in rows(tmp_path) if row[1] == "olvido"]
    assert len(raw) == 8 and not any(str(row[-1]).lstrip().startswith("{") for row in raw)


def test_forget_reads_every_kind_of_event_that_can_hold_what_the_citizen_gave():
    """Forgetting reads only the rows of REDACTED_KINDS: every kind redaction changes is one."""
    from rasa.shared.core import events as rasa_events

    from persistence.conversation_privacy import REDACTED_KINDS, redacted

    given = {"wa_id": "593981112233", "text": CEDULA}
    samples = [
        UserUttered(CEDULA, {"name": "inform"}, [{"entity": "cedula", "value": CEDULA}]),
        # as the WhatsApp channel sends it: the number as metadata, Rasa copying it and the
        # message id (which encodes the number) into the parse data
        UserUttered(
            "hola", {"name": "greet"}, metadata={"wa_id": "593981112233"}, message_id=WAMID
        ),
        BotUttered(CEDULA, {"buttons": None}, metadata=given),
        SlotSet("cedula", CEDULA),
        rasa_events.EntitiesAdded([{"entity": "cedula", "value": CEDULA}]),
        rasa_events.SessionStarted(metadata=given),
        ActionExecuted("action_finish_case", "RulePolicy", 1.0),
        rasa_events.ActiveLoop("case_form"),
        rasa_events.LoopInterrupted(True),
        rasa_events.ActionExecutionRejected("validate_case_form"),
        rasa_events.FollowupAction("case_form"),
        rasa_events.UserUtteranceReverted(),
        rasa_events.ActionReverted(),
        rasa_events.Restarted(),
        rasa_events.AllSlotsReset(),
        rasa_events.StoryExported(),
        rasa_events.DefinePrevUserUtteredFeaturization(False),
    ]
    changed = set()
    for event in samples:
        data = event.as_dict()
        before = json.dumps(data, sort_keys=True)
        clean = redacted(data)
        assert json.dumps(data, sort_keys=True) == before  # the event given is left as it was
        for secret in (CEDULA, "593981112233", WAMID):
            assert secret not in json.dumps(clean), (data["event"], secret)
        if clean != data:
            changed.add(data["event"])
    assert changed == set(REDACTED_KINDS)


def test_conversations_idle_past_retention_are_deleted(store):
    save(store, "vieja", [UserUttered("hola", {"name": "greet"})])
    save(store, "nueva", [UserUttered("hola", {"name": "greet"})])
    with store.session_scope() as session:
        session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == "vieja").update(
            {"timestamp": time.time() - 7200}
        )
        session.commit()
    assert store.purge_idle(time.time() - 3600) == 1
    assert asyncio.run(store.retrieve("vieja")) is None
    assert asyncio.run(store.retrieve("nueva")) is not None


def test_the_store_refuses_to_start_with_a_malformed_key(tmp_path, wired):
    with pytest.raises(crypto.KeyConfigurationError):
        wired(CASE_ENCRYPTION_KEY="no-es-una-clave")
        EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))


def test_the_production_profile_refuses_to_start_without_a_key(tmp_path, wired, monkeypatch):
    wired(BUZON_PROFILE="production")
    monkeypatch.delenv("CASE_ENCRYPTION_KEY")
    wiring.reset()
    with pytest.raises(wiring.MissingKey):
        EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))
    assert not (tmp_path / "var" / "case_encryption.key").exists()


def test_the_embedded_sqlite_store_writes_ahead_and_syncs_at_checkpoints(store, tmp_path):
    save(store, "rapida", [UserUttered("hola", {"name": "greet"})])
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    import sqlalchemy

    assert isinstance(store.engine.pool, sqlalchemy.pool.QueuePool)  # connections kept


def test_rows_are_the_ones_rasas_own_sql_store_writes_and_read_back_alike(store, tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    events = [
        UserUttered("hola", {"name": "greet", "confidence": 0.9}),
        ActionExecuted("utter_greet"),
        BotUttered("Hola"),
        SlotSet("cedula", CEDULA),
        UserUttered("otra", {"name": "inform"}),
    ]
    stock = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "stock.db"))
    for target in (store, stock):
        tracker = DialogueStateTracker("igual", DOMAIN.slots)
        for event in events[:3]:
            tracker.update(event)
        asyncio.run(target.save(tracker))  # two saves: only the new events are added
        tracker = asyncio.run(target.retrieve("igual"))
        for event in events[3:]:
            tracker.update(event)
        asyncio.run(target.save(tracker))
    columns = "sender_id, type_name, timestamp, intent_name, action_name"
    ours = sqlite3.connect(tmp_path / "t.db").execute(f"SELECT {columns} FROM events").fetchall()
    theirs = sqlite3.connect(tmp_path / "stock.db").execute(f"SELECT {columns} FROM events")
    assert ours == theirs.fetchall() and len(ours) == len(events)
    read = asyncio.run(store.retrieve("igual"))
    assert read.current_state() == asyncio.run(stock.retrieve("igual")).current_state()
    assert read.get_slot("cedula") == CEDULA


@pytest.mark.parametrize(
    "failure",
    [
        sqlalchemy_error("OperationalError"),  # the database is down
        sqlalchemy_error("InterfaceError"),  # a connection that died with a restart
    ],
)
def test_a_failing_database_stops_the_turn_instead_of_a_blank_or_unsaved_conversation(
    store, monkeypatch, failure
):
    from persistence.encrypted_tracker_store import TrackerStoreUnavailable

    save(store, "caida", [UserUttered("hola", {"name": "greet"})])
    tracker = asyncio.run(store.retrieve("caida"))

    def broken():
        raise failure

    monkeypatch.setattr(store, "session_scope", broken)
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(store.retrieve("caida"))
    tracker.update(SlotSet("cedula", CEDULA))
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(store.save(tracker))


def forgetting_turn():
    return [
        UserUttered("cancelar", {"name": "cancel"}),
        ActionExecuted("action_cancel"),
        SlotSet("cedula", None),
        SlotSet("forget_conversation", "cancelled"),
        BotUttered("Listo, olvidé lo que me diste"),
    ]


def test_the_answers_of_a_forgetting_turn_go_out_only_once_the_conversation_is_forgotten(
    store, tmp_path
):
    """The citizen is told «olvidé lo que me diste» when it is true: the forgetting is in
    the turn's transaction, and the answers are released after its commit."""
    from persistence.encrypted_tracker_store import after_turn_saved

    save(store, "olvido", [UserUttered(CEDULA, {"name": "inform"}), SlotSet("cedula", CEDULA)])
    seen_at_release = []

    async def release():  # what another connection sees when the answers go out
        store_view = EncryptedSQLTrackerStore(
            domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db")
        )
        again = await store_view.retrieve("olvido")
        seen_at_release.append(json.dumps([e.as_dict() for e in again.events]))

    token = after_turn_saved.set(release)
    try:
        save(store, "olvido", forgetting_turn())
    finally:
        after_turn_saved.reset(token)
    assert len(seen_at_release) == 1
    assert CEDULA not in seen_at_release[0] and "cancelled" in seen_at_release[0]


def test_a_failure_to_forget_fails_the_turn_and_releases_nothing(store, tmp_path, monkeypatch):
    from persistence.encrypted_tracker_store import TrackerStoreUnavailable, after_turn_saved

    save(store, "olvido", [UserUttered(CEDULA, {"name": "inform"}), SlotSet("cedula", CEDULA)])
    stored = rows(tmp_path)

    def broken(session, sender_id):
        raise sqlalchemy_error("OperationalError")

    monkeypatch.setattr(store, "_forget_stored", broken)
    released = []

    async def release():
        released.append(True)

    token = after_turn_saved.set(release)
    try:
        with pytest.raises(TrackerStoreUnavailable):
            save(store, "olvido", forgetting_turn())
    finally:
        after_turn_saved.reset(token)
    assert released == [] and rows(tmp_path) == stored  # nothing of the turn was kept


def test_a_stored_row_that_cannot_be_read_to_be_forgotten_fails_the_turn(store, tmp_path):
    """Rasa's fail-safe wrapper would swallow the error and the answers would say
    «olvidé…» of a conversation still stored."""
    from persistence.encrypted_tracker_store import TrackerStoreUnavailable, after_turn_saved

    tracker = save(store, "olvido", [UserUttered(CEDULA, {"name": "inform"})])
    with sqlite3.connect(tmp_path / "t.db") as connection:  # a row no key of ours reads
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?,?,?,?)",
            ("olvido", "slot", 1.0, "gAAAAAB-not-a-token-of-this-key"),
        )
    stored = rows(tmp_path)
    released = []

    async def release():
        released.append(True)

    for event in forgetting_turn():
        tracker.update(event)
    token = after_turn_saved.set(release)
    try:
        with pytest.raises(TrackerStoreUnavailable):
            asyncio.run(store.save(tracker))
    finally:
        after_turn_saved.reset(token)
    assert released == [] and rows(tmp_path) == stored
