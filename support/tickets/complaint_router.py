"""HTTP routes of the complaint workflow: queue, timeline, verdict, liability, supplier notice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from support.deps import SessionDep, SettingsDep, StaffUser
from support.tickets import complaint, supplier_notice, timeline
from support.tickets.complaint_schemas import (
    CategoryChange,
    ContactRead,
    EventRead,
    LiabilityConfirm,
    LiabilityRead,
    NoticeRequest,
    OrderLink,
    PriorityChange,
    QueueItem,
    QueueRead,
    Resolution,
    SupplierNoticeRead,
    VerdictRead,
)
from support.tickets.models import Ticket
from support.tickets.policy import MunicipalityPolicy
from support.tickets.report_mail import ReportMailSettings
from support.tickets.schemas import TicketRead
from support.tickets.status import TicketStatus
from support.tickets.work import get_for_work

router = APIRouter(prefix="/api", tags=["complaints"])

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _policies(request: Request) -> Mapping[str, MunicipalityPolicy]:
    policies: Mapping[str, MunicipalityPolicy] = request.app.state.policies
    return policies


@router.get("/queue", response_model=QueueRead)
def queue(
    actor: StaffUser,
    session: SessionDep,
    municipality_id: Annotated[str | None, Query(max_length=40)] = None,
    status: TicketStatus | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> QueueRead:
    """List tickets not yet closed (or of one status), soonest SLA due first, 50 a page."""
    found = complaint.queue(
        session=session,
        actor=actor,
        municipality_id=municipality_id,
        status=status.value if status else None,
        page=page,
    )
    return QueueRead(
        items=[QueueItem.model_validate(t) for t in found.items],
        page=found.page,
        per_page=found.per_page,
        has_more=found.has_more,
    )


@router.get("/tickets/{ticket_id}/timeline", response_model=list[EventRead])
def read_timeline(ticket_id: TicketId, actor: StaffUser, session: SessionDep) -> list[EventRead]:
    """Return every event of a ticket, oldest first."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    return [
        EventRead.model_validate(e)
        for e in timeline.events_of(session=session, ticket_id=ticket.id)
    ]


def _verdict(request: Request, session: SessionDep, ticket: Ticket, desk: str) -> VerdictRead:
    found = complaint.verdict_for(
        session=session, ticket=ticket, policies=_policies(request), desk_name=desk
    )
    confirmed = None
    if ticket.liability_confirmed_at is not None:
        confirmed = LiabilityRead(
            bearer=ticket.liability_bearer,
            covers=list(ticket.liability_covers or []),
            carrier_at_fault=ticket.carrier_at_fault,
            note=ticket.liability_note,
            confirmed_by=ticket.liability_confirmed_by,
            confirmed_at=ticket.liability_confirmed_at,
        )
    if found is None:
        return VerdictRead(
            municipality=ticket.municipality_id or "",
            category=ticket.category,
            deadline=None,
            reissue=None,
            liability=None,
            resident_gift_allowed=None,
            serious_kinds=[],
            proposed_reply=None,
            confirmed_liability=confirmed,
        )
    read = VerdictRead.model_validate(found)
    return read.model_copy(update={"confirmed_liability": confirmed})


@router.get("/tickets/{ticket_id}/verdict", response_model=VerdictRead)
def read_verdict(
    ticket_id: TicketId,
    request: Request,
    actor: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
) -> VerdictRead:
    """Return what the municipality's rules say about the ticket (suggestions to confirm)."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    return _verdict(request, session, ticket, settings.desk_name)


@router.put("/tickets/{ticket_id}/category", response_model=TicketRead)
def change_category(
    ticket_id: TicketId,
    body: CategoryChange,
    request: Request,
    actor: StaffUser,
    session: SessionDep,
) -> TicketRead:
    """Change the category (the SLA dues follow; the verdict goes on the timeline)."""
    ticket = complaint.set_category(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        category=body.category,
        policies=_policies(request),
    )
    return TicketRead.model_validate(ticket)


@router.put("/tickets/{ticket_id}/priority", response_model=TicketRead)
def change_priority(
    ticket_id: TicketId, body: PriorityChange, actor: StaffUser, session: SessionDep
) -> TicketRead:
    """Change the priority."""
    ticket = complaint.set_priority(
        session=session, actor=actor, ticket_id=ticket_id, priority=body.priority
    )
    return TicketRead.model_validate(ticket)


@router.post("/tickets/{ticket_id}/orders", response_model=TicketRead)
def link_order(
    ticket_id: TicketId,
    body: OrderLink,
    request: Request,
    actor: StaffUser,
    session: SessionDep,
) -> TicketRead:
    """Link an order (the first gives the supplier and municipality)."""
    ticket = complaint.link_order(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        order_id=body.order_id,
        policies=_policies(request),
    )
    return TicketRead.model_validate(ticket)


@router.delete("/tickets/{ticket_id}/orders/{order_id}", response_model=TicketRead)
def unlink_order(
    ticket_id: TicketId,
    order_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    actor: StaffUser,
    session: SessionDep,
) -> TicketRead:
    """Unlink an order."""
    ticket = complaint.unlink_order(
        session=session, actor=actor, ticket_id=ticket_id, order_id=order_id
    )
    return TicketRead.model_validate(ticket)


@router.put("/tickets/{ticket_id}/liability", response_model=VerdictRead)
def confirm_liability(
    ticket_id: TicketId,
    body: LiabilityConfirm,
    request: Request,
    actor: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
) -> VerdictRead:
    """Confirm who bears the costs (audited, on the timeline); return the updated verdict."""
    ticket = complaint.confirm_liability(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        bearer=body.bearer,
        covers=body.covers,
        carrier_at_fault=body.carrier_at_fault,
        note=body.note,
        policies=_policies(request),
    )
    return _verdict(request, session, ticket, settings.desk_name)


@router.post(
    "/tickets/{ticket_id}/supplier-notices", response_model=SupplierNoticeRead, status_code=202
)
def notify_supplier(
    ticket_id: TicketId,
    body: NoticeRequest,
    actor: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
) -> SupplierNoticeRead:
    """Queue the complaint's notice to its supplier (sent by the worker, at most once)."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    notice = supplier_notice.request_notice(
        session=session,
        actor=actor,
        ticket=ticket,
        settings=supplier_notice.NoticeSettings(
            mail=ReportMailSettings(from_addr=settings.mail_from, desk_name=settings.desk_name),
            fax_gateway=settings.fax_gateway,
        ),
        request=body.request,
        via=body.via,
        note=body.note,
    )
    return SupplierNoticeRead.model_validate(notice)


@router.get("/tickets/{ticket_id}/supplier-notices", response_model=list[SupplierNoticeRead])
def list_supplier_notices(
    ticket_id: TicketId, actor: StaffUser, session: SessionDep
) -> list[SupplierNoticeRead]:
    """List a ticket's supplier notices."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    return [
        SupplierNoticeRead.model_validate(n)
        for n in supplier_notice.notices_of(session=session, ticket_id=ticket.id)
    ]


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketRead)
def resolve(
    ticket_id: TicketId, body: Resolution, actor: StaffUser, session: SessionDep
) -> TicketRead:
    """Close the complaint as resolved."""
    ticket = complaint.resolve(
        session=session, actor=actor, ticket_id=ticket_id, resolution=body.resolution
    )
    return TicketRead.model_validate(ticket)


@router.get("/tickets/{ticket_id}/contact", response_model=ContactRead)
def read_contact(ticket_id: TicketId, actor: StaffUser, session: SessionDep) -> ContactRead:
    """Return the caller's number and the promised callback time (audited)."""
    return ContactRead.model_validate(
        complaint.read_contact(session=session, actor=actor, ticket_id=ticket_id)
    )
