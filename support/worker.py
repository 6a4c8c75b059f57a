"""The background worker: which jobs exist and which run on a schedule."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.adapters.ports import MailSender, SearchIndex, SentArchive
from support.auth import service as auth_service
from support.config import Settings
from support.db import transaction, utcnow
from support.jobs import Job, JobRunner, enqueue
from support.kb import indexing as kb_indexing
from support.mail.ack import AckSettings, send_ack
from support.mail.config import mailbox_config
from support.mail.fetch import SEND_ACK
from support.mail.outbound import OutboundConfig
from support.mail.sending import PERIODIC as OUTBOUND_PERIODIC
from support.mail.sending import OutboundJobs
from support.tickets.complaint_jobs import PERIODIC as COMPLAINT_PERIODIC
from support.tickets.complaint_jobs import ComplaintJobs
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_jobs import PERIODIC as REPORT_PERIODIC
from support.tickets.report_jobs import ReportJobs
from support.tickets.report_mail import ReportMailSettings
from support.tickets.supplier_notice import NoticeSettings

log = logging.getLogger(__name__)

PURGE_SESSIONS = "auth.purge_expired_sessions"
# Periodic jobs: kind -> interval. A kind is enqueued when no run of it is queued or recent.
PERIODIC: dict[str, timedelta] = {
    PURGE_SESSIONS: timedelta(hours=1),
    **REPORT_PERIODIC,
    **OUTBOUND_PERIODIC,
    **COMPLAINT_PERIODIC,
}


def _purge_sessions(session: Session, _payload: dict[str, Any]) -> None:
    auth_service.purge_expired_sessions(session=session)


def build_runner(
    factory: sessionmaker[Session],
    settings: Settings | None = None,
    sender: MailSender | None = None,
    archive: SentArchive | None = None,
    search: SearchIndex | None = None,
) -> JobRunner:
    """Return a job runner with every handler registered."""
    runner = JobRunner(session_factory=factory)
    runner.register(PURGE_SESSIONS, _purge_sessions)
    if search is not None:
        index = search
        runner.register(
            kb_indexing.INDEX_JOB,
            lambda session, payload: kb_indexing.run_job(session, payload, index),
        )
    ack_settings = AckSettings(
        mailbox=mailbox_config(settings) if settings else mailbox_config(Settings()),
        default_from=settings.mail_from if settings else "support@localhost",
        desk_name=settings.desk_name if settings else "ふるさと納税 お問い合わせ窓口",
    )

    def ack(session: Session, payload: dict[str, Any]) -> None:
        if sender is None:
            log.warning(
                "no SMTP server configured; acknowledgement not sent",
                extra={"message_id": payload.get("message_id")},
            )
            return
        # AckRetry propagates: the job runner retries it with backoff.
        outcome = send_ack(
            session=session,
            message_id=int(payload["message_id"]),
            sender=sender,
            settings=ack_settings,
        )
        log.info("acknowledgement", extra={"outcome": outcome})

    runner.register(SEND_ACK, ack)
    chosen = settings or Settings()
    reports = ReportJobs(
        policies=load_policies(chosen.policy_dir or default_policy_dir()),
        sender=sender,
        mail=ReportMailSettings(from_addr=chosen.mail_from, desk_name=chosen.desk_name),
        font_path=chosen.report_font,
    )
    for kind, handler in reports.handlers().items():
        runner.register(kind, handler)
    outbound_jobs = OutboundJobs(sender, archive, OutboundConfig.from_settings(chosen))
    for kind, handler in outbound_jobs.handlers().items():
        runner.register(kind, handler)
    complaints = ComplaintJobs(
        sender=sender,
        notices=NoticeSettings(mail=reports.mail, fax_gateway=chosen.fax_gateway),
        escalate_to=chosen.sla_escalation_to,
    )
    for kind, handler in complaints.handlers().items():
        runner.register(kind, handler)
    return runner


def schedule_maintenance(factory: sessionmaker[Session]) -> None:
    """Enqueue each periodic job whose previous run is older than its interval."""
    now = utcnow()
    with transaction(factory) as session:
        for kind, interval in PERIODIC.items():
            recent = session.scalar(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    (Job.status.in_(("queued", "running"))) | (Job.created_at > now - interval),
                )
                .limit(1)
            )
            if recent is None:
                enqueue(session, kind)
