"""Several Harbour processes on one database: outbox claims, leases for duties
one process does at a time, the inbox of events accepted but not yet handled,
and when each open report next needs the timers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("reports", sa.Column("due_at", TIME, nullable=True))
    # Unknown until the timers look: due now, and put right on their first pass.
    op.execute("UPDATE reports SET due_at = filed_at WHERE status <> 'closed'")
    op.create_index(
        "reports_due", "reports", ["due_at"], postgresql_where=sa.text("status <> 'closed'")
    )
    op.add_column("outbox", sa.Column("claimed_by", sa.Text, nullable=True))
    op.add_column("outbox", sa.Column("claimed_until", TIME, nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("until", TIME, nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("person_key", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("doc", JSONB, nullable=False),
        sa.Column("instance", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("person_key", "event_id"),
    )
    op.create_index("inbox_by_age", "inbox", ["at"])


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("leases")
    op.drop_column("outbox", "claimed_until")
    op.drop_column("outbox", "claimed_by")
    op.drop_index("reports_due", "reports")
    op.drop_column("reports", "due_at")
