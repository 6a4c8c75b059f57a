"""Pages for every role over complaints and monthly reports, scoped like the API (404 outside)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from support.auth.models import RoleName
from support.console import complaint_pages, views
from support.console.web import ConsoleActor, ConsoleRoute, render, see_other
from support.deps import SessionDep, SettingsDep
from support.errors import BadInput, Forbidden, NotFound
from support.tickets import overview, report_store
from support.tickets import service as tickets_service
from support.tickets.status import STATUS_LABELS, TicketStatus

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MunicipalityId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
PAGE = 50


@router.get("/complaints")
def complaints(request: Request, actor: ConsoleActor, session: SessionDep) -> Response:
    """List the tickets the user may see: a city its own, a supplier those about its gifts."""
    status = request.query_params.get("status", "")
    if status and status not in {s.value for s in TicketStatus}:
        raise BadInput("状態の指定が正しくありません")
    page_text = request.query_params.get("page", "1")
    if not page_text.isdigit() or not 1 <= int(page_text) <= views.MAX_PAGE:
        raise BadInput("ページ番号が正しくありません")
    page = int(page_text)
    tickets, total = tickets_service.list_tickets(
        session=session,
        actor=actor,
        limit=PAGE,
        offset=(page - 1) * PAGE,
        status=status or None,
    )
    return render(
        request,
        "complaints.html.j2",
        {
            "title": "苦情・問い合わせ",
            "tickets": tickets,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE)),
            "status": status,
            "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
            "cities": views.municipality_names(session=session, actor=actor),
            "channels": overview.CHANNEL_LABELS,
        },
    )


@router.get("/complaints/{ticket_id}")
def complaint(
    request: Request,
    ticket_id: TicketId,
    actor: ConsoleActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Show one ticket the user may see; anything else is 404, like an absent one."""
    ticket = tickets_service.read_ticket(session=session, actor=actor, ticket_id=ticket_id)
    extra = (
        complaint_pages.staff_context(request, session, actor, ticket.id, settings)
        if actor.is_staff
        else {}
    )
    return render(
        request,
        "complaint.html.j2",
        {
            "staff": extra,
            "title": f"#{ticket.id} {ticket.subject}",
            "t": ticket,
            "status_label": STATUS_LABELS[TicketStatus(ticket.status)],
            "cities": views.municipality_names(session=session, actor=actor),
            "channels": overview.CHANNEL_LABELS,
        },
    )


@router.get("/reports")
def reports_home(request: Request, actor: ConsoleActor, session: SessionDep) -> Response:
    """Send a city user to its own reports; staff choose a municipality."""
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id:
        return see_other(f"/console/reports/{actor.municipality_id}")
    if not actor.is_staff:
        raise Forbidden()
    return render(
        request,
        "reports.html.j2",
        {
            "title": "月次報告",
            "cities": views.municipality_names(session=session, actor=actor),
            "municipality_id": None,
            "rows": [],
        },
    )


@router.get("/reports/{municipality_id}")
def reports(
    request: Request, municipality_id: MunicipalityId, actor: ConsoleActor, session: SessionDep
) -> Response:
    """List a municipality's stored monthly reports (another city's: 404)."""
    rows = report_store.list_reports(session=session, actor=actor, municipality_id=municipality_id)
    cities = views.municipality_names(session=session, actor=actor)
    return render(
        request,
        "reports.html.j2",
        {
            "title": f"月次報告 {cities.get(municipality_id, municipality_id)}",
            "cities": cities,
            "municipality_id": municipality_id,
            "rows": rows,
        },
    )


@router.get("/reports/{municipality_id}/{month}")
def report(
    request: Request,
    municipality_id: MunicipalityId,
    month: Month,
    actor: ConsoleActor,
    session: SessionDep,
) -> Response:
    """Show one stored month with its downloads (another city's or an absent month: 404)."""
    rows = report_store.list_reports(session=session, actor=actor, municipality_id=municipality_id)
    found = next((r for r in rows if r.month == month), None)
    if found is None:
        raise NotFound()
    cities = views.municipality_names(session=session, actor=actor)
    return render(
        request,
        "report.html.j2",
        {
            "title": f"{cities.get(municipality_id, municipality_id)} {month} の月次報告",
            "row": found,
            "municipality_id": municipality_id,
        },
    )
