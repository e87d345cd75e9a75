"""Practice tools: the analysis of a stem set (tempo, beats, key), the owner's corrections
of it on the project, and named mixes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("analysis", sa.JSON(), nullable=True))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("analysis_override", sa.JSON(), nullable=True))
    op.create_table(
        "mixes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("opened_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_mixes_project_name"),
    )
    op.create_index("ix_mixes_project_id", "mixes", ["project_id"])
    op.create_index("ix_mixes_owner_id", "mixes", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_mixes_owner_id", table_name="mixes")
    op.drop_index("ix_mixes_project_id", table_name="mixes")
    op.drop_table("mixes")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("analysis_override")
    with op.batch_alter_table("stem_sets", schema=None) as batch_op:
        batch_op.drop_column("analysis")
