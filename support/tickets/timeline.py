"""A ticket's timeline: every event appended in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.tickets import sla_track
from support.tickets.models import Ticket, TicketEvent


def record_event(
    *,
    session: Session,
    ticket_id: int,
    kind: str,
    actor_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append an entry to a ticket's timeline; a response event also moves the SLA clock."""
    now = at or utcnow()
    session.add(
        TicketEvent(
            ticket_id=ticket_id, kind=kind, actor_id=actor_id, detail=detail or {}, occurred_at=now
        )
    )
    if kind in sla_track.RESPONSE_KINDS:
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            sla_track.responded(ticket, now)


def events_of(*, session: Session, ticket_id: int) -> list[TicketEvent]:
    """Return a ticket's timeline, oldest first."""
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.occurred_at, TicketEvent.id)
        )
    )
