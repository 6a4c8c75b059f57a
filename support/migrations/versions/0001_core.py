"""Core tables: municipalities, suppliers, donors, orders, users, audit, jobs, tickets, mail

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import support.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "donors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kana", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("municipality_of_residence", sa.String(length=100), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donors")),
    )
    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_donors_email"), ["email"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("run_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_run_at"), ["run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    op.create_table(
        "mail_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("resyncs", sa.Integer(), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_cursors")),
        sa.UniqueConstraint("account", "folder", name=op.f("uq_mail_cursors_account_folder")),
    )
    op.create_table(
        "municipalities",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefecture", sa.String(length=10), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipalities")),
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    op.create_table(
        "donations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donation_no", sa.String(length=40), nullable=False),
        sa.Column("donor_id", sa.String(length=40), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("amount_yen", sa.Integer(), nullable=False),
        sa.Column("portal", sa.String(length=60), nullable=True),
        sa.Column("donated_on", sa.Date(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_donations_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_donations_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
        sa.UniqueConstraint("donation_no", name=op.f("uq_donations_donation_no")),
    )
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_donations_donor_id"), ["donor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_donations_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "suppliers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("fax", sa.String(length=40), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_suppliers_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
    )
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suppliers_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "gift_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_gift_items_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_gift_items_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_items")),
        sa.UniqueConstraint("supplier_id", "name", name=op.f("uq_gift_items_supplier_id_name")),
    )
    with op.batch_alter_table("gift_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gift_items_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_gift_items_supplier_id"), ["supplier_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=True),
        sa.Column("supplier_id", sa.String(length=40), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_users_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(["role"], ["roles.name"], name=op.f("fk_users_role_roles")),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_users_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=60), nullable=True),
        sa.Column("donor_id", sa.String(length=40), nullable=True),
        sa.Column("municipality_id", sa.String(length=40), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_audit_events_actor_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_donor_at", ["donor_id", "occurred_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_user_at", ["actor_user_id", "occurred_at"], unique=False
        )

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_sessions_token_hash")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal", sa.String(length=60), nullable=False),
        sa.Column("order_no", sa.String(length=60), nullable=False),
        sa.Column("donation_id", sa.Integer(), nullable=True),
        sa.Column("donor_id", sa.String(length=40), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("gift_item_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=True),
        sa.Column("shipped_on", sa.Date(), nullable=True),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.Column("carrier", sa.String(length=60), nullable=True),
        sa.Column("tracking_no", sa.String(length=60), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donation_id"], ["donations.id"], name=op.f("fk_orders_donation_id_donations")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_orders_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["gift_item_id"], ["gift_items.id"], name=op.f("fk_orders_gift_item_id_gift_items")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_orders_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_orders_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("portal", "order_no", name=op.f("uq_orders_portal_order_no")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_donation_id"), ["donation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_donor_id"), ["donor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_gift_item_id"), ["gift_item_id"], unique=False)
        batch_op.create_index(
            "ix_orders_municipality_status", ["municipality_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_order_no"), ["order_no"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=True),
        sa.Column("donor_id", sa.String(length=40), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("supplier_id", sa.String(length=40), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("thread_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_tickets_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_tickets_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_tickets_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["tickets.id"], name=op.f("fk_tickets_merged_into_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_tickets_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_tickets_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_tickets_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_donor_id"), ["donor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tickets_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_tickets_status_activity", ["status", "last_activity_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("from_addr", sa.String(length=320), nullable=True),
        sa.Column("from_name", sa.Text(), nullable=True),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("cc_addrs", sa.JSON(), nullable=False),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sent_at", support.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("received_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("is_auto", sa.Boolean(), nullable=False),
        sa.Column("auto_kind", sa.String(length=20), nullable=True),
        sa.Column("parse_failed", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("raw_size", sa.BigInteger(), nullable=False),
        sa.Column("bounce_of_id", sa.Integer(), nullable=True),
        sa.Column("bounced", sa.Boolean(), nullable=False),
        sa.Column("send_status", sa.String(length=12), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bounce_of_id"],
            ["mail_messages.id"],
            name=op.f("fk_mail_messages_bounce_of_id_mail_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_mail_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_messages_dedupe_key")),
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_messages_from_addr"), ["from_addr"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_messages_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mail_messages_parse_failed"), ["parse_failed"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mail_messages_send_status"), ["send_status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_messages_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(
            "ix_mail_messages_ticket_received", ["ticket_id", "received_at"], unique=False
        )

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_events_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_ticket_notes_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_notes_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_notes")),
    )
    with op.batch_alter_table("ticket_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_notes_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_orders",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_ticket_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_orders_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "order_id", name=op.f("pk_ticket_orders")),
    )
    with op.batch_alter_table("ticket_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_orders_order_id"), ["order_id"], unique=False)

    op.create_table(
        "ticket_presence",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("activity", sa.String(length=10), nullable=False),
        sa.Column("expires_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_presence_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ticket_presence_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_presence")),
    )
    with op.batch_alter_table("ticket_presence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_presence_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "ticket_tags",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_tags_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "tag", name=op.f("pk_ticket_tags")),
    )
    with op.batch_alter_table("ticket_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.String(length=998), nullable=True),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("part_index", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["mail_messages.id"],
            name=op.f("fk_mail_attachments_message_id_mail_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_attachments")),
    )
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_attachments_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "mail_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("in_reply_to_id", sa.Integer(), nullable=True),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("cc_addrs", sa.JSON(), nullable=False),
        sa.Column("bcc_addrs", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=False),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_mail_drafts_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["in_reply_to_id"],
            ["mail_messages.id"],
            name=op.f("fk_mail_drafts_in_reply_to_id_mail_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_mail_drafts_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_drafts")),
    )
    with op.batch_alter_table("mail_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_drafts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_drafts_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "mail_raw",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["mail_messages.id"],
            name=op.f("fk_mail_raw_message_id_mail_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_mail_raw")),
    )

    roles = sa.table("roles", sa.column("name", sa.String), sa.column("label", sa.String))
    op.bulk_insert(
        roles,
        [
            {"name": "operator", "label": "オペレーター"},
            {"name": "supervisor", "label": "スーパーバイザー"},
            {"name": "admin", "label": "管理者"},
            {"name": "municipality", "label": "自治体担当者"},
            {"name": "supplier", "label": "返礼品提供事業者"},
        ],
    )


def downgrade() -> None:
    op.drop_table("mail_raw")
    with op.batch_alter_table("mail_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_drafts_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_mail_drafts_status"))

    op.drop_table("mail_drafts")
    with op.batch_alter_table("mail_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_attachments_message_id"))

    op.drop_table("mail_attachments")
    with op.batch_alter_table("ticket_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_tags_tag"))

    op.drop_table("ticket_tags")
    with op.batch_alter_table("ticket_presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_presence_expires_at"))

    op.drop_table("ticket_presence")
    with op.batch_alter_table("ticket_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_orders_order_id"))

    op.drop_table("ticket_orders")
    with op.batch_alter_table("ticket_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_notes_ticket_id"))

    op.drop_table("ticket_notes")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_events_ticket_id"))

    op.drop_table("ticket_events")
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_messages_ticket_received")
        batch_op.drop_index(batch_op.f("ix_mail_messages_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_mail_messages_send_status"))
        batch_op.drop_index(batch_op.f("ix_mail_messages_parse_failed"))
        batch_op.drop_index(batch_op.f("ix_mail_messages_message_id"))
        batch_op.drop_index(batch_op.f("ix_mail_messages_from_addr"))

    op.drop_table("mail_messages")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_supplier_id"))
        batch_op.drop_index("ix_tickets_status_activity")
        batch_op.drop_index(batch_op.f("ix_tickets_status"))
        batch_op.drop_index(batch_op.f("ix_tickets_order_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_donor_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_assignee_id"))

    op.drop_table("tickets")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_orders_order_no"))
        batch_op.drop_index("ix_orders_municipality_status")
        batch_op.drop_index(batch_op.f("ix_orders_gift_item_id"))
        batch_op.drop_index(batch_op.f("ix_orders_donor_id"))
        batch_op.drop_index(batch_op.f("ix_orders_donation_id"))

    op.drop_table("orders")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_auth_sessions_expires_at"))

    op.drop_table("auth_sessions")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_user_at")
        batch_op.drop_index(batch_op.f("ix_audit_events_municipality_id"))
        batch_op.drop_index("ix_audit_events_donor_at")

    op.drop_table("audit_events")
    op.drop_table("users")
    with op.batch_alter_table("gift_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gift_items_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_gift_items_municipality_id"))

    op.drop_table("gift_items")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppliers_municipality_id"))

    op.drop_table("suppliers")
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donations_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_donations_donor_id"))

    op.drop_table("donations")
    op.drop_table("roles")
    op.drop_table("municipalities")
    op.drop_table("mail_cursors")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_run_at"))
        batch_op.drop_index(batch_op.f("ix_jobs_kind"))

    op.drop_table("jobs")
    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donors_email"))

    op.drop_table("donors")
