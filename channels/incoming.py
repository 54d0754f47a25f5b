"""What every channel does with a citizen's message before Rasa sees it.

- A blank message (nothing visible) and one longer than ``MAX_MESSAGE_CHARS``
  never reach the NLU: the channel answers ``utter_empty_message`` or
  ``utter_message_too_long`` itself and nothing changes in the conversation.
  (A 60 KB message used to hold the whole server for 23 s; an empty one crashed
  the classifier.)
- A typed text equal to the title of a button the bot has just offered means
  that button: its payload goes to Rasa instead of the text, before any NLU
  guess. Citizens type labels all the time (WhatsApp, screen readers, old
  phones); «Confirmar y registrar» typed was read as ``cancel``.
- A text that starts with "/" reaches Rasa as a payload only when it is one:
  a known intent, with entities as a JSON object. Anything else ("/mi cédula
  es …") loses its slashes and is read as text: Rasa would otherwise log the
  whole line in a warning, and a typed payload could inject an intent.
- :func:`handle` runs the turn, holds its answers until the conversation is stored
  (:mod:`channels.held_answers`), and turns an unreachable action server
  (:class:`~channels.server_hardening.ActionServerUnavailable`), an unreachable
  conversation store
  (:class:`~persistence.encrypted_tracker_store.TrackerStoreUnavailable`) or any other
  failure into ``utter_service_busy``, never a silence and never a log line
  with the citizen's text.

>>> title_key("  ¡Sí, TENGO! ") == title_key("si tengo")
True
>>> listo = {"title": "Listo", "payload": "/affirm"}
>>> offered_buttons([{"event": "bot", "data": {"buttons": [listo]}},
...                  {"event": "action", "name": "action_listen"}])
[{'title': 'Listo', 'payload': '/affirm'}]
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from unidecode import unidecode

from buzon import plain_answers
from buzon.cases import routing
from channels.held_answers import HeldAnswers
from channels.server_hardening import ActionServerUnavailable
from persistence.encrypted_tracker_store import TrackerStoreUnavailable, after_turn_saved

logger = logging.getLogger(__name__)

# The longest answer the form takes (a description) is 4,000 characters; WhatsApp's
# own limit is 4,096.
MAX_MESSAGE_CHARS = 4000
EMPTY, TOO_LONG, BUSY = "utter_empty_message", "utter_message_too_long", "utter_service_busy"
# A voice note, a sticker, a location or a contact: the bot reads only text.
WRITE_IT = "utter_write_it"


def title_key(text: str) -> str:
    """A button title or typed text reduced to its letters and digits."""
    plain = unidecode(" ".join((text or "").split())).lower()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def offered_buttons(events: Iterable[Any]) -> list[dict]:
    """The buttons of the bot's messages since the citizen last wrote."""
    buttons: list[dict] = []
    for event in reversed(list(events)):
        data = event if isinstance(event, dict) else event.as_dict()
        if data.get("event") == "user":
            break
        if data.get("event") == "bot":
            buttons = list((data.get("data") or {}).get("buttons") or []) + buttons
    return buttons


_titles_of_domain: dict[int, frozenset[str]] = {}


def known_titles(domain: Any) -> frozenset[str]:
    """Every button title the bot can offer: the domain's and the category labels."""
    cached = _titles_of_domain.get(id(domain))
    if cached is None:
        titles = [
            button.get("title", "")
            for variations in (getattr(domain, "responses", None) or {}).values()
            for variation in variations
            for button in (variation.get("buttons") or [])
        ]
        titles += [routing.label_of(c).capitalize() for c in routing.categories()]
        cached = frozenset(title_key(t) for t in titles if t)
        _titles_of_domain.clear()  # one model at a time
        _titles_of_domain[id(domain)] = cached
    return cached


@dataclass(frozen=True)
class Admission:
    """What to hand to Rasa (``text``), or which response to answer instead (``reply``)."""

    text: str | None = None
    reply: str | None = None


def admit_shape(text: str | None) -> Admission:
    """Blank or too long: answered by the channel; anything else goes on.

    >>> admit_shape("  "), admit_shape("x" * 5000).reply, admit_shape("hola").text
    (Admission(text=None, reply='utter_empty_message'), 'utter_message_too_long', 'hola')
    """
    if text is None or plain_answers.is_blank(text):
        return Admission(reply=EMPTY)
    if len(text) > MAX_MESSAGE_CHARS:
        return Admission(reply=TOO_LONG)
    return Admission(text=text)


PAYLOAD = re.compile(r"/(\w+)(\{.*\})?", re.DOTALL)


def is_payload(text: str, intents: Iterable[str] | None) -> bool:
    """Whether ``text`` is a well-formed Rasa payload of one of ``intents``.

    >>> is_payload('/inform{"rating":"4"}', ["inform"]), is_payload("/affirm", ["inform"])
    (True, False)
    >>> is_payload("/mi cedula es 0912345675", None), is_payload('/inform{"x": roto}', None)
    (False, False)
    """
    found = PAYLOAD.fullmatch(text.strip())
    if found is None or (intents is not None and found.group(1) not in intents):
        return False
    if found.group(2):
        try:
            return isinstance(json.loads(found.group(2)), dict)
        except ValueError:
            return False
    return True


async def admit(agent: Any, sender_id: str, text: str | None) -> Admission:
    """The message to give Rasa, with a typed button title turned into its payload."""
    admitted = admit_shape(text)
    if admitted.text is None:
        return admitted
    if admitted.text.lstrip().startswith("/"):
        intents = getattr(getattr(agent, "domain", None), "intents", None)
        if is_payload(admitted.text, intents):
            return admitted
        admitted = admit_shape(admitted.text.strip().lstrip("/"))
        if admitted.text is None:
            return admitted
    key = title_key(admitted.text)
    if not key or agent is None or key not in known_titles(agent.domain):
        return admitted
    tracker = await agent.tracker_store.retrieve(sender_id)
    for button in offered_buttons(tracker.events if tracker else []):
        if title_key(str(button.get("title", ""))) == key and button.get("payload"):
            return Admission(text=str(button["payload"]))
    return admitted


def response_text(agent: Any, name: str) -> str:
    """The first text of a domain response (the channel's own replies live in domain.yml)."""
    return agent.domain.responses[name][0]["text"]


async def reply(output: OutputChannel, sender_id: str, agent: Any, name: str) -> None:
    await output.send_text_message(sender_id, response_text(agent, name))


async def handle(
    agent: Any,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    text: str | None,
    output: OutputChannel,
    sender_id: str,
    reraise: bool = False,
    **message_args: Any,
) -> None:
    """Admit the text, run the turn, answer kindly whatever goes wrong.

    With ``reraise`` an unexpected failure is raised instead of answered (the
    WhatsApp webhook then lets Meta deliver the message again).
    """
    held = HeldAnswers(output)  # sent once the turn is stored (channels.held_answers)
    hook = after_turn_saved.set(held.release)
    try:
        admitted = await admit(agent, sender_id, text)
        if admitted.reply:
            await reply(output, sender_id, agent, admitted.reply)
            return
        await on_new_message(UserMessage(admitted.text, held, sender_id, **message_args))
        await held.release()  # what a store that does not call back left held
        if held.failure is not None:  # the turn is done; an answer could not be sent
            logger.error(
                "an answer on %s not delivered: %s",
                message_args.get("input_channel", "a channel"),
                type(held.failure).__name__,
            )
    except (ActionServerUnavailable, TrackerStoreUnavailable):
        await held.discard()
        await reply(output, sender_id, agent, BUSY)
    except Exception as error:  # never the message, never a trace with it
        await held.discard()
        logger.error(
            "message from %s not processed: %s",
            message_args.get("input_channel", "a channel"),
            type(error).__name__,
        )
        if reraise:
            raise
        await reply(output, sender_id, agent, BUSY)
    finally:
        after_turn_saved.reset(hook)
