"""Small factories for tests: users, logins and the demo world."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from support.auth import service as auth_service
from support.auth.models import RoleName, User
from support.tickets.models import Ticket, TicketEvent, TicketTag
from support.tickets.world import ImportCounts, load_world, read_world

from .conftest import BUNDLED_WORLD, WORLD_FILE


def world_path() -> Path:
    """Return the shared world file, or the bundled copy when shared/ is absent."""
    return WORLD_FILE if WORLD_FILE.exists() else BUNDLED_WORLD


def load_demo_world(factory: sessionmaker[Session]) -> ImportCounts:
    """Load the world file and commit."""
    with factory() as session:
        counts = load_world(session=session, world=read_world(world_path()))
        session.commit()
    return counts


def make_user(
    factory: sessionmaker[Session],
    role: RoleName,
    *,
    username: str | None = None,
    municipality_id: str | None = None,
    supplier_id: str | None = None,
) -> tuple[User, str]:
    """Create and commit a user; return it with its password."""
    password = "pw-" + secrets.token_urlsafe(12)
    with factory() as session:
        user = auth_service.create_user(
            session=session,
            username=username or f"{role}-{secrets.token_hex(3)}",
            password=password,
            role=role,
            municipality_id=municipality_id,
            supplier_id=supplier_id,
        )
        session.commit()
    return user, password


def bearer(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Log in through the API and return the Authorization header."""
    response = client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def login_as(
    client: TestClient,
    factory: sessionmaker[Session],
    role: RoleName,
    *,
    municipality_id: str | None = None,
    supplier_id: str | None = None,
) -> dict[str, str]:
    """Create a user of the role and return its bearer header."""
    user, password = make_user(
        factory, role, municipality_id=municipality_id, supplier_id=supplier_id
    )
    return bearer(client, user.username, password)


def make_ticket(
    session: Session,
    *,
    municipality_id: str,
    created_at: datetime,
    category: str = "品質",
    status: str = "open",
    subject: str = "返礼品について",
    supplier_id: str | None = None,
    order_id: int | None = None,
    donor_id: str | None = None,
    tags: Sequence[str] = (),
) -> Ticket:
    """Add a ticket (and its tags) at a given creation time; the caller commits."""
    ticket = Ticket(
        subject=subject,
        category=category,
        status=status,
        channel="operator",
        municipality_id=municipality_id,
        supplier_id=supplier_id,
        order_id=order_id,
        donor_id=donor_id,
        created_at=created_at,
        updated_at=created_at,
        last_activity_at=created_at,
    )
    session.add(ticket)
    session.flush()
    session.add_all(TicketTag(ticket_id=ticket.id, tag=t) for t in tags)
    return ticket


def add_event(
    session: Session, ticket: Ticket, kind: str, at: datetime, **detail: object
) -> TicketEvent:
    """Add a timeline event at a given time (e.g. kind="status", to="closed")."""
    event = TicketEvent(ticket_id=ticket.id, kind=kind, occurred_at=at, detail=dict(detail))
    session.add(event)
    return event
