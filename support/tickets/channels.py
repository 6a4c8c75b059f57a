"""Use cases for tickets opened and fed by channels (mail, phone, IVR), called by those domains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.tickets.models import (
    Donation,
    Donor,
    Municipality,
    Order,
    Supplier,
    Ticket,
    TicketEvent,
    TicketOrder,
)
from support.tickets.status import TicketStatus

_REOPEN_FROM = {TicketStatus.REPLIED.value, TicketStatus.CLOSED.value}


def donor_id_by_email(*, session: Session, email: str) -> str | None:
    """Return the donor with this address when exactly one has it; shared addresses name nobody."""
    # Donor addresses are stored lower-cased (see world import and update_donor), so the plain
    # index on donors.email serves this lookup; lower(email) in SQL would scan the table.
    found = session.scalars(
        select(Donor.id).where(Donor.email == email.strip().lower()).limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def orders_by_numbers(
    *, session: Session, order_nos: Sequence[str], donation_nos: Sequence[str]
) -> list[Order]:
    """Return the orders with any of these order numbers or donation numbers."""
    if not order_nos and not donation_nos:
        return []
    query = (
        select(Order)
        .outerjoin(Donation, Donation.id == Order.donation_id)
        .where(or_(Order.order_no.in_(order_nos), Donation.donation_no.in_(donation_nos)))
        .order_by(Order.id)
    )
    return list(session.scalars(query))


def municipality_exists(*, session: Session, municipality_id: str) -> bool:
    """Return True when the municipality is registered."""
    return session.get(Municipality, municipality_id) is not None


def municipality_name(*, session: Session, municipality_id: str | None) -> str | None:
    """Return a municipality's name, or None."""
    if municipality_id is None:
        return None
    found = session.get(Municipality, municipality_id)
    return found.name if found else None


def get_ticket(*, session: Session, ticket_id: int) -> Ticket | None:
    """Return a ticket by id, or None."""
    return session.get(Ticket, ticket_id)


def resolve_merged(*, session: Session, ticket_id: int) -> Ticket | None:
    """Return the ticket, following merges to the surviving one."""
    seen: set[int] = set()
    ticket = session.get(Ticket, ticket_id)
    while ticket is not None and ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def record_event(
    *,
    session: Session,
    ticket_id: int,
    kind: str,
    actor_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an entry to a ticket's timeline."""
    session.add(TicketEvent(ticket_id=ticket_id, kind=kind, actor_id=actor_id, detail=detail or {}))


def _link_orders(session: Session, ticket: Ticket, order_ids: Sequence[int], source: str) -> None:
    if not order_ids:
        return
    existing = set(
        session.scalars(select(TicketOrder.order_id).where(TicketOrder.ticket_id == ticket.id))
    )
    for order_id in order_ids:
        if order_id not in existing:
            session.add(TicketOrder(ticket_id=ticket.id, order_id=order_id, source=source))
            existing.add(order_id)
    if ticket.order_id is None:
        order = session.get(Order, order_ids[0])
        if order is not None:
            ticket.order_id = order.id
            ticket.supplier_id = order.supplier_id
            ticket.municipality_id = ticket.municipality_id or order.municipality_id


def open_from_channel(
    *,
    session: Session,
    channel: str,
    subject: str,
    donor_id: str | None,
    municipality_id: str | None,
    order_ids: Sequence[int] = (),
) -> Ticket:
    """Open a ticket for something that arrived by a channel."""
    now = utcnow()
    ticket = Ticket(
        subject=subject,
        channel=channel,
        status=TicketStatus.OPEN.value,
        donor_id=donor_id,
        municipality_id=municipality_id,
        category="その他",
        priority="normal",
        last_activity_at=now,
        thread_version=1,
    )
    session.add(ticket)
    session.flush()
    _link_orders(session, ticket, order_ids, channel)
    record_event(session=session, ticket_id=ticket.id, kind="opened", detail={"channel": channel})
    return ticket


def note_inbound(
    *, session: Session, ticket: Ticket, order_ids: Sequence[int] = (), reopen: bool = True
) -> None:
    """Record a new inbound message on a ticket: activity, orders, and reopening if answered."""
    ticket.last_activity_at = utcnow()
    ticket.thread_version = (ticket.thread_version or 0) + 1
    _link_orders(session, ticket, order_ids, "mail")
    if reopen and ticket.status in _REOPEN_FROM:
        previous = ticket.status
        ticket.status = TicketStatus.OPEN.value
        record_event(
            session=session, ticket_id=ticket.id, kind="reopened", detail={"from": previous}
        )


def donor_contacts(*, session: Session) -> list[tuple[str, str, str, str, str, str, str]]:
    """Return (id, name, kana, email, phone, postal code, address) of every donor."""
    rows = session.execute(
        select(
            Donor.id,
            Donor.name,
            Donor.kana,
            Donor.email,
            Donor.phone,
            Donor.postal_code,
            Donor.address,
        ).order_by(Donor.id)
    ).all()
    return [tuple(v or "" for v in row) for row in rows]  # type: ignore[misc]


def order_refs(*, session: Session) -> list[tuple[str, str, str, str, str]]:
    """Return (order no, donation no, donor id, municipality id, supplier id) of every order."""
    rows = session.execute(
        select(
            Order.order_no,
            Donation.donation_no,
            Order.donor_id,
            Order.municipality_id,
            Order.supplier_id,
        )
        .outerjoin(Donation, Donation.id == Order.donation_id)
        .order_by(Order.id)
    ).all()
    return [tuple(v or "" for v in row) for row in rows]  # type: ignore[misc]


def organisations(
    *, session: Session
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str]]]:
    """Return municipalities (id, name, contact) and suppliers (id, name, city, e-mail)."""
    municipalities = [
        (m.id, m.name, m.contact_email)
        for m in session.scalars(select(Municipality).order_by(Municipality.id))
    ]
    suppliers = [
        (s.id, s.name, s.municipality_id, s.email)
        for s in session.scalars(select(Supplier).order_by(Supplier.id))
    ]
    return municipalities, suppliers
