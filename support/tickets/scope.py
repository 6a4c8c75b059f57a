"""Who may see what: the row filters that bind municipality and supplier users to their own."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true
from sqlalchemy.orm import InstrumentedAttribute

from support.auth.actor import Actor
from support.auth.models import RoleName
from support.errors import Forbidden
from support.tickets.models import Donation, Order, Ticket


def donor_filter(actor: Actor, donor_id_column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Return a condition true for donors the actor may see (staff: all; city: its donors)."""
    if actor.is_staff:
        return true()
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id:
        return exists(
            select(Order.id).where(
                Order.donor_id == donor_id_column,
                Order.municipality_id == actor.municipality_id,
            )
        ) | exists(
            select(Donation.id).where(
                Donation.donor_id == donor_id_column,
                Donation.municipality_id == actor.municipality_id,
            )
        )
    return false()


def order_filter(actor: Actor) -> ColumnElement[bool]:
    """Return a condition true for orders the actor may see."""
    if actor.is_staff:
        return true()
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id:
        return Order.municipality_id == actor.municipality_id
    if actor.role is RoleName.SUPPLIER and actor.supplier_id:
        return Order.supplier_id == actor.supplier_id
    return false()


def ticket_filter(actor: Actor) -> ColumnElement[bool]:
    """Return a condition true for tickets the actor may see."""
    if actor.is_staff:
        return true()
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id:
        return Ticket.municipality_id == actor.municipality_id
    if actor.role is RoleName.SUPPLIER and actor.supplier_id:
        return Ticket.supplier_id == actor.supplier_id
    return false()


def require_donor_reader(actor: Actor) -> None:
    """Refuse suppliers (and any unknown role) access to donor records as such."""
    if not (actor.is_staff or actor.role is RoleName.MUNICIPALITY):
        raise Forbidden()


def require_staff(actor: Actor) -> None:
    """Refuse anyone who is not the intermediary's own staff."""
    if not actor.is_staff:
        raise Forbidden()
