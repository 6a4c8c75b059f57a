"""Tables of what was reported to municipalities: immediate notices and monthly reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from support.db import Base, UtcDateTime, utcnow


class MunicipalityNotice(Base):
    """An immediate notice of a serious complaint: at most one per ticket, kept for audit."""

    __tablename__ = "municipality_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: the row is the at-most-once guard, whichever path (hook or sweep) got there first.
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    route: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    # queued -> sending -> sent; "in_doubt" when the server may have it, "failed" when refused.
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MunicipalityReport(Base):
    """A generated monthly report, stored in every format so the API serves what was sent."""

    __tablename__ = "municipality_reports"
    __table_args__ = (UniqueConstraint("municipality_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # "2025-12"
    ticket_count: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    html: Mapped[str] = mapped_column(Text)
    csv_data: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    # The monthly mail, at most once per municipality and month (regeneration keeps it).
    mail_status: Mapped[str | None] = mapped_column(String(12))
    mail_recipient: Mapped[str | None] = mapped_column(String(254))
    mail_message_id: Mapped[str | None] = mapped_column(String(200))
    mail_error: Mapped[str | None] = mapped_column(Text)
    mailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
