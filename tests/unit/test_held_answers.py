"""A turn's answers reach the citizen only once the turn is stored (channels/held_answers.py),
with the real encrypted conversation store on SQLite.

The turn stands in for Rasa's: it sends its answers through the message's output
channel while it runs, then saves the conversation, as ``MessageProcessor`` does.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import OperationalError

from channels import incoming
from channels.held_answers import NEVER_WITHHELD, HeldAnswers
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests.unit.test_encrypted_tracker_store import DOMAIN
from tests.unit.test_server_guards import Agent

BUSY_TEXT = Agent().domain.responses["utter_service_busy"][0]["text"]


@pytest.fixture()
def store(tmp_path, wired):
    wired()
    return EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))


def stored_events(tmp_path) -> int:
    return sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM events").fetchone()[0]


class Watching(CollectingOutputChannel):
    """Records, with each answer, how many events were stored when it was sent."""

    def __init__(self, tmp_path) -> None:
        super().__init__()
        self.tmp_path = tmp_path
        self.stored_when_sent: list[int] = []

    async def send_response(self, recipient_id, message):
        self.stored_when_sent.append(stored_events(self.tmp_path))
        await super().send_response(recipient_id, message)


def a_turn(store, answers=("Gracias.", "Cuéntenos qué pasó."), seen_at_save=None):
    """What Rasa does with a message: answers while it runs, saves at the end (inside
    the conversation's lock); ``seen_at_save`` gets what the citizen had when the save
    returned."""

    async def on_new_message(message: UserMessage) -> None:
        tracker = DialogueStateTracker(message.sender_id, DOMAIN.slots)
        tracker.update(UserUttered(message.text, {"name": "inform"}))
        tracker.update(SlotSet("cedula", message.text))
        for text in answers:
            tracker.update(BotUttered(text))
            await message.output_channel.send_response(message.sender_id, {"text": text})
        await store.save(tracker)
        if seen_at_save is not None:
            seen_at_save.append(len(message.output_channel.output.messages))

    return on_new_message


def handle(on_new_message, output, text="Cdla. La Garzota Mz 12 Villa 7"):
    asyncio.run(
        incoming.handle(Agent(), on_new_message, text, output, "ciudadana", input_channel="rest")
    )


def test_the_answers_go_in_order_once_the_turn_is_stored(store, tmp_path):
    output, seen_at_save = Watching(tmp_path), []
    handle(a_turn(store, seen_at_save=seen_at_save), output)
    assert [m["text"] for m in output.messages] == ["Gracias.", "Cuéntenos qué pasó."]
    assert output.stored_when_sent == [4, 4]  # sent after the commit, none before
    assert seen_at_save == [2]  # by the store, before the turn (and its lock) ended


def test_a_turn_whose_save_fails_shows_only_try_again(store, tmp_path, monkeypatch):
    def unreachable():
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "session_scope", unreachable)
    output = Watching(tmp_path)
    handle(a_turn(store), output)
    # not the next question, which the stored conversation has not reached
    assert [m["text"] for m in output.messages] == [BUSY_TEXT]


def test_a_turn_that_fails_before_saving_shows_only_try_again(store, tmp_path):
    async def action_server_down(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Gracias."})
        raise incoming.ActionServerUnavailable("validate_case_form")

    output = Watching(tmp_path)
    handle(action_server_down, output)
    assert [m["text"] for m in output.messages] == [BUSY_TEXT]
    assert stored_events(tmp_path) == 0


def test_with_a_store_that_does_not_call_back_the_answers_go_when_the_turn_ends():
    async def in_memory_turn(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Hola."})

    output = CollectingOutputChannel()
    handle(in_memory_turn, output, text="hola")
    assert [m["text"] for m in output.messages] == ["Hola."]


def test_the_responses_are_chosen_for_the_real_channel_and_a_failed_send_is_kept():
    class Failing(OutputChannel):
        sent: list = []

        @classmethod
        def name(cls):
            return "whatsapp"

        async def send_text_message(self, recipient_id, text, **kwargs):
            if text == "Hola.":
                raise ConnectionError("graph api down")
            self.sent.append(text)

    output = Failing()
    held = HeldAnswers(output)
    assert held.name() == "whatsapp"
    asyncio.run(held.send_response("s", {"text": "Hola."}))
    asyncio.run(held.send_response("s", {"text": "¿Qué desea hacer?"}))
    asyncio.run(held.release())  # never raises into the store's save
    assert isinstance(held.failure, ConnectionError) and held.held == []
    assert output.sent == ["¿Qué desea hacer?"]  # the next answer still went


def test_a_send_that_fails_after_the_turn_was_stored_does_not_fail_the_turn(
    store, tmp_path, caplog
):
    """No "try again" and no error for the channel (WhatsApp would have Meta deliver the
    message again, and the stored conversation would read it at the next step)."""

    class Failing(CollectingOutputChannel):
        async def send_response(self, recipient_id, message):
            if message.get("text") == "Gracias.":
                raise ConnectionError("graph api down")
            await super().send_response(recipient_id, message)

    output = Failing()
    asyncio.run(
        incoming.handle(
            Agent(), a_turn(store), "Cdla. Garzota", output, "ciudadana", reraise=True,
            input_channel="whatsapp",
        )
    )  # fmt: skip
    assert [m["text"] for m in output.messages] == ["Cuéntenos qué pasó."]
    assert stored_events(tmp_path) == 4
    assert "ConnectionError" in caplog.text and "Garzota" not in caplog.text


def test_two_turns_at_once_each_send_only_their_own_answers(tmp_path, wired):
    """Two conversations on one server, their turns interleaved: each turn's store
    call-back releases its own answers (the hook is per task)."""
    wired()
    stores = [
        EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / f"{n}.db"))
        for n in ("a", "b")
    ]
    outputs = [CollectingOutputChannel(), CollectingOutputChannel()]
    seen_at_save: dict[str, list] = {}

    def interleaved(store, text, output):
        async def on_new_message(message: UserMessage) -> None:
            tracker = DialogueStateTracker(message.sender_id, DOMAIN.slots)
            tracker.update(UserUttered(message.text, {"name": "inform"}))
            await message.output_channel.send_response(message.sender_id, {"text": text})
            await asyncio.sleep(0.05)  # the other turn runs meanwhile
            await store.save(tracker)
            seen_at_save[text] = [m["text"] for m in output.messages]

        return on_new_message

    async def both():
        turns = zip(stores, ("para A", "para B"), outputs, strict=True)
        await asyncio.gather(
            *(
                incoming.handle(Agent(), interleaved(s, t, o), "hola", o, f"c{i}")
                for i, (s, t, o) in enumerate(turns)
            )
        )

    asyncio.run(both())
    assert [[m["text"] for m in o.messages] for o in outputs] == [["para A"], ["para B"]]
    # each released by its own store's save, not the other's
    assert seen_at_save == {"para A": ["para A"], "para B": ["para B"]}


def test_a_registered_case_is_announced_even_when_its_turn_is_not_stored(store, tmp_path):
    """The case is in the database; its number and key must reach the citizen."""

    async def registered_then_lost(message: UserMessage) -> None:
        send = message.output_channel.send_response
        await send(message.sender_id, {"text": "Revise sus datos"})
        await send(
            message.sender_id,
            {"text": "Número IESS-Q-2026-000001, clave K7P2", "utter_action": NEVER_WITHHELD[0]},
        )
        raise incoming.TrackerStoreUnavailable()

    output = CollectingOutputChannel()
    handle(registered_then_lost, output, text="/affirm")
    assert [m["text"] for m in output.messages] == [
        "Número IESS-Q-2026-000001, clave K7P2",
        BUSY_TEXT,
    ]
