"""Stored monthly reports: generate (idempotent), read with scope and audit, mail once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from support.adapters.ports import MailSender, OutgoingMail
from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.db import utcnow
from support.errors import BadInput, Forbidden, NotFound
from support.tickets.policy import MunicipalityPolicy
from support.tickets.report_mail import Attachment, ReportMailSettings, build_mail, send_once
from support.tickets.report_models import MunicipalityReport
from support.tickets.report_pdf import render_pdf, resolve_font
from support.tickets.report_render import render_csv, render_html, render_text
from support.tickets.reports import MonthlyReport, ReportMonth, build_monthly_report

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


def render(report: MonthlyReport, fmt: str, *, font_path: Path | None = None) -> bytes:
    """Render a built report in one format."""
    if fmt == "pdf":
        return render_pdf(report, font=resolve_font(font_path))
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "csv":
        return render_csv(report)
    raise BadInput(f"形式は pdf, html, csv のいずれかです: {fmt[:10]}")


def filename(municipality_id: str, month: str, fmt: str) -> str:
    """Return the download file name (ASCII: no personal data, no encoding trouble)."""
    return f"report-{municipality_id}-{month}.{fmt}"


def store_monthly(
    *,
    session: Session,
    policy: MunicipalityPolicy,
    month: ReportMonth,
    font_path: Path | None = None,
    now: datetime | None = None,
) -> MunicipalityReport:
    """Generate a report and store it; regenerating replaces the content, keeps the mail state."""
    built = build_monthly_report(session=session, policy=policy, month=month, now=now)
    row = session.scalar(
        select(MunicipalityReport).where(
            MunicipalityReport.municipality_id == policy.municipality,
            MunicipalityReport.month == str(month),
        )
    )
    if row is None:
        row = MunicipalityReport(municipality_id=policy.municipality, month=str(month))
        session.add(row)
    row.ticket_count = built.total
    row.generated_at = now or utcnow()
    row.html = render_html(built)
    row.csv_data = render_csv(built)
    row.pdf = render_pdf(built, font=resolve_font(font_path))
    session.flush()
    return row


def _readable_municipality(actor: Actor, municipality_id: str) -> None:
    """Let staff read any municipality and a city user only its own (else 404, as unknown)."""
    if actor.is_staff:
        return
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id:
        if actor.municipality_id != municipality_id:
            # 404, not 403: another city's reports must look exactly like absent ones.
            raise NotFound()
        return
    raise Forbidden()


def list_reports(
    *, session: Session, actor: Actor, municipality_id: str
) -> Sequence[MunicipalityReport]:
    """Return the stored months of a municipality's reports, newest first; audited."""
    _readable_municipality(actor, municipality_id)
    rows = session.scalars(
        select(MunicipalityReport)
        .options(
            load_only(
                MunicipalityReport.municipality_id,
                MunicipalityReport.month,
                MunicipalityReport.ticket_count,
                MunicipalityReport.generated_at,
                MunicipalityReport.mail_status,
                MunicipalityReport.mailed_at,
            )
        )
        .where(MunicipalityReport.municipality_id == municipality_id)
        .order_by(MunicipalityReport.month.desc())
    ).all()
    audit.record(
        session,
        actor,
        action="list",
        resource_type="municipality_report",
        resource_id=municipality_id,
        municipality_id=municipality_id,
    )
    return rows


def read_report(
    *, session: Session, actor: Actor, municipality_id: str, month: str, fmt: str
) -> bytes:
    """Return one stored report in one format; audited. Unknown or out of scope: 404."""
    _readable_municipality(actor, municipality_id)
    parsed = ReportMonth.parse(month)
    if fmt not in MEDIA_TYPES:
        raise BadInput("形式は pdf, html, csv のいずれかです")
    column = {
        "pdf": MunicipalityReport.pdf,
        "html": MunicipalityReport.html,
        "csv": MunicipalityReport.csv_data,
    }[fmt]
    data = session.scalar(
        select(column).where(
            MunicipalityReport.municipality_id == municipality_id,
            MunicipalityReport.month == str(parsed),
        )
    )
    if data is None:
        raise NotFound()
    audit.record(
        session,
        actor,
        action="read",
        resource_type="municipality_report",
        resource_id=f"{municipality_id}/{parsed}",
        municipality_id=municipality_id,
        detail={"format": fmt},
    )
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)  # type: ignore[arg-type]  # LargeBinary: bytes or memoryview


def mail_monthly(
    *,
    session: Session,
    report_id: int,
    policy: MunicipalityPolicy,
    sender: MailSender,
    settings: ReportMailSettings,
) -> str:
    """Mail a stored report to the municipality's report contact, at most once."""
    row = session.get_one(MunicipalityReport, report_id)
    if row.mail_status is None:
        row.mail_recipient = policy.reporting.contact_email
        domain = settings.from_addr.rpartition("@")[2] or "localhost"
        row.mail_message_id = f"report-{row.municipality_id}-{row.month}.{row.id}@{domain}"
        row.mail_status = "queued"
        session.flush()
    month = ReportMonth.parse(row.month)
    files = {"pdf": row.pdf, "html": row.html.encode("utf-8"), "csv": row.csv_data}
    subtypes = {"pdf": ("application", "pdf"), "html": ("text", "html"), "csv": ("text", "csv")}
    attachments = [
        Attachment(filename(row.municipality_id, row.month, f), *subtypes[f], files[f])
        for f in policy.reporting.monthly_formats
    ]
    recipients = [policy.reporting.contact_email, *policy.reporting.report_cc]
    context = {
        "policy": policy,
        "month": month,
        "count": row.ticket_count,
        "desk_name": settings.desk_name,
        "formats": [a.filename for a in attachments],
    }
    subject = render_text("monthly_mail.subject.j2", context).strip()
    data = build_mail(
        settings=settings,
        to=recipients,
        subject=subject,
        body=render_text("monthly_mail.txt.j2", context),
        message_id=row.mail_message_id or "",
        attachments=attachments,
    )

    def set_status(status: str, error: str | None) -> None:
        row.mail_status = status
        row.mail_error = error
        if status == "sent":
            row.mailed_at = utcnow()

    outcome = send_once(
        session=session,
        status=row.mail_status,
        set_status=set_status,
        mail=OutgoingMail(
            envelope_from=settings.from_addr,
            recipients=recipients,
            data=data,
            message_id=row.mail_message_id or "",
        ),
        sender=sender,
    )
    log.info("monthly report mail", extra={"report_id": row.id, "outcome": outcome})
    return outcome
