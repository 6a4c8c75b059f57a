"""Complaints: categories, supplier notices, reports, escalations (issue 5)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OPEN = sa.text("status <> 'closed'")


def upgrade() -> None:
    op.create_table(
        "supplier_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("includes_address", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("replied_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_supplier_notices_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_notices_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_supplier_notices_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_notices")),
        sa.UniqueConstraint("message_id", name=op.f("uq_supplier_notices_message_id")),
    )
    with op.batch_alter_table("supplier_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_notices_supplier_id"), ["supplier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supplier_notices_ticket_id"), ["ticket_id"], unique=False
        )

    when = support.db.UtcDateTime(timezone=True)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=True))
        for name in (
            "callback_due_at",
            "first_response_due_at",
            "resolution_due_at",
            "first_response_at",
            "resolved_at",
            "sla_due_at",
            "sla_alert_at",
        ):
            batch_op.add_column(sa.Column(name, when, nullable=True))
        batch_op.add_column(
            sa.Column("sla_state", sa.String(length=10), nullable=False, server_default="ok")
        )
        batch_op.add_column(
            sa.Column("sla_alerts", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("carrier_at_fault", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("liability_bearer", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("liability_covers", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("liability_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("liability_confirmed_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("liability_confirmed_at", when, nullable=True))
        # The operator queue (bench/ticket_queue.py): one status, or every status but closed.
        batch_op.create_index(batch_op.f("ix_tickets_sla_alert_at"), ["sla_alert_at"], unique=False)
        batch_op.create_index(
            "ix_tickets_queue", ["municipality_id", "status", "sla_due_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_tickets_open_queue",
            ["municipality_id", "sla_due_at", "id"],
            unique=False,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        )
        batch_op.create_unique_constraint(batch_op.f("uq_tickets_external_ref"), ["external_ref"])
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_liability_confirmed_by_users"),
            "users",
            ["liability_confirmed_by"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tickets_liability_confirmed_by_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_tickets_external_ref"), type_="unique")
        batch_op.drop_index("ix_tickets_open_queue")
        batch_op.drop_index("ix_tickets_queue")
        batch_op.drop_index(batch_op.f("ix_tickets_sla_alert_at"))
        for name in (
            "liability_confirmed_at",
            "liability_confirmed_by",
            "liability_note",
            "liability_covers",
            "liability_bearer",
            "carrier_at_fault",
            "sla_alerts",
            "sla_state",
            "sla_alert_at",
            "sla_due_at",
            "resolved_at",
            "first_response_at",
            "resolution_due_at",
            "first_response_due_at",
            "callback_due_at",
            "contact_phone",
            "external_ref",
        ):
            batch_op.drop_column(name)

    with op.batch_alter_table("supplier_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_notices_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_supplier_notices_supplier_id"))
    op.drop_table("supplier_notices")
