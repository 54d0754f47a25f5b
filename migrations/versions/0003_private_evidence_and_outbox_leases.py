"""evidence in the database under keyed hashes; outbox leases and dead letters;
evidence count as a number

Evidence files move from ``var/evidence/<sha256>`` into the ``evidence`` table
(still encrypted, the same Fernet token), indexed by a keyed hash instead of the
plain SHA-256; each file belongs to one registration (``batch_hash``) whose
quota row (``evidence_batches``) is counted atomically. Files already on disk
are moved in (this needs the case key, as every process does); a file that is
missing is dropped with its row. ``cases.evidence`` ("2 archivo(s)") becomes
``cases.evidence_count``. The outbox gets a lease and claim token, and keeps no
recipient or body after sending.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import hashlib
import hmac
import re
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _moved_evidence(connection):
    """The old rows with their file's token and keyed hash (needs the case key)."""
    rows = (
        connection.execute(
            sa.text(
                "SELECT id, conversation_hash, case_id, kind, size, sha256, name_enc, created_at "
                "FROM evidence"
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        return []
    from buzon import wiring

    wired = wiring.current()
    folder = Path(wired.settings.var_dir) / "evidence"
    content_key = wired.cipher.hash_key("evidence-content")
    moved = []
    for row in rows:
        path = folder / row["sha256"][:2] / row["sha256"]
        if not path.is_file():
            continue
        token = path.read_bytes()
        content = wired.cipher.decrypt_bytes(token)
        moved.append(
            {
                **row,
                "batch_hash": "legacy-" + row["conversation_hash"][:57],
                "content_hmac": hmac.new(content_key, content, hashlib.sha256).hexdigest(),
                "content_enc": token,
            }
        )
    return moved


def upgrade() -> None:
    connection = op.get_bind()
    moved = _moved_evidence(connection)

    op.drop_table("evidence")
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_hash", sa.String(length=64), nullable=False),
        sa.Column("batch_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_hmac", sa.String(length=64), nullable=False),
        sa.Column("content_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence") as batch_op:
        for column in ("conversation_hash", "batch_hash", "case_id", "content_hmac", "created_at"):
            batch_op.create_index(batch_op.f(f"ix_evidence_{column}"), [column], unique=False)
    if moved:
        table = sa.table(
            "evidence",
            *(
                sa.column(name)
                for name in (
                    "id",
                    "conversation_hash",
                    "batch_hash",
                    "case_id",
                    "kind",
                    "size",
                    "content_hmac",
                    "content_enc",
                    "name_enc",
                    "created_at",
                )
            ),
        )
        op.bulk_insert(
            table,
            [
                {
                    key: row[key]
                    for key in (
                        "id",
                        "conversation_hash",
                        "batch_hash",
                        "case_id",
                        "kind",
                        "size",
                        "content_hmac",
                        "content_enc",
                        "name_enc",
                        "created_at",
                    )
                }
                for row in moved
            ],
        )

    op.create_table(
        "evidence_batches",
        sa.Column("batch_hash", sa.String(length=64), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_hash"),
    )

    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(
            sa.Column("evidence_count", sa.Integer(), nullable=False, server_default="0")
        )
    for case_id, label in connection.execute(sa.text("SELECT id, evidence FROM cases")).all():
        count = re.match(r"\s*(\d+)", label or "")
        if count:
            connection.execute(
                sa.text("UPDATE cases SET evidence_count = :n WHERE id = :i"),
                {"n": int(count.group(1)), "i": case_id},
            )
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("evidence")

    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.alter_column("recipient_enc", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("body_enc", existing_type=sa.Text(), nullable=True)
    connection.execute(
        sa.text("UPDATE outbox SET recipient_enc = NULL, body_enc = NULL WHERE status = 'sent'")
    )


def downgrade() -> None:
    raise NotImplementedError("0003 moves evidence into the database; restore a backup instead")
