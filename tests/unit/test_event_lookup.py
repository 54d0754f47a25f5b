"""Rasa's event lookup by name, remembered: the same classes, errors and defaults."""

import pytest
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

import channels  # noqa: F401  (installs it, as the Rasa server does)
from channels import event_lookup


def test_each_name_gives_its_class_as_before():
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("action") is ActionExecuted
    events = Event.from_parameters({"event": "slot", "name": "cedula", "value": None})
    assert isinstance(events, SlotSet)


def test_unknown_names_keep_rasas_answers():
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no-such-event")
    assert Event.resolve_by_type("no-such-event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None  # Rasa's backwards compatibility


def test_the_tree_of_subclasses_is_walked_once_per_name(monkeypatch):
    import rasa.shared.utils.common as common

    walks = []
    original = common.all_subclasses
    monkeypatch.setattr(common, "all_subclasses", lambda cls: walks.append(cls) or original(cls))
    Event.resolve_by_type("bot")  # may be the first time
    before = len(walks)
    for _ in range(10):
        assert Event.resolve_by_type("bot").type_name == "bot"
    assert len(walks) == before


def test_install_is_idempotent():
    installed = Event.__dict__["resolve_by_type"]
    event_lookup.install()
    assert Event.__dict__["resolve_by_type"] is installed
