"""The conversation history is stored encrypted and read back whole."""
import asyncio
import json
import sqlite3

from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from persistence import encrypted_tracker_store
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests import synthetic

CEDULA = synthetic.cedula("171122334")


def make_store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASE_ENCRYPTION_KEY", Fernet.generate_key().decode())
    encrypted_tracker_store._cipher.cache_clear()
    domain = Domain.from_yaml("slots:\n  cedula:\n    type: text\n    mappings:\n    - type: custom\n")
    return EncryptedSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "t.db")), domain


def test_events_are_encrypted_at_rest_and_read_back(tmp_path, monkeypatch):
    store, domain = make_store(tmp_path, monkeypatch)
    tracker = DialogueStateTracker.from_events(
        "ciudadana", [UserUttered(CEDULA, {"name": "inform"}), SlotSet("cedula", CEDULA)], domain.slots
    )
    asyncio.run(store.save(tracker))
    raw = sqlite3.connect(tmp_path / "t.db").execute("SELECT * FROM events").fetchall()
    assert len(raw) == 2 and CEDULA not in repr(raw)
    assert [row[4] for row in raw] == ["inform", None]  # intent names stay queryable
    again = asyncio.run(store.retrieve("ciudadana"))
    assert again.latest_message.text == CEDULA and again.get_slot("cedula") == CEDULA
    encrypted_tracker_store._cipher.cache_clear()


def test_rows_written_in_clear_before_are_still_read(tmp_path, monkeypatch):
    store, domain = make_store(tmp_path, monkeypatch)
    event = UserUttered("hola", {"name": "greet"}).as_dict()
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) VALUES (?,?,?,?,?)",
            ("antes", "user", event["timestamp"], "greet", json.dumps(event)),
        )
    assert asyncio.run(store.retrieve("antes")).latest_message.text == "hola"
    encrypted_tracker_store._cipher.cache_clear()
