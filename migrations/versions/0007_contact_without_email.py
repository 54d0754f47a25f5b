"""a case may come without an e-mail (WhatsApp cases): the contact the citizen chose

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("email_enc", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(
            sa.Column(
                "contact_preference", sa.String(length=16), nullable=False, server_default="email"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("contact_preference")
        batch_op.alter_column("email_enc", existing_type=sa.Text(), nullable=False)
