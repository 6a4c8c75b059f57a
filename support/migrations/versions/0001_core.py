"""core tables

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
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("municipality_id", sa.String(length=40), nullable=False),
        sa.Column("donor_id", sa.String(length=40), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("supplier_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", support.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_tickets_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_tickets_donor_id_donors")
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
        batch_op.create_index(batch_op.f("ix_tickets_donor_id"), ["donor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tickets_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_supplier_id"), ["supplier_id"], unique=False)

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
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_status"))
        batch_op.drop_index(batch_op.f("ix_tickets_order_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_donor_id"))

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
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_run_at"))
        batch_op.drop_index(batch_op.f("ix_jobs_kind"))

    op.drop_table("jobs")
    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donors_email"))

    op.drop_table("donors")
