"""Personal data: incidents, legal holds, retention purges, donor requests (issue 10)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_purge_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("cutoff", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_purge_runs")),
    )
    with op.batch_alter_table("privacy_purge_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_purge_runs_ran_at"), ["ran_at"], unique=False)

    op.create_table(
        "privacy_donor_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("donor_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("received_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("executed_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("forward_status", sa.String(length=12), nullable=False),
        sa.Column("forward_recipient", sa.String(length=500), nullable=True),
        sa.Column("forward_error", sa.Text(), nullable=True),
        sa.Column("forwarded_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_privacy_donor_requests_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_privacy_donor_requests_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_privacy_donor_requests_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_donor_requests")),
    )
    with op.batch_alter_table("privacy_donor_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_donor_requests_donor_id"), ["donor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_privacy_donor_requests_municipality_id"),
            ["municipality_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_privacy_donor_requests_status"), ["status"], unique=False
        )

    op.create_table(
        "privacy_donor_request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_privacy_donor_request_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_donor_requests.id"],
            name=op.f("fk_privacy_donor_request_events_request_id_privacy_donor_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_donor_request_events")),
    )
    with op.batch_alter_table("privacy_donor_request_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_donor_request_events_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "privacy_legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("released_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_privacy_legal_holds_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_privacy_legal_holds_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_legal_holds")),
    )
    with op.batch_alter_table("privacy_legal_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_legal_holds_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "privacy_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source_message_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("discovered_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("prelim_due_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("final_due_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("prelim_reported_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("final_reported_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_privacy_incidents_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_privacy_incidents_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["mail_messages.id"],
            name=op.f("fk_privacy_incidents_source_message_id_mail_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incidents")),
    )
    with op.batch_alter_table("privacy_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_incidents_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_privacy_incidents_status"), ["status"], unique=False)

    op.create_table(
        "privacy_incident_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_privacy_incident_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incidents.id"],
            name=op.f("fk_privacy_incident_events_incident_id_privacy_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incident_events")),
    )
    with op.batch_alter_table("privacy_incident_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_incident_events_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "privacy_incident_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.String(length=40), nullable=True),
        sa.Column("data_items", sa.JSON(), nullable=False),
        sa.Column("found_in", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_privacy_incident_items_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incidents.id"],
            name=op.f("fk_privacy_incident_items_incident_id_privacy_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incident_items")),
    )
    with op.batch_alter_table("privacy_incident_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_incident_items_donor_id"), ["donor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_privacy_incident_items_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "privacy_incident_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("recipient", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incidents.id"],
            name=op.f("fk_privacy_incident_notices_incident_id_privacy_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incident_notices")),
        sa.UniqueConstraint(
            "incident_id", "kind", name=op.f("uq_privacy_incident_notices_incident_id_kind")
        ),
    )
    with op.batch_alter_table("privacy_incident_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_incident_notices_incident_id"), ["incident_id"], unique=False
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("privacy_incident_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_incident_notices_incident_id"))

    op.drop_table("privacy_incident_notices")
    with op.batch_alter_table("privacy_incident_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_incident_items_incident_id"))
        batch_op.drop_index(batch_op.f("ix_privacy_incident_items_donor_id"))

    op.drop_table("privacy_incident_items")
    with op.batch_alter_table("privacy_incident_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_incident_events_incident_id"))

    op.drop_table("privacy_incident_events")
    with op.batch_alter_table("privacy_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_incidents_status"))
        batch_op.drop_index(batch_op.f("ix_privacy_incidents_municipality_id"))

    op.drop_table("privacy_incidents")
    with op.batch_alter_table("privacy_legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_legal_holds_ticket_id"))

    op.drop_table("privacy_legal_holds")
    with op.batch_alter_table("privacy_donor_request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_donor_request_events_request_id"))

    op.drop_table("privacy_donor_request_events")
    with op.batch_alter_table("privacy_donor_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_donor_requests_status"))
        batch_op.drop_index(batch_op.f("ix_privacy_donor_requests_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_privacy_donor_requests_donor_id"))

    op.drop_table("privacy_donor_requests")
    with op.batch_alter_table("privacy_purge_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_purge_runs_ran_at"))

    op.drop_table("privacy_purge_runs")
    # ### end Alembic commands ###
