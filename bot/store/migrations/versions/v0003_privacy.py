"""Data protection: the audit chains, when each closed report was closed, when
each saved conversation last changed, and delivery records found by their event.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)
LOOKS_LIKE_A_TIME = r"'^\d{4}-\d{2}-\d{2}T'"
"""What a time Harbour wrote looks like: anything else is left to the store to
work out (a failed cast would fail the whole migration)."""


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("doc", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("chain", "n"),
    )

    op.add_column("reports", sa.Column("closed_at", TIME, nullable=True))
    # A closed report that says when (in clear) is filled from that; an unsealed
    # one written before the field existed from its last "closed" timeline entry
    # (as `Report` reads it), else when it was filed. A sealed one is left NULL:
    # its timeline needs the key, so `PostgresStore.references` reads it once
    # and fills it in.
    op.execute(
        f"""
        UPDATE reports SET closed_at = CAST(doc ->> 'closed_at' AS timestamptz)
        WHERE status = 'closed' AND doc ->> 'closed_at' ~ {LOOKS_LIKE_A_TIME}
        """
    )
    op.execute(
        f"""
        UPDATE reports SET closed_at = coalesce(
            (
                SELECT CAST(entry ->> 'at' AS timestamptz)
                FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(doc -> 'timeline') = 'array'
                         THEN doc -> 'timeline' ELSE '[]'::jsonb END
                ) WITH ORDINALITY AS timeline(entry, i)
                WHERE entry ->> 'action' = 'closed' AND entry ->> 'at' ~ {LOOKS_LIKE_A_TIME}
                ORDER BY i DESC
                LIMIT 1
            ),
            filed_at
        )
        WHERE status = 'closed' AND closed_at IS NULL
          AND NOT doc ? 'sealed' AND NOT doc ? 'closed_at'
        """
    )
    op.create_index(
        "reports_closed", "reports", ["closed_at"], postgresql_where=sa.text("status = 'closed'")
    )

    op.add_column("conversations", sa.Column("session_at", TIME, nullable=True))
    op.execute(
        f"""
        UPDATE conversations
        SET session_at = CAST(session ->> 'updated_at' AS timestamptz)
        WHERE session ->> 'updated_at' ~ {LOOKS_LIKE_A_TIME}
        """
    )
    # A conversation whose time cannot be read counts as changed when the
    # store last wrote it.
    op.execute(
        "UPDATE conversations SET session_at = updated_at "
        "WHERE session IS NOT NULL AND session_at IS NULL"
    )
    op.create_index(
        "conversations_idle",
        "conversations",
        ["session_at"],
        postgresql_where=sa.text("session_at IS NOT NULL"),
    )

    op.create_index(
        "records_by_event",
        "records",
        [sa.text("split_part(key, ':', 1)")],
        postgresql_where=sa.text("kind = 'deliveries'"),
    )


def downgrade() -> None:
    op.drop_index("records_by_event", "records")
    op.drop_index("conversations_idle", "conversations")
    op.drop_column("conversations", "session_at")
    op.drop_index("reports_closed", "reports")
    op.drop_column("reports", "closed_at")
    op.drop_table("audit")
