"""Harbour's tables: conversations, reports and their drafts and numbers, the
outbox, records, and the probe `check_writable` writes.

Revision ID: 0001
Revises:
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

NOW = sa.text("now()")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("person_key", sa.Text, primary_key=True),
        sa.Column("session", JSONB, nullable=True),
        sa.Column("seen", sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("updated_at", TIME, nullable=False, server_default=NOW),
    )
    op.create_table(
        "reports",
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("reference", sa.Text, nullable=False, unique=True),
        sa.Column("reporter_key", sa.Text, nullable=False),
        sa.Column("filed_at", TIME, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("doc", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("year", "seq"),
    )
    op.create_index("reports_by_reporter", "reports", ["reporter_key", "filed_at"])
    op.create_index(
        "reports_open", "reports", ["year", "seq"], postgresql_where=sa.text("status <> 'closed'")
    )
    op.create_table(
        "report_drafts",
        sa.Column("draft_id", sa.Text, primary_key=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["year", "seq"], ["reports.year", "reports.seq"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "report_numbers",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.CheckConstraint("last >= 0", name="report_numbers_last_check"),
    )
    op.create_table(
        "outbox",
        sa.Column("n", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("reference", sa.Text, nullable=True),
        sa.Column("doc", JSONB, nullable=False),
        sa.Column("delivered_at", TIME, nullable=True),
    )
    op.create_index(
        "outbox_pending", "outbox", ["at", "n"], postgresql_where=sa.text("delivered_at IS NULL")
    )
    op.create_table(
        "records",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("value", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_index("records_in_order", "records", ["kind", "n"])
    op.create_table(
        "writable_probe",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "writable_probe",
        "records",
        "outbox",
        "report_numbers",
        "report_drafts",
        "reports",
        "conversations",
    ):
        op.drop_table(table)
