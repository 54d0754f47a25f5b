"""The deploy step of the production topology: migrations once, as the owner, then grants.

``scripts/run-production.sh`` runs it before any server starts; no runtime process
migrates or creates a table, and the role they run as (``DATABASE_URL``'s user,
``TRACKER_DB_USER``) may only read and write rows (``deploy/roles.sql``).

1. With ``BUZON_DB_ADMIN_URL`` (a one-machine demo, the tests): create the owner
   and runtime roles and the two databases when missing, with the users and
   passwords of the URLs below. Without it a database administrator has done so.
2. As the owner (``DATABASE_MIGRATION_URL``): Alembic brings the case database to
   the newest revision.
3. As the owner (``TRACKER_MIGRATION_URL``): the conversations table of the
   encrypted tracker store. Rasa's SQL tracker store calls ``create_all`` when it
   starts; it then finds the table and creates nothing.
4. In each database, as the owner: ``deploy/roles.sql`` for the runtime role; the
   runtime role may read ``alembic_version`` but not change it.

Passwords come only from the environment (in the URLs), never from the command line.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from buzon import db  # noqa: E402

ROLES_SQL = Path(__file__).with_name("roles.sql")
PSQL_VARIABLE = re.compile(r':"([a-z_]+)"')
REQUIRED = ("DATABASE_MIGRATION_URL", "DATABASE_URL", "TRACKER_MIGRATION_URL", "TRACKER_DB_USER")


def _parts(url: str) -> tuple[str, str, str]:
    """User, password and database of a PostgreSQL URL."""
    parts = urlsplit(url)
    return unquote(parts.username or ""), unquote(parts.password or ""), parts.path.lstrip("/")


def _connect(url: str):
    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def create_roles_and_databases(admin_url: str, environ: dict) -> None:
    owner, owner_password, cases_db = _parts(environ["DATABASE_MIGRATION_URL"])
    runtime, runtime_password, _ = _parts(environ["DATABASE_URL"])
    _, _, tracker_db = _parts(environ["TRACKER_MIGRATION_URL"])
    admin = _connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        for role, password in ((owner, owner_password), (runtime, runtime_password)):
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)),
                (password or None,),
            )
        for name in (cases_db, tracker_db):
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(owner)
                    )
                )
    admin.close()


def create_tracker_table(owner_url: str) -> None:
    from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore

    engine = db.make_engine(owner_url)
    EncryptedSQLTrackerStore.Base.metadata.create_all(engine)
    engine.dispose()


def grant_runtime(owner_url: str, runtime_role: str) -> None:
    _, _, database = _parts(owner_url)
    names = {"runtime_role": runtime_role, "database": database}
    lines = [line for line in ROLES_SQL.read_text().splitlines() if not line.startswith("--")]
    statements = PSQL_VARIABLE.sub(lambda found: "{" + found.group(1) + "}", "\n".join(lines))
    connection = _connect(owner_url)
    with connection, connection.cursor() as cursor:
        for statement in statements.split(";"):
            text = statement.strip()
            if text:
                identifiers = {key: sql.Identifier(value) for key, value in names.items()}
                cursor.execute(sql.SQL(text).format(**identifiers))
        cursor.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {}").format(
                    sql.Identifier(runtime_role)
                )
            )
    connection.close()


def main(environ: dict | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        print(f"prepare_databases: not set: {' '.join(missing)}", file=sys.stderr)
        return 2
    if environ.get("BUZON_DB_ADMIN_URL"):
        create_roles_and_databases(environ["BUZON_DB_ADMIN_URL"], environ)
    runtime_role = _parts(environ["DATABASE_URL"])[0]
    if runtime_role != environ["TRACKER_DB_USER"]:
        print("prepare_databases: DATABASE_URL's user must be TRACKER_DB_USER", file=sys.stderr)
        return 2
    db.migrate(environ["DATABASE_MIGRATION_URL"])
    create_tracker_table(environ["TRACKER_MIGRATION_URL"])
    for owner_url in (environ["DATABASE_MIGRATION_URL"], environ["TRACKER_MIGRATION_URL"]):
        grant_runtime(owner_url, runtime_role)
    print("databases ready: migrated as the owner, rows only for", runtime_role)
    return 0


if __name__ == "__main__":
    sys.exit(main())
