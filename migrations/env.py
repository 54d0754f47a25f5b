"""Alembic environment: the case store's metadata, the URL from settings."""

from alembic import context

from buzon import schema, settings
from buzon.db import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or settings.load().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=schema.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which the
            # foreign keys pointing at it (outbox, evidence, timeline…) refuse while they
            # are enforced: off for the migration (outside its transaction, as SQLite
            # requires), then every reference checked before it is committed.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end the transaction the statement began
        context.configure(
            connection=connection, target_metadata=schema.metadata, render_as_batch=sqlite
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke {len(broken)} references")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
