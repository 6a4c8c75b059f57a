"""Municipality reports: immediate notices and monthly reports (issue 5)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "municipality_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_municipality_notices_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_municipality_notices_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipality_notices")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_municipality_notices_ticket_id")),
    )
    with op.batch_alter_table("municipality_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_municipality_notices_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "municipality_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("ticket_count", sa.Integer(), nullable=False),
        sa.Column("generated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("csv_data", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("mail_status", sa.String(length=12), nullable=True),
        sa.Column("mail_recipient", sa.String(length=254), nullable=True),
        sa.Column("mail_message_id", sa.String(length=200), nullable=True),
        sa.Column("mail_error", sa.Text(), nullable=True),
        sa.Column("mailed_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_municipality_reports_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipality_reports")),
        sa.UniqueConstraint(
            "municipality_id", "month", name=op.f("uq_municipality_reports_municipality_id_month")
        ),
    )
    with op.batch_alter_table("municipality_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_municipality_reports_municipality_id"), ["municipality_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("municipality_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_municipality_reports_municipality_id"))
    op.drop_table("municipality_reports")
    with op.batch_alter_table("municipality_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_municipality_notices_municipality_id"))
    op.drop_table("municipality_notices")
