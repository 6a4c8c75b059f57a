"""The shared core of the hometown-tax world: municipalities, suppliers, donors, orders, tickets."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from support.db import Base, UtcDateTime, utcnow


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
    """A case (inquiry or complaint) about a donor, scoped to one municipality."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(30), default="その他")
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    channel: Mapped[str] = mapped_column(String(20), default="operator")
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    donor_id: Mapped[str | None] = mapped_column(ForeignKey("donors.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    supplier_id: Mapped[str | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
