"""Evidence files: the screenshots and documents a worker keeps on her case,
sealed, by case and SHA-256, erased with the case (by the foreign key).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("reference", "sha256"),
        sa.ForeignKeyConstraint(["reference"], ["reports.reference"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("evidence_files")
