"""The domain services the actions use: this process's :mod:`buzon.wiring`."""

from __future__ import annotations

import asyncio
import logging

from buzon import settings as settings_module
from buzon import wiring
from buzon.cases.followup import Followup
from buzon.cases.store import CaseStore
from buzon.cases.throttle import LookupThrottleStore
from buzon.evidence import EvidenceStore
from buzon.outbox import Outbox

logger = logging.getLogger(__name__)


def settings() -> settings_module.Settings:
    return wiring.current().settings


def store() -> CaseStore:
    return wiring.current().cases


def evidence() -> EvidenceStore:
    return wiring.current().evidence


def followup() -> Followup:
    return wiring.current().followup


def throttle() -> LookupThrottleStore:
    return wiring.current().throttle


def outbox() -> Outbox:
    return wiring.current().outbox


def _deliver_now() -> None:
    try:
        outbox().deliver_due()
    except Exception as error:  # the outbox worker retries whatever is left
        logger.warning("immediate e-mail delivery failed: %s", type(error).__name__)


# The e-mail goes a moment after the answer: the thread that renders and sends it
# competes with the answer for the interpreter, and started at once it made the
# registration's answer 6 ms slower (of 10; measured with the action run in-process).
DELIVERY_DELAY_S = 0.1


def deliver_soon() -> None:
    """Send queued e-mails in a worker thread, just after the citizen is answered."""
    loop = asyncio.get_running_loop()
    loop.call_later(DELIVERY_DELAY_S, loop.run_in_executor, None, _deliver_now)
