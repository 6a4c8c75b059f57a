"""HTTP routes for municipalities, suppliers, donors, orders and tickets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from support.deps import CurrentUser, SessionDep, StaffUser
from support.tickets import service
from support.tickets.schemas import (
    DonorListItem,
    DonorRead,
    DonorUpdate,
    MunicipalityRead,
    OrderRead,
    Page,
    SupplierOrderRead,
    SupplierRead,
    TicketCreate,
    TicketRead,
)

router = APIRouter(prefix="/api", tags=["records"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
DonorId = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("/municipalities", response_model=list[MunicipalityRead])
def list_municipalities(actor: CurrentUser, session: SessionDep) -> list[MunicipalityRead]:
    """List the municipalities the caller may see."""
    rows = service.list_municipalities(session=session, actor=actor)
    return [MunicipalityRead.model_validate(m) for m in rows]


@router.get("/suppliers", response_model=list[SupplierRead])
def list_suppliers(actor: CurrentUser, session: SessionDep) -> list[SupplierRead]:
    """List the suppliers the caller may see."""
    return [
        SupplierRead.model_validate(s) for s in service.list_suppliers(session=session, actor=actor)
    ]


@router.get("/donors", response_model=Page[DonorListItem])
def list_donors(
    actor: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[DonorListItem]:
    """List donors with personal fields masked."""
    items, total = service.list_donors(session=session, actor=actor, limit=limit, offset=offset)
    return Page[DonorListItem](items=items, total=total, limit=limit, offset=offset)


@router.get("/donors/{donor_id}", response_model=DonorRead)
def read_donor(donor_id: DonorId, actor: CurrentUser, session: SessionDep) -> DonorRead:
    """Return a donor in full; the access is recorded in the audit trail."""
    return DonorRead.model_validate(
        service.read_donor(session=session, actor=actor, donor_id=donor_id)
    )


@router.patch("/donors/{donor_id}", response_model=DonorRead)
def update_donor(
    donor_id: DonorId, body: DonorUpdate, actor: StaffUser, session: SessionDep
) -> DonorRead:
    """Change a donor's contact details (staff only); audited."""
    donor = service.update_donor(session=session, actor=actor, donor_id=donor_id, change=body)
    return DonorRead.model_validate(donor)


@router.get("/orders", response_model=Page[OrderRead] | Page[SupplierOrderRead])
def list_orders(
    actor: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=30)] = None,
    donor_id: Annotated[str | None, Query(max_length=40)] = None,
    order_no: Annotated[str | None, Query(max_length=60)] = None,
    municipality_id: Annotated[str | None, Query(max_length=40)] = None,
    supplier_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[OrderRead] | Page[SupplierOrderRead]:
    """List the orders the caller may see, newest first."""
    items, total = service.list_orders(
        session=session,
        actor=actor,
        limit=limit,
        offset=offset,
        status=status,
        donor_id=donor_id,
        order_no=order_no,
        municipality_id=municipality_id,
        supplier_id=supplier_id,
    )
    if items and isinstance(items[0], SupplierOrderRead):
        return Page[SupplierOrderRead].model_validate(
            {"items": items, "total": total, "limit": limit, "offset": offset}
        )
    return Page[OrderRead].model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )


@router.get("/orders/{order_id}", response_model=OrderRead | SupplierOrderRead)
def read_order(
    order_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: CurrentUser, session: SessionDep
) -> OrderRead | SupplierOrderRead:
    """Return one order; its supplier also sees where to ship it (audited)."""
    return service.read_order(session=session, actor=actor, order_id=order_id)


@router.post("/tickets", response_model=TicketRead, status_code=201)
def create_ticket(body: TicketCreate, actor: StaffUser, session: SessionDep) -> TicketRead:
    """Open a ticket by hand."""
    return TicketRead.model_validate(service.create_ticket(session=session, actor=actor, data=body))


@router.get("/tickets", response_model=Page[TicketRead])
def list_tickets(
    actor: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Page[TicketRead]:
    """List the tickets the caller may see, newest first."""
    tickets, total = service.list_tickets(
        session=session, actor=actor, limit=limit, offset=offset, status=status
    )
    return Page[TicketRead](
        items=[TicketRead.model_validate(t) for t in tickets],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/tickets/{ticket_id}", response_model=TicketRead)
def read_ticket(
    ticket_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: CurrentUser, session: SessionDep
) -> TicketRead:
    """Return one ticket the caller may see."""
    return TicketRead.model_validate(
        service.read_ticket(session=session, actor=actor, ticket_id=ticket_id)
    )
