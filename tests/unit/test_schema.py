"""The one Alembic history builds exactly the tables the models describe."""

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from buzon import schema


def test_the_migrations_match_the_models(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert differences == []


@pytest.mark.parametrize("start", ["0005", "0006"])
def test_a_database_holding_cases_is_upgraded_to_the_newest_revision(tmp_path, cipher, start):
    """SQLite rebuilds a table to alter it; the cases referenced by the outbox, the
    evidence and the timeline must survive that (migrations 0006 to 0008 do it)."""
    from alembic import command
    from sqlalchemy import text

    from buzon import db
    from buzon.cases.store import CaseStore
    from tests.unit.test_case_store import draft

    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    registered = CaseStore(engine, cipher).register(draft(consent_at=datetime.utcnow()))
    command.downgrade(db.alembic_config(url), start)  # a database of that revision, with a case
    engine.dispose()
    db.migrate(url)
    engine = db.make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT number FROM cases")).scalars().all() == [
            registered.number
        ]
        assert connection.execute(text("SELECT count(*) FROM outbox")).scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert CaseStore(engine, cipher).reveal(registered.number)["cedula"] == draft().cedula
