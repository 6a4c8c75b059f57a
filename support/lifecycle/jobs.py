"""The privacy jobs the worker runs: incident mails, the deadline sweep, the retention purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from support.adapters.ports import MailSender
from support.config import Settings
from support.jobs import JobHandler
from support.lifecycle import donor_requests, incidents, retention
from support.lifecycle.incident_mail import IncidentMailer
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_mail import ReportMailSettings

PERIODIC: dict[str, timedelta] = {
    incidents.CHECK_DEADLINES: timedelta(minutes=15),
    retention.PURGE: timedelta(days=1),
}


def privacy_handlers(settings: Settings, sender: MailSender | None) -> dict[str, JobHandler]:
    """Return the handlers of every privacy job kind."""
    mailer = IncidentMailer(
        policies=load_policies(settings.policy_dir or default_policy_dir()),
        sender=sender,
        mail=ReportMailSettings(from_addr=settings.mail_from, desk_name=settings.desk_name),
    )

    def check(session: Session, _payload: dict[str, Any]) -> None:
        incidents.check_deadlines(session=session)

    rules = retention.load_rules()

    def purge(session: Session, _payload: dict[str, Any]) -> None:
        retention.purge(session=session, rules=rules)

    def forward(session: Session, payload: dict[str, Any]) -> None:
        donor_requests.forward(
            session=session,
            request_id=int(payload["request_id"]),
            policies=mailer.policies,
            sender=sender,
            mail=mailer.mail,
        )

    return {
        donor_requests.FORWARD: forward,
        incidents.SEND_NOTICE: mailer.send,
        incidents.CHECK_DEADLINES: check,
        retention.PURGE: purge,
    }
