"""Fixtures for the action tests: the domain and the services on a test database."""
from __future__ import annotations

import base64

import pytest

from actions import services
from tests.actions.helpers import DOMAIN

SERVICE_FUNCTIONS = (services.settings, services.store, services.throttle, services.outbox,
                     services.evidence)


@pytest.fixture(scope="session")
def domain():
    return DOMAIN


def _clear_services():
    """Forget the cached services, closing the database connections they hold."""
    if services.store.cache_info().currsize:
        services.store().engine.dispose()
    if services.outbox.cache_info().currsize:
        services.outbox()._session.kw["bind"].dispose()
    for function in SERVICE_FUNCTIONS:
        function.cache_clear()


@pytest.fixture()
def live_services(database_url, cipher, tmp_path, monkeypatch):
    """``actions.services`` on the test database, mail written under ``tmp_path/mail``.

    The encryption key is the session's ``cipher`` key: every test of the
    session shares the database and its outbox, and whichever test delivers the
    queued e-mails must be able to decrypt all of them.
    """
    key = base64.urlsafe_b64encode(cipher._master).decode()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BUZON_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASE_ENCRYPTION_KEY", key)
    for name in ("SMTP_HOST", "BUZON_DEFAULT_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    _clear_services()
    yield services
    _clear_services()
