"""Outbound mail: drafts, approvals, send attempts (issue 4)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("message_hash", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_mail_approvals_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["mail_drafts.id"],
            name=op.f("fk_mail_approvals_draft_id_mail_drafts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["override_by"], ["users.id"], name=op.f("fk_mail_approvals_override_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_mail_approvals_submitted_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_mail_approvals_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_approvals")),
    )
    op.create_index(
        op.f("ix_mail_approvals_decision"), "mail_approvals", ["decision"], unique=False
    )
    op.create_index(
        op.f("ix_mail_approvals_draft_id"), "mail_approvals", ["draft_id"], unique=False
    )
    op.create_index(
        op.f("ix_mail_approvals_ticket_id"), "mail_approvals", ["ticket_id"], unique=False
    )
    op.create_table(
        "mail_draft_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["mail_drafts.id"],
            name=op.f("fk_mail_draft_attachments_draft_id_mail_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_draft_attachments")),
    )
    op.create_index(
        op.f("ix_mail_draft_attachments_draft_id"),
        "mail_draft_attachments",
        ["draft_id"],
        unique=False,
    )
    op.create_table(
        "mail_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("message_hash", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("send_after", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("charset", sa.String(length=20), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("outbound_id", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["mail_approvals.id"],
            name=op.f("fk_mail_sends_approval_id_mail_approvals"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_mail_sends_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["mail_drafts.id"],
            name=op.f("fk_mail_sends_draft_id_mail_drafts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbound_id"],
            ["mail_messages.id"],
            name=op.f("fk_mail_sends_outbound_id_mail_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_mail_sends_resolved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_mail_sends_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_sends")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_sends_message_id")),
    )
    op.create_index(op.f("ix_mail_sends_draft_id"), "mail_sends", ["draft_id"], unique=False)
    op.create_index(op.f("ix_mail_sends_status"), "mail_sends", ["status"], unique=False)
    op.create_index(op.f("ix_mail_sends_ticket_id"), "mail_sends", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_sends_ticket_id"), table_name="mail_sends")
    op.drop_index(op.f("ix_mail_sends_status"), table_name="mail_sends")
    op.drop_index(op.f("ix_mail_sends_draft_id"), table_name="mail_sends")
    op.drop_table("mail_sends")
    op.drop_index(op.f("ix_mail_draft_attachments_draft_id"), table_name="mail_draft_attachments")
    op.drop_table("mail_draft_attachments")
    op.drop_index(op.f("ix_mail_approvals_ticket_id"), table_name="mail_approvals")
    op.drop_index(op.f("ix_mail_approvals_draft_id"), table_name="mail_approvals")
    op.drop_index(op.f("ix_mail_approvals_decision"), table_name="mail_approvals")
    op.drop_table("mail_approvals")
