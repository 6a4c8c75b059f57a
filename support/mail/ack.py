"""The automatic acknowledgement (受付確認): one per new ticket, at most one per sender an hour.

Sending is at most once: the outbound message is recorded as "sending" and committed before
the SMTP transaction, so a crash can never produce a second acknowledgement. A failure known
not to have reached the server is retried; one whose fate is unknown is left "in_doubt".
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail, SendError
from support.db import utcnow
from support.mail.ingest import MailboxConfig
from support.mail.models import MailMessage, MailRaw
from support.mail.templates import DEFAULT_DIR, render
from support.tickets import channels

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class AckSettings:
    """Who acknowledgements come from."""

    mailbox: MailboxConfig
    default_from: str
    desk_name: str = "ふるさと納税 お問い合わせ窓口"
    templates: Path = DEFAULT_DIR


class AckRetry(Exception):  # noqa: N818 - a signal to the job runner, not an error report
    """The acknowledgement did not reach the server; the job should run again later."""


def _our_address(message: MailMessage, settings: AckSettings) -> str:
    for address in [*message.delivered_to, *message.to_addrs, *message.cc_addrs]:
        if settings.mailbox.is_ours(address):
            return address.lower()
    return settings.default_from


def _recently_acknowledged(session: Session, address: str) -> bool:
    since = utcnow() - RATE_WINDOW
    rows = session.scalars(
        select(MailMessage.to_addrs).where(
            MailMessage.direction == "outbound",
            MailMessage.auto_kind == "ack",
            MailMessage.received_at > since,
        )
    ).all()
    return any(address.lower() in (a.lower() for a in to) for to in rows)


def _build(
    message: MailMessage,
    ticket_id: int,
    municipality: str | None,
    municipality_name: str | None,
    settings: AckSettings,
) -> tuple[EmailMessage, str]:
    sender = _our_address(message, settings)
    domain = sender.rpartition("@")[2] or "localhost"
    message_id = f"ack-{message.id}.{ticket_id}@{domain}"
    context: dict[str, Any] = {
        "ticket_id": ticket_id,
        "subject": (message.subject or "（件名なし）").strip()[:200],
        "municipality_name": municipality_name,
        "desk_name": settings.desk_name,
    }
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.from_addr or ""
    mail["Subject"] = render(
        "ack.subject.j2", context, municipality=municipality, root=settings.templates
    ).strip()
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<{message_id}>"
    if message.message_id:
        mail["In-Reply-To"] = f"<{message.message_id}>"
        mail["References"] = f"<{message.message_id}>"
    # Tell other robots not to answer a robot: no out-of-office ping-pong.
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(
        render("ack.txt.j2", context, municipality=municipality, root=settings.templates),
        charset="utf-8",
    )
    return mail, message_id


def send_ack(
    *, session: Session, message_id: int, sender: MailSender, settings: AckSettings
) -> str:
    """Acknowledge one inbound message; return what happened (sent, skipped, in_doubt...)."""
    inbound = session.get(MailMessage, message_id)
    if inbound is None or inbound.direction != "inbound" or inbound.is_auto:
        return "skipped"
    address = inbound.from_addr
    if not address or settings.mailbox.is_ours(address):
        return "skipped"
    ticket = channels.get_ticket(session=session, ticket_id=inbound.ticket_id)
    if ticket is None:
        return "skipped"
    key = hashlib.sha256(f"ack:{inbound.id}".encode()).hexdigest()
    outbound = session.scalar(select(MailMessage).where(MailMessage.dedupe_key == key))
    if outbound is None:
        if _recently_acknowledged(session, address):
            channels.record_event(
                session=session,
                ticket_id=ticket.id,
                kind="ack_suppressed",
                detail={"reason": "rate_limit"},
            )
            return "rate_limited"
        name = channels.municipality_name(session=session, municipality_id=ticket.municipality_id)
        mail, mid = _build(inbound, ticket.id, ticket.municipality_id, name, settings)
        outbound = MailMessage(
            ticket_id=ticket.id,
            direction="outbound",
            dedupe_key=key,
            message_id=mid,
            in_reply_to=inbound.message_id,
            from_addr=str(mail["From"]),
            to_addrs=[address],
            subject=str(mail["Subject"]),
            text=mail.get_content(),
            auto_kind="ack",
            is_auto=True,
            raw_size=0,
            send_status="queued",
            received_at=utcnow(),
        )
        data = mail.as_bytes()
        outbound.raw_size = len(data)
        session.add(outbound)
        session.flush()
        session.add(MailRaw(message_id=outbound.id, data=data))
    if outbound.send_status in ("sent", "in_doubt", "failed"):
        return str(outbound.send_status)
    if outbound.send_status == "sending":
        # A previous attempt died mid-transaction: its fate is unknown, never resend blindly.
        outbound.send_status = "in_doubt"
        session.commit()
        return "in_doubt"
    outbound.send_status = "sending"
    raw = session.get_one(MailRaw, outbound.id).data
    session.commit()  # the attempt is on record before any byte goes to the server
    try:
        sender.send(
            OutgoingMail(
                envelope_from=outbound.from_addr or settings.default_from,
                recipients=[address],
                data=raw,
                message_id=outbound.message_id or "",
            )
        )
    except SendError as exc:
        outbound.send_error = exc.reason
        if exc.reached_server:
            outbound.send_status = "in_doubt"
        elif exc.permanent:
            outbound.send_status = "failed"
        else:
            outbound.send_status = "queued"
            session.commit()
            raise AckRetry(exc.reason) from exc
        session.commit()
        return str(outbound.send_status)
    outbound.send_status = "sent"
    channels.record_event(
        session=session, ticket_id=ticket.id, kind="ack_sent", detail={"message_id": outbound.id}
    )
    session.commit()
    return "sent"
