"""Complaints forwarded to their supplier, and the supplier's reply brought back.

The notice carries only what the supplier needs to act: the order number, the gift, the
category and a summary with donor contact details removed. The donor's name and address are
added only when the supplier must re-deliver, and that disclosure is audited. The notice is
sent by a job, at most once (`report_mail.send_once`: the attempt is committed before the SMTP
transaction), by mail or through the configured mail-to-fax gateway. Its Message-ID and the
`[#id]` tag in its subject let mail ingest thread the supplier's answer onto the ticket.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail
from support.auth import audit
from support.auth.actor import Actor
from support.db import utcnow
from support.errors import BadInput, Conflict
from support.jobs import enqueue
from support.tickets.masking import normalise_phone
from support.tickets.models import Donor, GiftItem, Order, Supplier, SupplierNotice, Ticket
from support.tickets.report_mail import ReportMailSettings, build_mail, send_once
from support.tickets.report_redact import redact
from support.tickets.report_render import mail_template
from support.tickets.timeline import record_event

log = logging.getLogger(__name__)

SUPPLIER_NOTICE = "tickets.supplier_notice"
NOTICE_ATTEMPTS = 10
# What the supplier is asked to do, in the words the notice uses.
REQUESTS: dict[str, str] = {
    "investigate": "事実関係のご確認と、対応方針のご連絡をお願いします。",
    "redelivery": "再配送（または代替品の発送）の手配をお願いします。",
    "replacement": "代替品・交換品の手配をお願いします。",
    "collection": "返礼品の回収の手配をお願いします。",
}


@dataclass(frozen=True)
class NoticeSettings:
    """Where supplier notices come from, and how a fax number becomes a mail address."""

    mail: ReportMailSettings
    # e.g. "{fax}@fax.example.jp"; empty: no fax gateway, suppliers are reached by mail only.
    fax_gateway: str = ""


def _fax_address(fax: str | None, gateway: str) -> str | None:
    if not fax or not gateway:
        return None
    return gateway.format(fax=normalise_phone(fax))


def request_notice(
    *,
    session: Session,
    actor: Actor,
    ticket: Ticket,
    settings: NoticeSettings,
    request: str = "investigate",
    via: str | None = None,
    note: str | None = None,
) -> SupplierNotice:
    """Write the supplier's notice and enqueue its sending in the caller's transaction."""
    if request not in REQUESTS:
        raise BadInput(f"不明な依頼内容です: {request[:20]}", allowed=sorted(REQUESTS))
    if ticket.supplier_id is None or ticket.order_id is None:
        raise Conflict("注文（返礼品提供事業者）が紐づいていないため事業者に連絡できません")
    supplier = session.get_one(Supplier, ticket.supplier_id)
    order = session.get_one(Order, ticket.order_id)
    item = session.get_one(GiftItem, order.gift_item_id)
    fax = _fax_address(supplier.fax, settings.fax_gateway)
    channel = via or ("mail" if supplier.email else "fax")
    if channel == "fax" and fax is None:
        raise Conflict("FAX 送信用のアドレスが設定されていないか、事業者の FAX 番号がありません")
    if channel not in ("mail", "fax"):
        raise BadInput("送信方法は mail または fax です")
    recipient = supplier.email if channel == "mail" else fax
    if not recipient:
        raise Conflict("事業者の連絡先メールアドレスがありません")
    donor = session.get(Donor, ticket.donor_id) if ticket.donor_id else None
    known = [donor.name, donor.kana, donor.email, donor.phone] if donor else []
    ship_to = None
    if request == "redelivery" and donor is not None:
        # The one case the supplier needs the donor's name and address: to ship again.
        ship_to = {"name": donor.name, "postal_code": donor.postal_code, "address": donor.address}
    context: dict[str, Any] = {
        "supplier": supplier.name,
        "desk_name": settings.mail.desk_name,
        "ticket_id": ticket.id,
        "category": ticket.category,
        "order_no": order.order_no,
        "portal": order.portal,
        "item": item.name,
        "ordered_on": order.ordered_on,
        "shipped_on": order.shipped_on,
        "summary": redact(ticket.subject, known)[:200],
        "note": redact(note, known)[:1000] if note else None,
        "request": REQUESTS[request],
        "ship_to": ship_to,
    }
    domain = settings.mail.from_addr.rpartition("@")[2] or "localhost"
    notice = SupplierNotice(
        ticket_id=ticket.id,
        supplier_id=supplier.id,
        channel=channel,
        recipient=recipient,
        subject=mail_template("supplier_notice.subject.j2", ticket.municipality_id)
        .render(**context)
        .strip(),
        body=mail_template("supplier_notice.txt.j2", ticket.municipality_id).render(**context),
        message_id=f"supplier-notice-{uuid.uuid4().hex}.{ticket.id}@{domain}",
        includes_address=ship_to is not None,
        status="queued",
        created_by=actor.user_id,
    )
    session.add(notice)
    session.flush()
    if ship_to is not None and donor is not None:
        audit.record(
            session,
            actor,
            action="disclose_to_supplier",
            resource_type="ticket",
            resource_id=str(ticket.id),
            donor_id=donor.id,
            municipality_id=ticket.municipality_id,
            detail={"supplier_id": supplier.id, "fields": ["name", "postal_code", "address"]},
        )
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="supplier_notice_queued",
        actor_id=actor.user_id,
        detail={
            "notice_id": notice.id,
            "supplier_id": supplier.id,
            "channel": channel,
            "request": request,
            "includes_address": notice.includes_address,
        },
    )
    enqueue(session, SUPPLIER_NOTICE, {"notice_id": notice.id}, max_attempts=NOTICE_ATTEMPTS)
    session.flush()
    return notice


def send_notice(
    *, session: Session, notice_id: int, sender: MailSender, settings: NoticeSettings
) -> str:
    """Send one supplier notice at most once; return sent, in_doubt, failed or skipped."""
    notice = session.get(SupplierNotice, notice_id)
    if notice is None:
        return "skipped"
    data = build_mail(
        settings=settings.mail,
        to=[notice.recipient],
        subject=notice.subject,
        body=notice.body,
        message_id=notice.message_id,
    )
    row = notice

    def set_status(status: str, error: str | None) -> None:
        row.status = status
        row.error = error
        if status == "sent":
            row.sent_at = utcnow()
            record_event(
                session=session,
                ticket_id=row.ticket_id,
                kind="supplier_notice_sent",
                detail={"notice_id": row.id, "channel": row.channel},
            )

    outcome = send_once(
        session=session,
        status=row.status,
        set_status=set_status,
        mail=OutgoingMail(
            envelope_from=settings.mail.from_addr,
            recipients=[notice.recipient],
            data=data,
            message_id=notice.message_id,
        ),
        sender=sender,
    )
    log.info("supplier notice", extra={"notice_id": notice_id, "outcome": outcome})
    return outcome


def notices_of(*, session: Session, ticket_id: int) -> Sequence[SupplierNotice]:
    """Return a ticket's supplier notices, oldest first."""
    return session.scalars(
        select(SupplierNotice)
        .where(SupplierNotice.ticket_id == ticket_id)
        .order_by(SupplierNotice.id)
    ).all()


def tickets_by_notice_ids(*, session: Session, message_ids: Collection[str]) -> dict[str, int]:
    """Map each of these Message-IDs that is one of our supplier notices to its ticket."""
    wanted = [m for m in set(message_ids) if m.startswith("supplier-notice-")]
    if not wanted:
        return {}
    rows = session.execute(
        select(SupplierNotice.message_id, SupplierNotice.ticket_id).where(
            SupplierNotice.message_id.in_(wanted[:500])
        )
    )
    return {str(m): int(t) for m, t in rows}


def is_supplier_address(*, session: Session, ticket: Ticket, address: str) -> bool:
    """Return True when the address is the ticket's supplier's (it may join by [#id])."""
    if ticket.supplier_id is None:
        return False
    supplier = session.get(Supplier, ticket.supplier_id)
    return supplier is not None and supplier.email.lower() == address.strip().lower()


def note_supplier_reply(
    *, session: Session, ticket: Ticket, from_addr: str | None, references: Sequence[str]
) -> bool:
    """Put a supplier's answer on the timeline when the inbound mail is one; return whether."""
    if ticket.supplier_id is None:
        return False  # no supplier, no notice: skip the lookup for most mail
    notices = notices_of(session=session, ticket_id=ticket.id)
    if not notices:
        return False
    referenced = [n for n in notices if n.message_id in references]
    by_address = from_addr is not None and is_supplier_address(
        session=session, ticket=ticket, address=from_addr
    )
    if not referenced and not by_address:
        return False
    notice = (referenced or list(notices))[-1]
    if notice.replied_at is None:
        notice.replied_at = utcnow()
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="supplier_reply",
        detail={"notice_id": notice.id, "supplier_id": notice.supplier_id},
    )
    return True
