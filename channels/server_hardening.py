"""Protections of the Rasa server process, installed when its channels load.

Rasa 3.6 has no setting for either of these, so they are fixed here, once, the
way :mod:`channels.web` fixes Rasa's socket.io room bug:

- **An unreachable action server stops the turn instead of losing it.** Rasa
  logs the failure of a custom action and goes on without its events, so the
  citizen got no reply and an answer the validator never saw could stay in the
  form. :func:`install` makes every call to the action server that fails
  (connection refused, timeout, a 5xx answer) raise
  :class:`ActionServerUnavailable` out of the turn, before the tracker is saved:
  the conversation stays as it was before the message and the channel answers
  ``utter_service_busy`` ("try again in a moment").
- **No citizen text in the logs.** Rasa's debug logging writes every message,
  parse result and slot value (``processor.message.parse``,
  ``processor.slots.log``, ``forms.slots.validate``…). The ``rasa`` loggers are
  kept at INFO or above even under ``--debug``; what Rasa logs at INFO and above
  names actions and intents, never the text. The REST channel's failure log,
  which prints the message, is replaced in :mod:`channels.rest`.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from rasa.core.actions import action as rasa_action
from rasa.shared.exceptions import RasaException

logger = logging.getLogger(__name__)

# Loggers whose DEBUG records carry what citizens typed.
PRIVATE_LOGGERS = ("rasa", "rasa_sdk")


class ActionServerUnavailable(BaseException):
    """The action server could not run an action: the turn stops here.

    A :class:`BaseException` on purpose: Rasa's message processor catches every
    :class:`Exception` of an action and continues as if it had returned nothing.
    Only the channels catch this one, and answer the citizen kindly.
    """

    def __init__(self, action_name: str) -> None:
        super().__init__(action_name)
        self.action_name = action_name


def _unreachable(error: BaseException) -> bool:
    cause = error.__cause__ or error.__context__
    if isinstance(error, (asyncio.TimeoutError, aiohttp.ClientError)):
        return True
    return isinstance(cause, (asyncio.TimeoutError, aiohttp.ClientError))


def _guard_remote_actions() -> None:
    original = rasa_action.RemoteAction.run
    if getattr(original, "_buzon_guarded", False):
        return

    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except rasa_action.ActionExecutionRejection:
            raise
        except (RasaException, asyncio.TimeoutError, aiohttp.ClientError) as error:
            if isinstance(error, RasaException) and not _unreachable(error):
                raise
            logger.error(
                "action server unavailable for %s (%s): the turn is not processed",
                self.name(),
                type(error.__cause__ or error.__context__ or error).__name__,
            )
            raise ActionServerUnavailable(self.name()) from None

    run._buzon_guarded = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction.run = run


def keep_logs_private() -> None:
    """Never below INFO for the loggers that would write citizen text."""
    for name in PRIVATE_LOGGERS:
        named = logging.getLogger(name)
        if named.getEffectiveLevel() < logging.INFO:
            named.setLevel(logging.INFO)
            logger.warning("debug logging of %s is off: it would write what citizens typed", name)


def install() -> None:
    """Install both protections (idempotent)."""
    _guard_remote_actions()
    keep_logs_private()
