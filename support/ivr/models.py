"""IVR records: one row per call (its flow state, so any replica serves the next webhook) and
the call log of what happened in it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from support.db import Base, UtcDateTime, utcnow


class IvrCall(Base):
    """One phone call, keyed by Twilio's CallSid: where it is in the flow and how it ended."""

    __tablename__ = "ivr_calls"
    __table_args__ = (Index("ix_ivr_calls_started", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # The number dialled (ours) and the caller's number (personal data: never logged).
    to_number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str | None] = mapped_column(String(32))
    municipality_id: Mapped[str | None] = mapped_column(ForeignKey("municipalities.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhooks: Mapped[int] = mapped_column(Integer, default=0)
    in_hours: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(String(30), index=True)
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class IvrCallEvent(Base):
    """One entry of a call's log: a step taken, a failed verification, a voicemail, the end."""

    __tablename__ = "ivr_call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("ivr_calls.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    # Never the caller's number or keyed digits: step names, article ids, order ids, counts.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
