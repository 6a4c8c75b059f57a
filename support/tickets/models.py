"""The shared core of the hometown-tax world: municipalities, suppliers, donors, orders, tickets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from support.db import Base, UtcDateTime, utcnow
from support.tickets.status import TicketStatus


class Municipality(Base):
    """A municipality (自治体) that entrusted its hometown-tax operations to us."""

    __tablename__ = "municipalities"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefecture: Mapped[str] = mapped_column(String(10))
    contact_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Supplier(Base):
    """A gift supplier (返礼品提供事業者) of one municipality."""

    __tablename__ = "suppliers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    fax: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    municipality: Mapped[Municipality] = relationship(lazy="raise")


class GiftItem(Base):
    """A return gift (返礼品) offered by a supplier."""

    __tablename__ = "gift_items"
    __table_args__ = (UniqueConstraint("supplier_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"), index=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Donor(Base):
    """A donor (寄附者). Every field but the id is personal data: reads are audited."""

    __tablename__ = "donors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(Text)
    municipality_of_residence: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Donation(Base):
    """A donation (寄附) to one municipality, identified by its donation number."""

    __tablename__ = "donations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    donation_no: Mapped[str] = mapped_column(String(40), unique=True)
    donor_id: Mapped[str] = mapped_column(ForeignKey("donors.id"), index=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    amount_yen: Mapped[int] = mapped_column(Integer)
    portal: Mapped[str | None] = mapped_column(String(60))
    donated_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Order(Base):
    """A gift order relayed to a supplier; unique per portal and order number."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("portal", "order_no"),
        Index("ix_orders_municipality_status", "municipality_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal: Mapped[str] = mapped_column(String(60))
    order_no: Mapped[str] = mapped_column(String(60), index=True)
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"), index=True)
    donor_id: Mapped[str] = mapped_column(ForeignKey("donors.id"), index=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"))
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"), index=True)
    gift_item_id: Mapped[int] = mapped_column(ForeignKey("gift_items.id"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    ordered_on: Mapped[date | None] = mapped_column(Date)
    shipped_on: Mapped[date | None] = mapped_column(Date)
    delivered_on: Mapped[date | None] = mapped_column(Date)
    carrier: Mapped[str | None] = mapped_column(String(60))
    tracking_no: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    donor: Mapped[Donor] = relationship(lazy="raise")
    donation: Mapped[Donation | None] = relationship(lazy="raise")
    gift_item: Mapped[GiftItem] = relationship(lazy="raise")
    supplier: Mapped[Supplier] = relationship(lazy="raise")


class Ticket(Base):
    """A case (inquiry or complaint) from any channel; a mail conversation is a ticket."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_activity", "status", "last_activity_at"),
        # The operator queue: one municipality's tickets of one status, soonest SLA due first,
        # and (partial) all its tickets not yet closed, in the same order.
        Index("ix_tickets_queue", "municipality_id", "status", "sla_due_at", "id"),
        Index(
            "ix_tickets_open_queue",
            "municipality_id",
            "sla_due_at",
            "id",
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(30), default="その他")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.OPEN.value, index=True)
    channel: Mapped[str] = mapped_column(String(20), default="operator")
    municipality_id: Mapped[str | None] = mapped_column(ForeignKey("municipalities.id"), index=True)
    donor_id: Mapped[str | None] = mapped_column(ForeignKey("donors.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    supplier_id: Mapped[str | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Bumped by every inbound message and note, so a reply begun before them can be refused.
    thread_version: Mapped[int] = mapped_column(Integer, default=0)
    # Idempotency key of the channel that opened it (e.g. "twilio:CA..."): opened once.
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    # The number a phone or voicemail came from (personal data: staff only, never logged).
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    callback_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # SLA (tickets.sla): the dues, when they were met, and the next due the queue sorts by.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolution_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sla_state: Mapped[str] = mapped_column(String(10), default="ok")
    # The next instant the SLA check must look at this ticket (a warning or a breach is due).
    sla_alert_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    # Alerts already raised, e.g. "first_response:warning": each is raised once.
    sla_alerts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Liability and cost bearer as confirmed by a person (the policy only suggests).
    carrier_at_fault: Mapped[bool | None] = mapped_column(Boolean)
    liability_bearer: Mapped[str | None] = mapped_column(String(20))
    liability_covers: Mapped[list[str]] = mapped_column(JSON, default=list)
    liability_note: Mapped[str | None] = mapped_column(Text)
    liability_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    liability_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TicketOrder(Base):
    """An order a ticket is about (a ticket may concern several)."""

    __tablename__ = "ticket_orders"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(20), default="operator")


class TicketTag(Base):
    """A free tag on a ticket."""

    __tablename__ = "ticket_tags"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class TicketNote(Base):
    """An internal note: never sent to the donor."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TicketEvent(Base):
    """One entry of a ticket's timeline: what happened, who did it, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SupplierNotice(Base):
    """A complaint forwarded to its supplier (mail or mail-to-fax), sent at most once."""

    __tablename__ = "supplier_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # "mail" or "fax"
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Our Message-ID: the supplier's reply threads back onto the ticket through it.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    # Whether the donor's name and address were included (only for a re-delivery).
    includes_address: Mapped[bool] = mapped_column(Boolean, default=False)
    # queued -> sending -> sent; "in_doubt" when the server may have it, "failed" when refused.
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TicketPresence(Base):
    """Who is looking at or writing in a ticket right now; rows expire unless refreshed."""

    __tablename__ = "ticket_presence"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    activity: Mapped[str] = mapped_column(String(10))  # "viewing" or "drafting"
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
