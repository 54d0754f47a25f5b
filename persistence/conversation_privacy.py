"""Erasing what a citizen said from a conversation, keeping its shape.

After «No acepto», «cancelar», a registered case or a status look-up, the bot
promises that what the citizen gave is no longer kept in the conversation. An
action asks for it by setting the slot ``forget_conversation``; the tracker store
(:mod:`persistence.encrypted_tracker_store`) then rewrites every stored event of
the conversation with :func:`redacted`:

- what the citizen wrote: the text, entity values, metadata and id of each message
  (a WhatsApp message's id encodes the sender's number; Rasa copies metadata and id
  into the parse data too); the intent and the entity *names* stay, for the
  trainers' statistics;
- every slot value (the slots were reset by the same action, so the conversation
  ends in the same state it would have had);
- what the bot said, which echoes the data (the summary, the tracking key):
  texts and custom payloads; buttons stay (they are the bot's own words).

Action names, intent names and times stay: they say how the conversation went,
not who was in it.

>>> parse = redacted({"event": "user", "text": "mi cédula es 1712345678", "parse_data": {
...     "text": "mi cédula es 1712345678", "intent": {"name": "inform"},
...     "entities": [{"entity": "cedula", "value": "1712345678", "start": 13}]}})["parse_data"]
>>> parse["text"], parse["intent"], parse["entities"]
(None, {'name': 'inform'}, [{'entity': 'cedula'}])
>>> redacted({"event": "slot", "name": "cedula", "value": "1712345678"})["value"] is None
True
>>> redacted({"event": "slot", "name": "forget_conversation", "value": "cancelled"})["value"]
'cancelled'
"""

from __future__ import annotations

from typing import Any

FORGET_SLOT = "forget_conversation"
# Slots whose values say nothing about the citizen.
# The number of a case found by a look-up stays, so the citizen can answer or rate
# it in the same conversation (which is deleted when idle anyway).
KEPT_SLOTS = frozenset(
    {FORGET_SLOT, "requested_slot", "followup_case", "followup_kind", "followup_batch"}
)


# The kinds of event :func:`redacted` changes (the ``type_name`` of their rows): the
# others (an action run, a form activated, a rewind) hold nothing the citizen gave.
REDACTED_KINDS = ("user", "bot", "slot", "entities", "session_started")


def _entities(entities: Any) -> list:
    return [{"entity": e.get("entity")} for e in entities or [] if isinstance(e, dict)]


def redacted(event: dict) -> dict:
    """``event`` (a Rasa event as a dict) without anything the citizen gave.

    A new dict; ``event`` is left as it was. What the two share is what is kept (a
    bot's buttons, an intent): a deep copy of every event cost a third of the
    forgetting of a conversation (``make bench``)."""
    data = dict(event)
    kind = data.get("event")
    if kind == "user":
        data["text"] = None
        data["metadata"] = {}
        # a WhatsApp message's id encodes the sender's number
        data["message_id"] = None
        parse = dict(data.get("parse_data") or {})
        if parse:
            data["parse_data"] = parse
            parse["text"] = None
            # Rasa copies the message's metadata (the WhatsApp number) and id here too
            parse["metadata"] = {}
            parse["message_id"] = None
            parse["entities"] = _entities(parse.get("entities"))
            parse.pop("response_selector", None)
    elif kind == "bot":
        data["text"] = None
        data["metadata"] = {
            k: v for k, v in (data.get("metadata") or {}).items() if k == "utter_action"
        }
        content = data.get("data") or {}
        data["data"] = {"buttons": content.get("buttons")} if content.get("buttons") else {}
    elif kind == "slot":
        if data.get("name") not in KEPT_SLOTS:
            data["value"] = None
    elif kind == "entities":
        data["entities"] = _entities(data.get("entities"))
    elif kind == "session_started":
        data["metadata"] = {}
    return data
