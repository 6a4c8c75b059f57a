"""Use cases for tickets opened and fed by channels (mail, phone, IVR), called by those domains."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.tickets import intake, sla_track, supplier_notice
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

# Re-exported: mail and ivr record timeline events through channels.
from support.tickets.timeline import record_event as record_event

_REOPEN_FROM = {TicketStatus.REPLIED.value, TicketStatus.CLOSED.value}
# Bound parameters per IN (...) list: well inside SQLite's and PostgreSQL's limits.
_IN_CHUNK = 500
_T = TypeVar("_T")


def _chunks(values: Collection[_T]) -> Iterator[list[_T]]:
    items = list(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


@dataclass(frozen=True)
class OrderRef:
    """The identifying numbers of one order and who it belongs to."""

    id: int
    order_no: str
    donation_no: str | None
    donor_id: str
    municipality_id: str


@dataclass(frozen=True)
class ChannelTicket:
    """What a channel knows when it opens a ticket."""

    channel: str
    subject: str
    donor_id: str | None
    municipality_id: str | None
    order_ids: Sequence[int] = ()


def donor_id_by_email(*, session: Session, email: str) -> str | None:
    """Return the donor with this address when exactly one has it; shared addresses name nobody."""
    return donor_ids_by_emails(session=session, emails=[email]).get(email.strip().lower())


def donor_ids_by_emails(*, session: Session, emails: Collection[str]) -> dict[str, str]:
    """Map each lower-cased address held by exactly one donor to that donor; others are absent."""
    # Donor addresses are stored lower-cased (see world import and update_donor), so the plain
    # index on donors.email serves this lookup; lower(email) in SQL would scan the table.
    wanted = {e.strip().lower() for e in emails if e and e.strip()}
    holders: dict[str, list[str]] = {}
    for chunk in _chunks(wanted):
        for email, donor_id in session.execute(
            select(Donor.email, Donor.id).where(Donor.email.in_(chunk))
        ):
            if email is not None:
                holders.setdefault(email, []).append(donor_id)
    return {email: ids[0] for email, ids in holders.items() if len(ids) == 1}


def order_refs_by_numbers(
    *, session: Session, order_nos: Collection[str], donation_nos: Collection[str]
) -> list[OrderRef]:
    """Return the orders with any of these order numbers or donation numbers."""
    found: dict[int, OrderRef] = {}
    columns = (
        Order.id,
        Order.order_no,
        Donation.donation_no,
        Order.donor_id,
        Order.municipality_id,
    )
    for column, numbers in ((Order.order_no, order_nos), (Donation.donation_no, donation_nos)):
        for chunk in _chunks(set(numbers)):
            query = (
                select(*columns)
                .outerjoin(Donation, Donation.id == Order.donation_id)
                .where(column.in_(chunk))
            )
            for row in session.execute(query):
                found[row.id] = OrderRef(*row)
    return [found[key] for key in sorted(found)]


def municipality_exists(*, session: Session, municipality_id: str) -> bool:
    """Return True when the municipality is registered."""
    return session.get(Municipality, municipality_id) is not None


def municipality_name(*, session: Session, municipality_id: str | None) -> str | None:
    """Return a municipality's name, or None."""
    if municipality_id is None:
        return None
    found = session.get(Municipality, municipality_id)
    return found.name if found else None


def municipality_ids(*, session: Session) -> set[str]:
    """Return the ids of all registered municipalities (a few thousand at most)."""
    return set(session.scalars(select(Municipality.id)))


def get_ticket(*, session: Session, ticket_id: int) -> Ticket | None:
    """Return a ticket by id, or None."""
    return session.get(Ticket, ticket_id)


def tickets_by_ids(*, session: Session, ticket_ids: Collection[int]) -> dict[int, Ticket]:
    """Map each existing ticket id to its ticket, following merges to the surviving one."""
    loaded: dict[int, Ticket] = {}
    for chunk in _chunks(set(ticket_ids)):
        loaded.update(
            (t.id, t) for t in session.scalars(select(Ticket).where(Ticket.id.in_(chunk)))
        )
    return {
        key: resolved
        for key, ticket in loaded.items()
        if (resolved := resolve_merged(session=session, ticket_id=ticket.id)) is not None
    }


def resolve_merged(*, session: Session, ticket_id: int) -> Ticket | None:
    """Return the ticket, following merges to the surviving one."""
    seen: set[int] = set()
    ticket = session.get(Ticket, ticket_id)
    while ticket is not None and ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


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
    """Open a ticket for something that arrived by a channel (see intake.open_ticket)."""
    spec = ChannelTicket(channel, subject, donor_id, municipality_id, order_ids)
    return open_many_from_channel(session=session, specs=[spec])[0]


def open_many_from_channel(*, session: Session, specs: Sequence[ChannelTicket]) -> list[Ticket]:
    """Open one ticket per spec with a single flush (ids assigned), orders linked, events added."""
    # Orders that vanished meanwhile are dropped rather than failing a whole mail batch. A
    # mail sent to one city's address about another city's order belongs to the order's city.
    wanted = {order_id for spec in specs for order_id in spec.order_ids}
    known: dict[int, str] = {}
    for chunk in _chunks(wanted):
        query = select(Order.id, Order.municipality_id).where(Order.id.in_(chunk))
        known.update((row.id, row.municipality_id) for row in session.execute(query))
    return intake.open_tickets(
        session=session,
        intakes=[
            intake.TicketIntake(
                channel=spec.channel,
                subject=spec.subject,
                donor_id=spec.donor_id,
                municipality_id=_city_of(spec, known),
                order_ids=[o for o in spec.order_ids if o in known],
            )
            for spec in specs
        ],
    )


def _city_of(spec: ChannelTicket, order_cities: dict[int, str]) -> str | None:
    linked = [o for o in spec.order_ids if o in order_cities]
    return order_cities[linked[0]] if linked else spec.municipality_id


def note_inbound(
    *,
    session: Session,
    ticket: Ticket,
    order_ids: Sequence[int] = (),
    reopen: bool = True,
    from_addr: str | None = None,
    references: Sequence[str] = (),
) -> None:
    """Record a new inbound message on a ticket: activity, orders, a supplier's reply, and
    reopening if answered."""
    ticket.last_activity_at = utcnow()
    ticket.thread_version = (ticket.thread_version or 0) + 1
    _link_orders(session, ticket, order_ids, "mail")
    supplier_notice.note_supplier_reply(
        session=session, ticket=ticket, from_addr=from_addr, references=references
    )
    if reopen and ticket.status in _REOPEN_FROM:
        previous = ticket.status
        ticket.status = TicketStatus.OPEN.value
        sla_track.reopened(ticket)
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


def ticket_order_nos(*, session: Session, ticket_id: int) -> list[str]:
    """Return the order numbers of the orders a ticket is about (linked or its own order)."""
    ticket = session.get(Ticket, ticket_id)
    linked = select(TicketOrder.order_id).where(TicketOrder.ticket_id == ticket_id)
    query = select(Order.order_no).where(Order.id.in_(linked))
    if ticket is not None and ticket.order_id is not None:
        query = select(Order.order_no).where(Order.id.in_(linked) | (Order.id == ticket.order_id))
    return sorted(set(session.scalars(query)))


def directory_fingerprint(*, session: Session) -> tuple[object, ...]:
    """Return what tells that donors, orders or organisations changed (one cheap query).

    Donors and organisations count with their last change; orders and donations with their
    count and highest id only, since their frequent status updates change no number or owner.
    """
    columns = [
        select(func.count()).select_from(Order).scalar_subquery(),
        select(func.max(Order.id)).scalar_subquery(),
        select(func.count()).select_from(Donation).scalar_subquery(),
        select(func.max(Donation.id)).scalar_subquery(),
    ]
    for model in (Donor, Supplier, Municipality):
        columns.append(select(func.count()).select_from(model).scalar_subquery())
        columns.append(select(func.max(model.updated_at)).scalar_subquery())
    return tuple(session.execute(select(*columns)).one())


def donor_contact(*, session: Session, donor_id: str | None) -> tuple[str, str | None] | None:
    """Return a donor's (name, e-mail), or None; the caller audits the read."""
    if donor_id is None:
        return None
    donor = session.get(Donor, donor_id)
    return (donor.name, donor.email) if donor else None


def donation_nos_of_orders(*, session: Session, order_nos: Collection[str]) -> list[str]:
    """Return the donation numbers of the given orders."""
    if not order_nos:
        return []
    query = (
        select(Donation.donation_no)
        .join(Order, Order.donation_id == Donation.id)
        .where(Order.order_no.in_(list(order_nos)))
    )
    return sorted(set(session.scalars(query)))


def tickets_by_notice_ids(*, session: Session, message_ids: Collection[str]) -> dict[str, int]:
    """Map Message-IDs of our supplier notices to their tickets (replies thread by them)."""
    return supplier_notice.tickets_by_notice_ids(session=session, message_ids=message_ids)


def is_supplier_address(*, session: Session, ticket: Ticket, address: str) -> bool:
    """Return True when the address is the ticket's supplier's."""
    return supplier_notice.is_supplier_address(session=session, ticket=ticket, address=address)


def event_actors(
    *, session: Session, ticket_id: int, kind: str
) -> list[tuple[int | None, dict[str, Any]]]:
    """Return (actor, detail) of a ticket's timeline events of one kind, oldest first."""
    rows = session.execute(
        select(TicketEvent.actor_id, TicketEvent.detail)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
        .order_by(TicketEvent.id)
    ).all()
    return [(actor, dict(detail or {})) for actor, detail in rows]
