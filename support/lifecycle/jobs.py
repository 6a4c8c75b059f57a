"""The privacy jobs the worker runs: incident mails and the deadline sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from support.adapters.ports import MailSender
from support.config import Settings
from support.jobs import JobHandler
from support.lifecycle import incidents
from support.lifecycle.incident_mail import IncidentMailer
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_mail import ReportMailSettings

PERIODIC: dict[str, timedelta] = {incidents.CHECK_DEADLINES: timedelta(minutes=15)}


def privacy_handlers(settings: Settings, sender: MailSender | None) -> dict[str, JobHandler]:
    """Return the handlers of every privacy job kind."""
    mailer = IncidentMailer(
        policies=load_policies(settings.policy_dir or default_policy_dir()),
        sender=sender,
        mail=ReportMailSettings(from_addr=settings.mail_from, desk_name=settings.desk_name),
    )

    def check(session: Session, _payload: dict[str, Any]) -> None:
        incidents.check_deadlines(session=session)

    return {incidents.SEND_NOTICE: mailer.send, incidents.CHECK_DEADLINES: check}
