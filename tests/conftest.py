"""Shared fixtures: a migrated case store on SQLite and on PostgreSQL.

PostgreSQL runs on the development machines and in CI (127.0.0.1:5432, trust
auth). Each test session gets its own database, dropped at the end. Locally a
missing server skips those tests; in CI (``CI`` set) it fails them.
"""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.fernet import Fernet

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from buzon import crypto, db

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_database():
    import psycopg2

    name = f"buzon_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return admin, name, f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh, empty PostgreSQL database for this test session."""
    admin, name, url = _postgres_database()
    yield url
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """The URL of a migrated, empty case store of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cases.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db.migrate(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def cipher():
    return crypto.FieldCipher(Fernet.generate_key().decode())


class _Mailbox:
    """Collects what the test SMTP server receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _smtp_server():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, ("127.0.0.1", port, mailbox)


@pytest.fixture()
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free local port; yields (host, port, mailbox)."""
    controller, server = _smtp_server()
    yield server
    controller.stop()


@pytest.fixture(scope="module")
def module_smtp_server():
    """The same, shared by the tests of one module (the end-to-end servers)."""
    controller, server = _smtp_server()
    yield server
    controller.stop()


@pytest.fixture()
def wired(tmp_path, monkeypatch):
    """This process's :mod:`buzon.wiring` on a fresh SQLite database under ``tmp_path``.

    Returns a function that takes more environment variables and gives the Wiring.
    """
    from buzon import wiring

    def wire(**environment):
        url = environment.pop("DATABASE_URL", None) or f"sqlite:///{tmp_path / 'cases.db'}"
        db.migrate(url)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("BUZON_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv(
            "CASE_ENCRYPTION_KEY",
            environment.pop("CASE_ENCRYPTION_KEY", Fernet.generate_key().decode()),
        )
        for name in ("SMTP_HOST", "BUZON_DEFAULT_CHANNEL", "BUZON_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        return wiring.current()

    yield wire
    wiring.reset()


@pytest.fixture()
def evidence_reception_store(wired):
    """The channels' evidence store on a fresh SQLite database."""
    return wired().evidence
