"""stem_sets.previews_pending: the MP3 previews are encoded after the project is ready, when
the worker has no separation to run

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("previews_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index("ix_stem_sets_previews_pending", ["previews_pending"])


def downgrade() -> None:
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_stem_sets_previews_pending")
        batch_op.drop_column("previews_pending")
