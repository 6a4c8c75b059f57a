"""Background work for municipality reports: notices, the sweep, monthly generation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender
from support.calendar import JST, BusinessCalendar
from support.db import utcnow
from support.jobs import Job, JobHandler, enqueue
from support.tickets import notices
from support.tickets.models import Municipality
from support.tickets.policy import MunicipalityPolicy
from support.tickets.report_mail import ReportMailSettings
from support.tickets.report_models import MunicipalityReport
from support.tickets.report_store import mail_monthly, store_monthly
from support.tickets.reports import ReportMonth, policy_for

log = logging.getLogger(__name__)

MONTHLY_SCHEDULE = "reports.monthly_schedule"
MONTHLY_GENERATE = "reports.monthly_generate"
# Periodic kinds and their intervals, merged into the worker's schedule.
PERIODIC: dict[str, timedelta] = {
    notices.SERIOUS_SWEEP: timedelta(minutes=10),
    MONTHLY_SCHEDULE: timedelta(hours=1),
}


def first_business_day(calendar: BusinessCalendar, year: int, month: int) -> date:
    """Return the first business day of a month (e.g. 2026-01-05 after the closure)."""
    day = date(year, month, 1)
    return day if calendar.is_business_day(day) else calendar.add_business_days(day, 1)


def schedule_monthly(
    *,
    session: Session,
    policies: Mapping[str, MunicipalityPolicy],
    now: datetime | None = None,
    calendar: BusinessCalendar | None = None,
) -> list[str]:
    """From the first business day of a month on, enqueue last month's missing reports."""
    now = now or utcnow()
    calendar = calendar or BusinessCalendar()
    today = now.astimezone(JST).date()
    if today < first_business_day(calendar, today.year, today.month):
        return []
    month = str(ReportMonth.previous(now))
    registered = set(session.scalars(select(Municipality.id)))
    done = set(
        session.scalars(
            select(MunicipalityReport.municipality_id).where(MunicipalityReport.month == month)
        )
    )
    # A generation already queued is not queued again (payloads are compared in Python:
    # JSON comparison differs between the two databases).
    pending = {
        (p.get("municipality_id"), p.get("month"))
        for p in session.scalars(
            select(Job.payload).where(
                Job.kind == MONTHLY_GENERATE, Job.status.in_(("queued", "running"))
            )
        )
    }
    queued = []
    for municipality_id in sorted(policies):
        if municipality_id not in registered or municipality_id in done:
            continue
        if (municipality_id, month) in pending:
            continue
        enqueue(session, MONTHLY_GENERATE, {"municipality_id": municipality_id, "month": month})
        queued.append(municipality_id)
    return queued


@dataclass(frozen=True)
class ReportJobs:
    """The handlers of report jobs, bound to the worker's policies, sender and settings."""

    policies: Mapping[str, MunicipalityPolicy]
    sender: MailSender | None
    mail: ReportMailSettings
    font_path: Path | None = None

    def handlers(self) -> dict[str, JobHandler]:
        """Return job kind -> handler."""
        return {
            notices.SERIOUS_NOTICE: self.notice,
            notices.SERIOUS_SWEEP: self.sweep,
            MONTHLY_SCHEDULE: self.schedule,
            MONTHLY_GENERATE: self.generate,
        }

    def notice(self, session: Session, payload: dict[str, Any]) -> None:
        """Send one serious-complaint notice (ReportMailRetry makes the runner retry)."""
        if self.sender is None:
            # Failing keeps the job for retry: a notice must not be silently dropped.
            raise RuntimeError("no SMTP server configured; serious notice not sent")
        notices.send_serious_notice(
            session=session,
            ticket_id=int(payload["ticket_id"]),
            policies=self.policies,
            sender=self.sender,
            settings=self.mail,
        )

    def sweep(self, session: Session, _payload: dict[str, Any]) -> None:
        """Enqueue notices a code path forgot."""
        count = notices.sweep(session=session, policies=self.policies)
        if count:
            log.warning("serious tickets found without a notice", extra={"count": count})

    def schedule(self, session: Session, _payload: dict[str, Any]) -> None:
        """Enqueue last month's reports once the month's first business day has come."""
        notices_queued = schedule_monthly(session=session, policies=self.policies)
        if notices_queued:
            log.info("monthly reports queued", extra={"count": len(notices_queued)})

    def generate(self, session: Session, payload: dict[str, Any]) -> None:
        """Generate and store one report (idempotent), then mail it at most once."""
        policy = policy_for(self.policies, str(payload["municipality_id"]))
        month = ReportMonth.parse(str(payload["month"]))
        row = store_monthly(session=session, policy=policy, month=month, font_path=self.font_path)
        session.commit()  # the report is served by the API even if the mail fails below
        if self.sender is None:
            if row.mail_status is None:
                row.mail_status = "not_sent"
                row.mail_error = "no SMTP server configured"
            return
        if row.mail_status == "not_sent":
            row.mail_status = None
        mail_monthly(
            session=session,
            report_id=row.id,
            policy=policy,
            sender=self.sender,
            settings=self.mail,
        )
