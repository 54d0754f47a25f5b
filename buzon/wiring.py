"""The one place where settings become an engine, a cipher and the stores.

Every adapter (the actions, the channels, the tracker store, the outbox worker,
the retention job) asks :func:`current` for what it needs, so the key is read
and checked, and the engine built, once per process::

    from buzon import wiring
    wiring.current().cases.register(draft)

:func:`check` is what each process calls at start-up: it refuses a malformed
key, and outside the embedded profile a missing one, before anything is served.
Tests build their own :class:`Wiring` from settings, or call :func:`reset`.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine

from buzon import crypto, db
from buzon import settings as settings_module
from buzon.audit import AuditLog
from buzon.cases.followup import Followup
from buzon.cases.store import CaseStore
from buzon.cases.throttle import LookupThrottleStore
from buzon.evidence import EvidenceStore
from buzon.outbox import Outbox, transport_for
from buzon.staff.accounts import AccountStore
from buzon.staff.desk import CaseDesk
from buzon.staff.digest import Digest
from buzon.whatsapp_cloud import GraphClient, NoticeSender
from buzon.whatsapp_window import ContactWindow


class MissingKey(crypto.KeyConfigurationError):
    """Outside the embedded profile the key must come from the environment."""


def private_folder(path: Path) -> Path:
    """``path`` created if needed and readable by the service user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except PermissionError:  # not ours: leave it as the operator set it
        pass
    return path


def cipher_for(current: settings_module.Settings) -> crypto.FieldCipher:
    """The cipher of the configured key(s); a development key only when embedded."""
    if not current.encryption_key and not current.embedded:
        raise MissingKey(
            f"CASE_ENCRYPTION_KEY is not set and BUZON_PROFILE is {current.profile}: "
            "refusing to start without the key (see README, Security and privacy)"
        )
    if not current.encryption_key:
        private_folder(current.var_dir)
    return crypto.FieldCipher(crypto.master_key(current.encryption_key, current.dev_key_file))


class Wiring:
    """The services of one process, built lazily from one :class:`Settings`."""

    def __init__(self, current: settings_module.Settings) -> None:
        self.settings = current

    @cached_property
    def cipher(self) -> crypto.FieldCipher:
        return cipher_for(self.settings)

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.settings.database_url)

    @cached_property
    def cases(self) -> CaseStore:
        return CaseStore(self.engine, self.cipher)

    @cached_property
    def evidence(self) -> EvidenceStore:
        return EvidenceStore(self.engine, self.cipher)

    @cached_property
    def throttle(self) -> LookupThrottleStore:
        return LookupThrottleStore(self.engine, self.cipher)

    @cached_property
    def followup(self) -> Followup:
        return Followup(self.engine, self.cipher)

    @cached_property
    def digest(self) -> Digest:
        return Digest(self.engine, self.cipher, self.accounts)

    @cached_property
    def whatsapp_window(self) -> ContactWindow:
        return ContactWindow(self.engine, self.cipher)

    @cached_property
    def whatsapp_notices(self) -> NoticeSender | None:
        """The WhatsApp sender of notices; None without Graph API credentials."""
        current = self.settings
        if not (current.whatsapp_access_token and current.whatsapp_phone_number_id):
            return None
        client = GraphClient(
            current.whatsapp_api_url,
            current.whatsapp_access_token,
            current.whatsapp_phone_number_id,
        )
        return NoticeSender(
            client,
            self.whatsapp_window,
            current.whatsapp_notice_template,
            current.whatsapp_notice_language,
        )

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(
            self.engine,
            self.cipher,
            transport_for(self.settings, self.cipher),
            self.settings.smtp_from,
            max_attempts=self.settings.mail_max_attempts,
            whatsapp=self.whatsapp_notices,
        )

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.engine, self.cipher)

    @cached_property
    def accounts(self) -> AccountStore:
        return AccountStore(self.engine, self.cipher)

    @cached_property
    def desk(self) -> CaseDesk:
        return CaseDesk(self.engine, self.cipher, self.audit)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


_lock = threading.Lock()
_current: Wiring | None = None


def current() -> Wiring:
    """This process's services, from the environment's settings."""
    global _current
    with _lock:
        if _current is None:
            _current = Wiring(settings_module.load())
        return _current


def check() -> Wiring:
    """Validate the settings and the key now (at start-up), not at the first citizen."""
    wired = current()
    wired.cipher  # noqa: B018 - building it is the check
    if wired.settings.embedded:
        private_folder(wired.settings.var_dir)
    return wired


def reset() -> None:
    """Forget this process's services (tests that change the environment)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None


def umask_private() -> None:
    """Files this process creates are readable by the service user only."""
    os.umask(0o077)
