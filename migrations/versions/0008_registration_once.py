"""a registration is stored once: the conversation and registration id, keyed-hashed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_cases_registration_hash", ["registration_hash"])


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cases_registration_hash", type_="unique")
        batch_op.drop_column("registration_hash")
