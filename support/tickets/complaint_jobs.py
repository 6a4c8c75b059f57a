"""Background work of the complaint workflow: supplier notices and the SLA check.

The SLA check runs every few minutes. It reads only tickets whose `sla_alert_at` has come
(an index keeps that cheap with a million tickets), raises each alert once per clock: a
warning in the last quarter of the target, then a breach, which escalates the ticket to the
supervisors: priority urgent, a timeline entry, and a mail to the configured supervisors'
addresses sent at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail
from support.calendar import JST
from support.db import utcnow
from support.jobs import JobHandler, enqueue
from support.tickets import sla_track, supplier_notice
from support.tickets.models import Ticket, TicketEvent
from support.tickets.report_mail import ReportMailSettings, build_mail, send_once
from support.tickets.status import TicketStatus
from support.tickets.timeline import record_event

log = logging.getLogger(__name__)

SLA_CHECK = "tickets.sla_check"
SLA_ESCALATION_MAIL = "tickets.sla_escalation_mail"
PERIODIC: dict[str, timedelta] = {SLA_CHECK: timedelta(minutes=5)}
CHECK_BATCH = 1000
CLOCK_LABELS = {"first_response": "初回対応", "resolution": "解決"}


def check_sla(
    *,
    session: Session,
    now: datetime | None = None,
    escalate_to: Sequence[str] = (),
    batch: int = CHECK_BATCH,
) -> dict[str, int]:
    """Raise due SLA warnings and breaches (each once per clock); return counts."""
    now = now or utcnow()
    counts = {"warning": 0, "breached": 0, "adopted": adopt_clocks(session=session, batch=batch)}
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.sla_alert_at <= now, Ticket.merged_into_id.is_(None))
        .order_by(Ticket.sla_alert_at, Ticket.id)
        .limit(batch)
    ).all()
    for ticket in tickets:
        clock = sla_track.running_clock(ticket)
        due = ticket.sla_due_at
        if clock is None or due is None:
            ticket.sla_alert_at = None
            continue
        alerts = list(ticket.sla_alerts or [])
        detail = {"clock": clock, "due": due.isoformat()}
        if now > due and f"{clock}:breached" not in alerts:
            alerts.append(f"{clock}:breached")
            ticket.sla_state = "breached"
            record_event(session=session, ticket_id=ticket.id, kind="sla_breached", detail=detail)
            _escalate(session, ticket, clock, due, escalate_to)
            counts["breached"] += 1
        elif now <= due and f"{clock}:warning" not in alerts:
            alerts.append(f"{clock}:warning")
            ticket.sla_state = "warning"
            record_event(session=session, ticket_id=ticket.id, kind="sla_warning", detail=detail)
            counts["warning"] += 1
        ticket.sla_alerts = alerts
        sla_track.schedule_alert(ticket)
    session.flush()
    return counts


def adopt_clocks(*, session: Session, batch: int = CHECK_BATCH) -> int:
    """Start the stored clock of open tickets that have none (opened before migration 0004)."""
    tickets = session.scalars(
        select(Ticket)
        .where(
            Ticket.first_response_due_at.is_(None),
            Ticket.status != TicketStatus.CLOSED.value,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.id)
        .limit(batch)
    ).all()
    for ticket in tickets:
        sla_track.start(ticket)
        if ticket.status == TicketStatus.REPLIED.value:
            sla_track.responded(ticket, ticket.last_activity_at)
    return len(tickets)


def _escalate(
    session: Session, ticket: Ticket, clock: str, due: datetime, escalate_to: Sequence[str]
) -> None:
    previous = ticket.priority
    ticket.priority = "urgent"
    detail: dict[str, Any] = {
        "clock": clock,
        "due": due.isoformat(),
        "priority_from": previous,
        "to": "supervisors",
    }
    if escalate_to:
        detail["mail"] = "queued"
    event = TicketEvent(ticket_id=ticket.id, kind="sla_escalated", detail=detail)
    session.add(event)
    session.flush()
    if escalate_to:
        enqueue(session, SLA_ESCALATION_MAIL, {"event_id": event.id}, max_attempts=10)


def send_escalation(
    *,
    session: Session,
    event_id: int,
    recipients: Sequence[str],
    sender: MailSender,
    settings: ReportMailSettings,
) -> str:
    """Mail one escalation to the supervisors at most once (state kept on the event)."""
    event = session.get(TicketEvent, event_id)
    if event is None or not recipients:
        return "skipped"
    ticket = session.get_one(Ticket, event.ticket_id)
    clock = str(event.detail.get("clock", ""))
    due = datetime.fromisoformat(str(event.detail["due"])).astimezone(JST)
    subject = f"[#{ticket.id}] SLA超過（{CLOCK_LABELS.get(clock, clock)}）: {ticket.category}"
    body = (
        "スーパーバイザー各位\n\n"
        f"受付番号 {ticket.id} の{CLOCK_LABELS.get(clock, clock)}期限"
        f"（{due:%Y-%m-%d %H:%M}）を過ぎました。\n"
        f"分類: {ticket.category}\n自治体: {ticket.municipality_id or '（未設定）'}\n"
        f"担当者: {ticket.assignee_id or '（未割当）'}\n\n"
        "優先度を「至急」に変更しました。対応状況を確認してください。\n"
        "（寄附者の個人情報はこのメールに記載していません）\n"
    )
    domain = settings.from_addr.rpartition("@")[2] or "localhost"
    message_id = f"sla-escalation-{event.id}@{domain}"
    row = event

    def set_status(status: str, error: str | None) -> None:
        row.detail = {**row.detail, "mail": status, "mail_error": error}

    return send_once(
        session=session,
        status=str(event.detail.get("mail", "queued")),
        set_status=set_status,
        mail=OutgoingMail(
            envelope_from=settings.from_addr,
            recipients=list(recipients),
            data=build_mail(
                settings=settings,
                to=recipients,
                subject=subject,
                body=body,
                message_id=message_id,
            ),
            message_id=message_id,
        ),
        sender=sender,
    )


@dataclass(frozen=True)
class ComplaintJobs:
    """The handlers of complaint jobs, bound to the worker's sender and settings."""

    sender: MailSender | None
    notices: supplier_notice.NoticeSettings
    escalate_to: Sequence[str] = ()

    def handlers(self) -> dict[str, JobHandler]:
        """Return job kind -> handler."""
        return {
            supplier_notice.SUPPLIER_NOTICE: self.notice,
            SLA_CHECK: self.sla,
            SLA_ESCALATION_MAIL: self.escalation,
        }

    def notice(self, session: Session, payload: dict[str, Any]) -> None:
        """Send one supplier notice (ReportMailRetry makes the runner retry)."""
        if self.sender is None:
            raise RuntimeError("no SMTP server configured; supplier notice not sent")
        supplier_notice.send_notice(
            session=session,
            notice_id=int(payload["notice_id"]),
            sender=self.sender,
            settings=self.notices,
        )

    def sla(self, session: Session, _payload: dict[str, Any]) -> None:
        """Raise due SLA warnings and breaches."""
        counts = check_sla(session=session, escalate_to=self.escalate_to)
        if any(counts.values()):
            log.info("sla check", extra=counts)

    def escalation(self, session: Session, payload: dict[str, Any]) -> None:
        """Mail one escalation to the supervisors."""
        if self.sender is None:
            raise RuntimeError("no SMTP server configured; escalation not mailed")
        send_escalation(
            session=session,
            event_id=int(payload["event_id"]),
            recipients=self.escalate_to,
            sender=self.sender,
            settings=self.notices.mail,
        )
