"""The audit trail: every read or change of a donor's personal data, and security events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.auth.models import AuditEvent


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    donor_id: str | None = None,
    municipality_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it stands or falls with the change)."""
    event = AuditEvent(
        actor_user_id=actor.user_id,
        actor_username=actor.username,
        actor_role=str(actor.role),
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        donor_id=donor_id,
        municipality_id=municipality_id,
        client_ip=actor.client_ip,
        request_id=actor.request_id,
        detail=detail or {},
    )
    session.add(event)
    return event


def list_events(
    session: Session,
    *,
    donor_id: str | None = None,
    user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Return audit events, newest first, filtered by donor and/or acting user."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if donor_id is not None:
        query = query.where(AuditEvent.donor_id == donor_id)
    if user_id is not None:
        query = query.where(AuditEvent.actor_user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return session.scalars(query).all()
