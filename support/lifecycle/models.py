"""Tables of personal-data incidents (漏えい等事故): the case, what leaked, its trail, its mails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from support.db import Base, UtcDateTime, utcnow


class Incident(Base):
    """A leak or suspected leak of personal data entrusted by one municipality."""

    __tablename__ = "privacy_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # "misdirected_mail" or "other"
    title: Mapped[str] = mapped_column(String(300))
    cause: Mapped[str] = mapped_column(Text, default="")
    measures: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"))
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    discovered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # 速報 and 確報 deadlines (個人情報保護委員会への報告の実務): see incidents.deadlines().
    prelim_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    final_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    prelim_reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    final_reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class IncidentItem(Base):
    """One affected donor (or an unidentified person) and the data items that leaked."""

    __tablename__ = "privacy_incident_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_incidents.id", ondelete="CASCADE"), index=True
    )
    donor_id: Mapped[str | None] = mapped_column(ForeignKey("donors.id"), index=True)
    data_items: Mapped[list[str]] = mapped_column(JSON, default=list)
    found_in: Mapped[str] = mapped_column(String(60))  # e.g. "mail_messages:12"


class IncidentEvent(Base):
    """One step of an incident's timeline."""

    __tablename__ = "privacy_incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_incidents.id", ondelete="CASCADE"), index=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IncidentNotice(Base):
    """A mail about an incident, sent at most once per incident and kind."""

    __tablename__ = "privacy_incident_notices"
    __table_args__ = (UniqueConstraint("incident_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))  # "notice", "escalation_prelim", ...
    recipient: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LegalHold(Base):
    """A ticket that must be kept (a dispute, an inquiry): no purge touches it."""

    __tablename__ = "privacy_legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PurgeRun(Base):
    """What one retention purge erased, in counts (never contents)."""

    __tablename__ = "privacy_purge_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    municipality_id: Mapped[str] = mapped_column(String(40))
    cutoff: Mapped[datetime] = mapped_column(UtcDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    held: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)


class DonorRequest(Base):
    """A donor's request about their data (開示・訂正・利用停止・削除)."""

    __tablename__ = "privacy_donor_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("municipalities.id"), index=True)
    donor_id: Mapped[str] = mapped_column(ForeignKey("donors.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # disclosure, correction, suspension, deletion
    detail: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # received -> forwarded -> approved | rejected -> executed
    status: Mapped[str] = mapped_column(String(12), default="received", index=True)
    decision_note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The forwarding mail to the municipality, at most once (queued, sending, sent, in_doubt).
    forward_status: Mapped[str] = mapped_column(String(12), default="queued")
    forward_recipient: Mapped[str | None] = mapped_column(String(500))
    forward_error: Mapped[str | None] = mapped_column(Text)
    forwarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DonorRequestEvent(Base):
    """One step of a donor request's trail."""

    __tablename__ = "privacy_donor_request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_donor_requests.id", ondelete="CASCADE"), index=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
