"""the citizen's follow-up (grants, answers, ratings), deadlines (first action, closing),
WhatsApp notices and their 24-hour window, the daily digest

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:25:48.375586
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("area", "day"),
    )
    op.create_table(
        "whatsapp_contacts",
        sa.Column("wa_hash", sa.String(length=64), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wa_hash"),
    )
    op.create_table(
        "followup_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("followup_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_followup_grants_conversation_hash"), ["conversation_hash"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("whatsapp_id_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("first_action_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("has_news", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="email")
        )
        batch_op.alter_column("case_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("channel")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("rated_at")
        batch_op.drop_column("rating")
        batch_op.drop_column("has_news")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("first_action_at")
        batch_op.drop_column("whatsapp_id_enc")

    with op.batch_alter_table("followup_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_grants_conversation_hash"))

    op.drop_table("followup_grants")
    op.drop_table("whatsapp_contacts")
    op.drop_table("digest_runs")
