"""Use cases over donors, orders and tickets, each scoped to the actor and audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.errors import BadInput, NotFound
from support.tickets import intake, scope
from support.tickets.masking import mask_email, mask_name, mask_phone, prefecture_of
from support.tickets.models import (
    Donation,
    Donor,
    GiftItem,
    Municipality,
    Order,
    Supplier,
    Ticket,
)
from support.tickets.schemas import (
    DonorListItem,
    DonorUpdate,
    OrderRead,
    ShipTo,
    SupplierOrderRead,
    TicketCreate,
)


def _count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    return int(
        session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )


def list_municipalities(*, session: Session, actor: Actor) -> Sequence[Municipality]:
    """Return the municipalities the actor works for or with."""
    query = select(Municipality).order_by(Municipality.id)
    if actor.role is RoleName.MUNICIPALITY:
        query = query.where(Municipality.id == actor.municipality_id)
    elif actor.role is RoleName.SUPPLIER:
        query = query.where(
            Municipality.id
            == select(Supplier.municipality_id)
            .where(Supplier.id == actor.supplier_id)
            .scalar_subquery()
        )
    return session.scalars(query).all()


def list_suppliers(*, session: Session, actor: Actor) -> Sequence[Supplier]:
    """Return the suppliers the actor may see."""
    query = select(Supplier).order_by(Supplier.id)
    if actor.role is RoleName.MUNICIPALITY:
        query = query.where(Supplier.municipality_id == actor.municipality_id)
    elif actor.role is RoleName.SUPPLIER:
        query = query.where(Supplier.id == actor.supplier_id)
    return session.scalars(query).all()


def read_donor(*, session: Session, actor: Actor, donor_id: str) -> Donor:
    """Return a donor in full and record the access; unknown or out of scope is NotFound."""
    scope.require_donor_reader(actor)
    donor = session.scalar(
        select(Donor).where(Donor.id == donor_id, scope.donor_filter(actor, Donor.id))
    )
    if donor is None:
        raise NotFound()
    audit.record(
        session,
        actor,
        action="read",
        resource_type="donor",
        resource_id=donor.id,
        donor_id=donor.id,
        municipality_id=actor.municipality_id,
    )
    return donor


def list_donors(
    *, session: Session, actor: Actor, limit: int, offset: int
) -> tuple[list[DonorListItem], int]:
    """Return a page of donors with personal fields masked, and the total."""
    scope.require_donor_reader(actor)
    query = select(Donor).where(scope.donor_filter(actor, Donor.id)).order_by(Donor.id)
    total = _count(session, query)
    donors = session.scalars(query.limit(limit).offset(offset)).all()
    items = [
        DonorListItem(
            id=d.id,
            name_masked=mask_name(d.name),
            email_masked=mask_email(d.email),
            phone_masked=mask_phone(d.phone),
            prefecture=prefecture_of(d.address),
        )
        for d in donors
    ]
    return items, total


def update_donor(*, session: Session, actor: Actor, donor_id: str, change: DonorUpdate) -> Donor:
    """Change a donor's contact details (staff only) and record which fields changed."""
    scope.require_staff(actor)
    donor = session.get(Donor, donor_id)
    if donor is None:
        raise NotFound()
    fields = change.model_dump(exclude_unset=True)
    if fields.get("email"):
        fields["email"] = str(fields["email"]).lower()
    if any(value is None for key, value in fields.items() if key == "name"):
        raise BadInput("氏名は空にできません")
    changed = sorted(k for k, v in fields.items() if getattr(donor, k) != v)
    for key in changed:
        setattr(donor, key, fields[key])
    session.flush()
    audit.record(
        session,
        actor,
        action="update",
        resource_type="donor",
        resource_id=donor.id,
        donor_id=donor.id,
        detail={"fields": changed},
    )
    return donor


_ORDER_ROW = (Order, GiftItem.name, Donation.donation_no, Donation.amount_yen)


def _order_query() -> Select[Order, str, str | None, int | None]:
    return (
        select(*_ORDER_ROW)
        .join(GiftItem, GiftItem.id == Order.gift_item_id)
        .outerjoin(Donation, Donation.id == Order.donation_id)
    )


def _order_read(order: Order, item: str, donation_no: str | None, amount: int | None) -> OrderRead:
    return OrderRead(
        id=order.id,
        portal=order.portal,
        order_no=order.order_no,
        donation_no=donation_no,
        donor_id=order.donor_id,
        municipality_id=order.municipality_id,
        supplier_id=order.supplier_id,
        item=item,
        amount_yen=amount,
        status=order.status,
        ordered_on=order.ordered_on,
        shipped_on=order.shipped_on,
        delivered_on=order.delivered_on,
        carrier=order.carrier,
        tracking_no=order.tracking_no,
    )


def _supplier_read(order: Order, item: str, ship_to: ShipTo | None) -> SupplierOrderRead:
    return SupplierOrderRead(
        id=order.id,
        order_no=order.order_no,
        portal=order.portal,
        item=item,
        status=order.status,
        ordered_on=order.ordered_on,
        shipped_on=order.shipped_on,
        carrier=order.carrier,
        tracking_no=order.tracking_no,
        ship_to=ship_to,
    )


def read_order(*, session: Session, actor: Actor, order_id: int) -> OrderRead | SupplierOrderRead:
    """Return one order; a supplier also gets the shipping address, which is audited."""
    row = session.execute(
        _order_query().where(Order.id == order_id, scope.order_filter(actor))
    ).one_or_none()
    if row is None:
        raise NotFound()
    order, item, donation_no, amount = row
    if actor.role is not RoleName.SUPPLIER:
        return _order_read(order, item, donation_no, amount)
    donor = session.get_one(Donor, order.donor_id)
    audit.record(
        session,
        actor,
        action="read_shipping",
        resource_type="order",
        resource_id=str(order.id),
        donor_id=donor.id,
        municipality_id=order.municipality_id,
    )
    ship_to = ShipTo(
        name=donor.name, postal_code=donor.postal_code, address=donor.address, phone=donor.phone
    )
    return _supplier_read(order, item, ship_to)


def list_orders(
    *,
    session: Session,
    actor: Actor,
    limit: int,
    offset: int,
    status: str | None = None,
    donor_id: str | None = None,
    order_no: str | None = None,
    municipality_id: str | None = None,
    supplier_id: str | None = None,
) -> tuple[list[OrderRead] | list[SupplierOrderRead], int]:
    """Return a page of orders the actor may see, filtered, newest first."""
    query = _order_query().where(scope.order_filter(actor))
    if status is not None:
        query = query.where(Order.status == status)
    if donor_id is not None:
        if actor.role is RoleName.SUPPLIER:
            raise BadInput("事業者は寄附者で絞り込めません")
        query = query.where(Order.donor_id == donor_id)
    if order_no is not None:
        query = query.where(Order.order_no == order_no)
    if municipality_id is not None:
        query = query.where(Order.municipality_id == municipality_id)
    if supplier_id is not None:
        query = query.where(Order.supplier_id == supplier_id)
    total = _count(session, query)
    rows = session.execute(
        query.order_by(Order.ordered_on.desc(), Order.id.desc()).limit(limit).offset(offset)
    ).all()
    if actor.role is RoleName.SUPPLIER:
        return [_supplier_read(o, item, None) for o, item, _, _ in rows], total
    return [_order_read(o, item, dn, amount) for o, item, dn, amount in rows], total


def create_ticket(*, session: Session, actor: Actor, data: TicketCreate) -> Ticket:
    """Open a ticket by hand, linked to a donor and orders the operator may see."""
    scope.require_staff(actor)
    order_ids = list(dict.fromkeys([*([data.order_id] if data.order_id else []), *data.order_ids]))
    donor_id = data.donor_id
    for order_id in order_ids:
        order = session.get(Order, order_id)
        if order is None:
            raise BadInput("指定された注文は存在しません")
        if donor_id is not None and donor_id != order.donor_id:
            raise BadInput("注文の寄附者と指定された寄附者が一致しません")
        donor_id = order.donor_id
    if data.municipality_id is None and not order_ids:
        raise BadInput("自治体または注文を指定してください")
    return intake.open_ticket(
        session=session,
        intake=intake.TicketIntake(
            channel=data.channel,
            subject=data.subject,
            category=data.category,
            priority=data.priority,
            municipality_id=data.municipality_id,
            donor_id=donor_id,
            order_ids=order_ids,
            description=data.description,
            caller_number=data.caller_number,
            callback_due=data.callback_due,
            actor_id=actor.user_id,
        ),
    )


def read_ticket(*, session: Session, actor: Actor, ticket_id: int) -> Ticket:
    """Return a ticket the actor may see, or NotFound."""
    ticket = session.scalar(
        select(Ticket).where(Ticket.id == ticket_id, scope.ticket_filter(actor))
    )
    if ticket is None:
        raise NotFound()
    return ticket


def list_tickets(
    *, session: Session, actor: Actor, limit: int, offset: int, status: str | None = None
) -> tuple[Sequence[Ticket], int]:
    """Return a page of tickets the actor may see, newest first."""
    query = select(Ticket).where(scope.ticket_filter(actor))
    if status is not None:
        query = query.where(Ticket.status == status)
    total = _count(session, query)
    tickets = session.scalars(query.order_by(Ticket.id.desc()).limit(limit).offset(offset)).all()
    return tickets, total
