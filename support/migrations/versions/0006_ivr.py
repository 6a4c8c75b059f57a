"""IVR: call state, call log (issue 7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ivr_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("municipality_id", sa.String(length=40), nullable=True),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("webhooks", sa.Integer(), nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("wrong_tries", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("started_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_ivr_calls_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ivr_calls_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_ivr_calls_call_sid")),
    )
    with op.batch_alter_table("ivr_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ivr_calls_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ivr_calls_outcome"), ["outcome"], unique=False)
        batch_op.create_index("ix_ivr_calls_started", ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ivr_calls_ticket_id"), ["ticket_id"], unique=False)
    op.create_table(
        "ivr_call_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["ivr_calls.id"],
            name=op.f("fk_ivr_call_events_call_id_ivr_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_call_events")),
    )
    with op.batch_alter_table("ivr_call_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_call_events_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ivr_call_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_call_events_call_id"))
    op.drop_table("ivr_call_events")
    with op.batch_alter_table("ivr_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_calls_ticket_id"))
        batch_op.drop_index("ix_ivr_calls_started")
        batch_op.drop_index(batch_op.f("ix_ivr_calls_outcome"))
        batch_op.drop_index(batch_op.f("ix_ivr_calls_municipality_id"))
    op.drop_table("ivr_calls")
