"""The domain services the actions use, built once per action-server process."""
from __future__ import annotations

import asyncio
import logging
from functools import lru_cache

from buzon import db, settings as settings_module
from buzon.cases.store import CaseStore
from buzon.cases.throttle import LookupThrottleStore
from buzon.evidence import EvidenceStore
from buzon.outbox import Outbox, transport_for

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def settings() -> settings_module.Settings:
    return settings_module.load()


@lru_cache(maxsize=1)
def store() -> CaseStore:
    db.migrate(settings().database_url)
    return CaseStore.from_settings(settings())


@lru_cache(maxsize=1)
def evidence() -> EvidenceStore:
    case_store = store()
    return EvidenceStore(case_store.engine, case_store.cipher, settings().evidence_dir)


@lru_cache(maxsize=1)
def throttle() -> LookupThrottleStore:
    case_store = store()
    return LookupThrottleStore(case_store.engine, case_store.cipher)


@lru_cache(maxsize=1)
def outbox() -> Outbox:
    case_store = store()  # one engine and one key for the whole process
    return Outbox(case_store.engine, case_store.cipher, transport_for(settings()),
                  settings().smtp_from)


def _deliver_now() -> None:
    try:
        outbox().deliver_due()
    except Exception as error:  # the outbox worker retries whatever is left
        logger.warning("immediate e-mail delivery failed: %s", type(error).__name__)


def deliver_soon() -> None:
    """Send queued e-mails in a worker thread without making the citizen wait."""
    asyncio.get_running_loop().run_in_executor(None, _deliver_now)


async def in_thread(function, *args):
    """Run blocking database work off the action server's event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)
