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
        context.configure(
            connection=connection,
            target_metadata=schema.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
