"""status codes in English, like every other identifier (their Spanish words live in
buzon/data/messages.yml)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RENAMED = {
    "registrado": "registered",
    "en_analisis": "in_review",
    "informacion_requerida": "information_requested",
    "resuelto": "resolved",
    "archivado": "archived",
}


def _rename(mapping: dict) -> None:
    for old, new in mapping.items():
        op.get_bind().execute(
            sa.text("UPDATE cases SET status = :new WHERE status = :old"), {"old": old, "new": new}
        )


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
