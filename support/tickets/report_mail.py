"""Send a report mail at most once: the attempt is committed before the SMTP transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail, SendError
from support.db import utcnow


@dataclass(frozen=True)
class ReportMailSettings:
    """Who report mail comes from."""

    from_addr: str
    desk_name: str = "ふるさと納税 お問い合わせ窓口"


class ReportMailRetry(Exception):  # noqa: N818 - a signal to the job runner
    """The mail did not reach the server; the job should run again later."""


@dataclass
class Attachment:
    """A file attached to a report mail."""

    filename: str
    maintype: str
    subtype: str
    data: bytes


def build_mail(
    *,
    settings: ReportMailSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """Return the RFC 5322 bytes of a plain-text report mail with its attachments."""
    mail = EmailMessage()
    mail["From"] = settings.from_addr
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<{message_id}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body, charset="utf-8")
    for item in attachments:
        mail.add_attachment(
            item.data, maintype=item.maintype, subtype=item.subtype, filename=item.filename
        )
    return mail.as_bytes()


def send_once(
    *,
    session: Session,
    status: str | None,
    set_status: Callable[[str, str | None], None],
    mail: OutgoingMail,
    sender: MailSender,
) -> str:
    """Move a mail through queued -> sending -> sent, committing before the send.

    `set_status(status, error)` writes the state on the caller's row. A row found "sending"
    belongs to an attempt that died mid-transaction: it becomes "in_doubt", never resent.
    """
    if status in ("sent", "in_doubt", "failed"):
        return str(status)
    if status == "sending":
        set_status("in_doubt", None)
        session.commit()
        return "in_doubt"
    set_status("sending", None)
    session.commit()  # the attempt is on record before any byte goes to the server
    try:
        sender.send(mail)
    except SendError as exc:
        if exc.reached_server:
            set_status("in_doubt", exc.reason)
        elif exc.permanent:
            set_status("failed", exc.reason)
        else:
            set_status("queued", exc.reason)
            session.commit()
            raise ReportMailRetry(exc.reason) from exc
        session.commit()
        return "in_doubt" if exc.reached_server else "failed"
    set_status("sent", None)
    session.commit()
    return "sent"
