"""HTTP routes: incidents, legal holds, reveal on purpose, audit exports, donor requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.deps import CurrentUser, SessionDep, SettingsDep, StaffUser, require_roles
from support.lifecycle import access, donor_requests, incidents, retention
from support.lifecycle.incident_report import render_incident_report
from support.lifecycle.models import Incident, LegalHold
from support.tickets.models import Donor, Municipality

router = APIRouter(prefix="/api", tags=["privacy"])
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
# Holds decide what the law keeps: supervisors and admins only.
SupervisorUser = Annotated[Actor, Depends(require_roles(RoleName.SUPERVISOR, RoleName.ADMIN))]
# Suppliers never read donors as such (only the shipping minimum on an order).
DonorReader = Annotated[
    Actor,
    Depends(
        require_roles(RoleName.OPERATOR, RoleName.SUPERVISOR, RoleName.ADMIN, RoleName.MUNICIPALITY)
    ),
]


class IncidentCreate(BaseModel):
    """An incident opened by hand."""

    model_config = _STRICT
    municipality_id: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=300)
    cause: str = Field(default="", max_length=5000)
    occurred_at: datetime | None = None
    unlawful: bool = False


class MisdirectedMail(BaseModel):
    """A sent mail found to have gone to the wrong people."""

    model_config = _STRICT
    cause: str = Field(min_length=1, max_length=5000)
    wrong_recipients: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=list, max_length=100
    )


class ReportSubmitted(BaseModel):
    """The 速報 (prelim) or 確報 (final) was submitted."""

    model_config = _STRICT
    kind: Literal["prelim", "final"]
    measures: str | None = Field(default=None, max_length=5000)


class ItemRead(BaseModel):
    """An affected donor and the leaked items."""

    donor_id: str | None
    data_items: list[str]
    found_in: str


class IncidentRead(BaseModel):
    """An incident with its deadlines."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    municipality_id: str
    kind: str
    title: str
    cause: str
    measures: str
    status: str
    occurred_at: datetime | None
    discovered_at: datetime
    prelim_due_at: datetime
    final_due_at: datetime
    prelim_reported_at: datetime | None
    final_reported_at: datetime | None
    overdue: list[str] = []
    items: list[ItemRead] = []


def _read(incident: Incident, items: list[ItemRead] | None = None) -> IncidentRead:
    read = IncidentRead.model_validate(incident)
    read.overdue = incidents.overdue(incident)
    read.items = items or []
    return read


@router.post("/incidents", response_model=IncidentRead, status_code=201)
def open_incident(body: IncidentCreate, actor: StaffUser, session: SessionDep) -> IncidentRead:
    """Open an incident; the municipality's contact is mailed at once by the worker."""
    incident = incidents.open_incident(
        session=session,
        actor=actor,
        municipality_id=body.municipality_id,
        title=body.title,
        cause=body.cause,
        occurred_at=body.occurred_at,
        unlawful=body.unlawful,
    )
    return _read(incident)


@router.post("/incidents/from-mail/{message_id}", response_model=IncidentRead, status_code=201)
def from_misdirected_mail(
    message_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: MisdirectedMail,
    actor: StaffUser,
    session: SessionDep,
) -> IncidentRead:
    """Mark a sent mail misdirected and open its incident with the exposed donors and items."""
    incident = incidents.incident_from_misdirected_mail(
        session=session,
        actor=actor,
        message_id=message_id,
        cause=body.cause,
        wrong_recipients=body.wrong_recipients,
    )
    items, _ = incidents.items_and_events(session, incident)
    return _read(incident, [ItemRead.model_validate(i, from_attributes=True) for i in items])


@router.get("/incidents", response_model=list[IncidentRead])
def list_incidents(actor: CurrentUser, session: SessionDep) -> list[IncidentRead]:
    """List incidents (municipality users: their own)."""
    return [_read(i) for i in incidents.list_incidents(session=session, actor=actor)]


@router.get("/incidents/{incident_id}", response_model=IncidentRead)
def read_incident(incident_id: IncidentId, actor: CurrentUser, session: SessionDep) -> IncidentRead:
    """Return an incident with its affected donors and items (audited)."""
    incident = incidents.get_incident(session=session, actor=actor, incident_id=incident_id)
    items, _ = incidents.items_and_events(session, incident)
    return _read(incident, [ItemRead.model_validate(i, from_attributes=True) for i in items])


@router.post("/incidents/{incident_id}/reports", response_model=IncidentRead)
def report_submitted(
    incident_id: IncidentId, body: ReportSubmitted, actor: StaffUser, session: SessionDep
) -> IncidentRead:
    """Record the submission of the 速報 or 確報."""
    incident = incidents.record_report(
        session=session,
        actor=actor,
        incident_id=incident_id,
        kind=body.kind,
        measures=body.measures,
    )
    return _read(incident)


@router.get("/incidents/{incident_id}/report.pdf")
def report_pdf(
    incident_id: IncidentId, actor: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Download the written report (timeline, cause, scope, measures) as PDF (audited)."""
    incident = incidents.get_incident(session=session, actor=actor, incident_id=incident_id)
    items, events = incidents.items_and_events(session, incident)
    ids = [i.donor_id for i in items if i.donor_id]
    rows = session.execute(select(Donor.id, Donor.name).where(Donor.id.in_(ids))).all()
    names = {str(row[0]): str(row[1]) for row in rows}
    for donor_id in names:
        # The report names the donors: each is a read of their personal data.
        audit.record(
            session,
            actor,
            action="read",
            resource_type="incident_report",
            resource_id=str(incident.id),
            donor_id=donor_id,
            municipality_id=incident.municipality_id,
        )
    pdf = render_incident_report(
        incident,
        municipality_name=session.get_one(Municipality, incident.municipality_id).name,
        items=items,
        donor_names=names,
        events=events,
        font_path=settings.report_font,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident.id}.pdf"'},
    )


class HoldCreate(BaseModel):
    """A ticket to keep whatever the retention rules say."""

    model_config = _STRICT
    ticket_id: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(min_length=1, max_length=2000)


class HoldRead(BaseModel):
    """A legal hold."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    reason: str
    created_at: datetime
    released_at: datetime | None


HoldId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/legal-holds", response_model=HoldRead, status_code=201)
def create_hold(body: HoldCreate, actor: SupervisorUser, session: SessionDep) -> HoldRead:
    """Put a ticket on legal hold: the retention purge skips it and all of its records."""
    hold = retention.place_hold(
        session=session, actor=actor, ticket_id=body.ticket_id, reason=body.reason
    )
    return HoldRead.model_validate(hold)


@router.get("/legal-holds", response_model=list[HoldRead])
def list_holds(_actor: SupervisorUser, session: SessionDep) -> list[HoldRead]:
    """List legal holds, newest first."""
    rows = session.scalars(select(LegalHold).order_by(LegalHold.id.desc()).limit(500))
    return [HoldRead.model_validate(h) for h in rows]


@router.post("/legal-holds/{hold_id}/release", response_model=HoldRead)
def release_hold(hold_id: HoldId, actor: SupervisorUser, session: SessionDep) -> HoldRead:
    """Release a legal hold; the ticket falls under the retention rules again."""
    return HoldRead.model_validate(
        retention.release_hold(session=session, actor=actor, hold_id=hold_id)
    )


class RevealRequest(BaseModel):
    """Why the caller needs a donor's personal fields, and which ones."""

    model_config = _STRICT
    reason: str = Field(min_length=4, max_length=500)
    fields: list[Literal["name", "kana", "email", "phone", "postal_code", "address"]] = Field(
        default_factory=list, max_length=6
    )


DonorId = Annotated[str, Path(min_length=1, max_length=40)]


@router.post("/donors/{donor_id}/reveal")
def reveal_donor(
    donor_id: DonorId, body: RevealRequest, actor: DonorReader, session: SessionDep
) -> dict[str, str | None]:
    """Reveal a donor's personal fields on purpose: the reason is kept in the audit trail."""
    return access.reveal(
        session=session, actor=actor, donor_id=donor_id, reason=body.reason, fields=body.fields
    )


@router.get("/audit/municipalities/{municipality_id}")
def audit_export(
    municipality_id: Annotated[str, Path(min_length=1, max_length=40)],
    actor: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    fmt: Annotated[Literal["csv", "pdf"], Query(alias="format")] = "csv",
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Export who accessed this municipality's personal data, for its inspections (CSV or PDF)."""
    events = access.municipality_events(
        session=session, actor=actor, municipality_id=municipality_id, since=since, until=until
    )
    if fmt == "pdf":
        name = session.get_one(Municipality, municipality_id).name
        data = access.events_pdf(events, municipality_name=name, font_path=settings.report_font)
        media = "application/pdf"
    else:
        data = access.events_csv(events)
        media = "text/csv; charset=utf-8"
    filename = f"audit-{municipality_id}.{fmt}"
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class DonorRequestCreate(BaseModel):
    """A donor's request as received by the desk (phone, mail, letter)."""

    model_config = _STRICT
    municipality_id: str = Field(min_length=1, max_length=40)
    donor_id: str = Field(min_length=1, max_length=40)
    kind: Literal["disclosure", "correction", "suspension", "deletion"]
    detail: str = Field(default="", max_length=5000)
    changes: dict[
        Literal["name", "kana", "email", "phone", "postal_code", "address"],
        Annotated[str, Field(max_length=500)],
    ] = Field(default_factory=dict)


class Decision(BaseModel):
    """The municipality's decision on a request."""

    model_config = _STRICT
    approve: bool
    note: str = Field(default="", max_length=5000)


class TrailEvent(BaseModel):
    """One step of a request's trail."""

    model_config = ConfigDict(from_attributes=True)
    occurred_at: datetime
    kind: str
    detail: dict[str, object]


class DonorRequestRead(BaseModel):
    """A donor request and (on a single read) its trail."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    municipality_id: str
    donor_id: str
    kind: str
    status: str
    received_at: datetime
    decided_at: datetime | None
    executed_at: datetime | None
    forward_status: str
    trail: list[TrailEvent] = []


RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/donor-requests", response_model=DonorRequestRead, status_code=201)
def create_donor_request(
    body: DonorRequestCreate, actor: StaffUser, session: SessionDep
) -> DonorRequestRead:
    """Record a donor's request; the worker forwards it to the municipality."""
    request = donor_requests.record_request(
        session=session,
        actor=actor,
        municipality_id=body.municipality_id,
        donor_id=body.donor_id,
        kind=body.kind,
        detail=body.detail,
        changes={str(k): v for k, v in body.changes.items()},
    )
    return DonorRequestRead.model_validate(request)


@router.get("/donor-requests", response_model=list[DonorRequestRead])
def list_donor_requests(actor: CurrentUser, session: SessionDep) -> list[DonorRequestRead]:
    """List requests (municipality users: their own)."""
    return [
        DonorRequestRead.model_validate(r)
        for r in donor_requests.list_requests(session=session, actor=actor)
    ]


@router.get("/donor-requests/{request_id}", response_model=DonorRequestRead)
def read_donor_request(
    request_id: RequestId, actor: CurrentUser, session: SessionDep
) -> DonorRequestRead:
    """Return a request with its whole trail."""
    request, events = donor_requests.get_request(
        session=session, actor=actor, request_id=request_id
    )
    read = DonorRequestRead.model_validate(request)
    read.trail = [TrailEvent.model_validate(e) for e in events]
    return read


@router.post("/donor-requests/{request_id}/decision", response_model=DonorRequestRead)
def decide_donor_request(
    request_id: RequestId, body: Decision, actor: CurrentUser, session: SessionDep
) -> DonorRequestRead:
    """Record the municipality's decision (its users; admins on its written instruction)."""
    request = donor_requests.decide(
        session=session, actor=actor, request_id=request_id, approve=body.approve, note=body.note
    )
    return DonorRequestRead.model_validate(request)


@router.post("/donor-requests/{request_id}/execute")
def execute_donor_request(
    request_id: RequestId, actor: StaffUser, session: SessionDep
) -> dict[str, object]:
    """Carry out an approved request; a disclosure answers with the data to send the donor."""
    return donor_requests.execute(session=session, actor=actor, request_id=request_id)
