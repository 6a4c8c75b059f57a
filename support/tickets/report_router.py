"""HTTP routes for municipality reports: list months, download, (re)generate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from support.auth import audit
from support.deps import CurrentUser, SessionDep, SettingsDep, StaffUser
from support.tickets import report_store
from support.tickets.reports import ReportMonth, policy_for

router = APIRouter(prefix="/api/reports", tags=["reports"])

MunicipalityId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Month = Annotated[str, Path(min_length=7, max_length=7)]


class ReportSummary(BaseModel):
    """One stored monthly report."""

    municipality_id: str
    month: str
    ticket_count: int
    generated_at: datetime
    mail_status: str | None
    mailed_at: datetime | None


@router.get("/monthly/{municipality_id}", response_model=list[ReportSummary])
def list_monthly(
    municipality_id: MunicipalityId, actor: CurrentUser, session: SessionDep
) -> list[ReportSummary]:
    """List the months with a stored report; a city user sees only its own (else 404)."""
    rows = report_store.list_reports(session=session, actor=actor, municipality_id=municipality_id)
    return [
        ReportSummary(
            municipality_id=r.municipality_id,
            month=r.month,
            ticket_count=r.ticket_count,
            generated_at=r.generated_at,
            mail_status=r.mail_status,
            mailed_at=r.mailed_at,
        )
        for r in rows
    ]


@router.get("/monthly/{municipality_id}/{month}")
def download_monthly(
    municipality_id: MunicipalityId,
    month: Month,
    actor: CurrentUser,
    session: SessionDep,
    fmt: Annotated[Literal["pdf", "html", "csv"], Query(alias="format")] = "pdf",
) -> Response:
    """Download one report as PDF, HTML or CSV; every download is audited."""
    data = report_store.read_report(
        session=session, actor=actor, municipality_id=municipality_id, month=month, fmt=fmt
    )
    name = report_store.filename(municipality_id, month, fmt)
    return Response(
        content=data,
        media_type=report_store.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            # The HTML report is a document, never an app: no script, no outside resource.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


@router.post("/monthly/{municipality_id}/{month}", response_model=ReportSummary, status_code=201)
def generate_monthly(
    municipality_id: MunicipalityId,
    month: Month,
    actor: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> ReportSummary:
    """(Re)generate and store a report now (staff only); the monthly mail is not sent here."""
    policy = policy_for(request.app.state.policies, municipality_id)
    row = report_store.store_monthly(
        session=session,
        policy=policy,
        month=ReportMonth.parse(month),
        font_path=settings.report_font,
    )
    audit.record(
        session,
        actor,
        action="generate",
        resource_type="municipality_report",
        resource_id=f"{municipality_id}/{row.month}",
        municipality_id=municipality_id,
    )
    return ReportSummary(
        municipality_id=row.municipality_id,
        month=row.month,
        ticket_count=row.ticket_count,
        generated_at=row.generated_at,
        mail_status=row.mail_status,
        mailed_at=row.mailed_at,
    )
