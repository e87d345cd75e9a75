"""Object storage and tracing: bytes stored per stem set and export (storage metrics from
rows), the request id that created each job (logs follow it to the worker), and the deletions
the store has not confirmed yet (retried by the collector)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_table(
        "blob_deletions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_blob_deletions_next_attempt_at", "blob_deletions", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_blob_deletions_next_attempt_at", table_name="blob_deletions")
    op.drop_table("blob_deletions")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("request_id")
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_column("request_id")
        batch_op.drop_column("stored_bytes")
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
