"""Fixtures for the action tests: the domain and the services on a test database."""

from __future__ import annotations

import pytest

from actions import services
from buzon import wiring
from tests.actions.helpers import DOMAIN


@pytest.fixture(scope="session")
def domain():
    return DOMAIN


@pytest.fixture(scope="session")
def quiet_database(tmp_path_factory):
    """A migrated SQLite case store for the tests that touch it only in passing."""
    from buzon import db

    url = f"sqlite:///{tmp_path_factory.mktemp('quiet') / 'cases.db'}"
    db.migrate(url)
    return url


@pytest.fixture(autouse=True)
def isolated_services(quiet_database, tmp_path, monkeypatch, cipher):
    """Every action test talks to a test database, never to the repository's var/."""
    monkeypatch.setenv("DATABASE_URL", quiet_database)
    monkeypatch.setenv("BUZON_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CASE_ENCRYPTION_KEY", cipher.configured)
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture()
def live_services(database_url, cipher, tmp_path, monkeypatch):
    """``actions.services`` on the test database, mail written under ``tmp_path/var/mail``.

    The encryption key is the session's ``cipher`` key: every test of the
    session shares the database and its outbox, and whichever test delivers the
    queued e-mails must be able to decrypt all of them.
    """
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BUZON_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CASE_ENCRYPTION_KEY", cipher.configured)
    for name in ("SMTP_HOST", "BUZON_DEFAULT_CHANNEL", "BUZON_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    wiring.reset()
    yield services
    wiring.reset()
