"""Use cases for callers on the phone line: order status after verification, voicemail tickets.

Called by the IVR. A caller is nobody until verified, so every read of a donor's record here
is audited under the IVR's own actor, matched or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.tickets.intake import TicketIntake, open_ticket
from support.tickets.masking import normalise_phone
from support.tickets.models import Donor, Order, TicketEvent, TicketNote, TicketTag
from support.tickets.timeline import record_event

CALLBACK_TAG = "折り返し依頼"


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What a verified caller may hear about an order: no name, address, item or tracking."""

    order_id: int
    municipality_id: str
    status: str
    ordered_on: date | None
    shipped_on: date | None
    carrier: str | None


def delivery_for_caller(
    *, session: Session, actor: Actor, order_id: int, phone_last4: str
) -> DeliveryFacts | None:
    """Return the order's delivery facts when the donor's phone ends in these four digits."""
    row = session.execute(
        select(Order, Donor.phone)
        .join(Donor, Donor.id == Order.donor_id)
        .where(Order.id == order_id)
    ).first()
    if row is None:
        return None
    order, phone = row
    digits = normalise_phone(phone or "")
    matched = len(phone_last4) == 4 and len(digits) >= 4 and digits[-4:] == phone_last4
    audit.record(
        session,
        actor,
        action="read" if matched else "verify_failed",
        resource_type="order_status",
        resource_id=str(order.id),
        donor_id=order.donor_id,
        municipality_id=order.municipality_id,
        detail={"channel": "ivr", "matched": matched},
    )
    if not matched:
        return None
    return DeliveryFacts(
        order.id,
        order.municipality_id,
        order.status,
        order.ordered_on,
        order.shipped_on,
        order.carrier,
    )


def open_voicemail_ticket(
    *,
    session: Session,
    subject: str,
    note: str,
    municipality_id: str | None,
    order_id: int | None,
    caller_number: str | None,
    recording_url: str | None,
    transcript: str | None,
    callback_due: datetime,
    call_sid: str,
) -> int:
    """Open an IVR ticket for a voicemail with a callback request (once per call); return its id."""
    donor_id = None
    if order_id is not None:
        donor_id = session.scalar(select(Order.donor_id).where(Order.id == order_id))
    ticket = open_ticket(
        session=session,
        intake=TicketIntake(
            channel="ivr",
            subject=subject,
            donor_id=donor_id,
            municipality_id=municipality_id,
            order_ids=(order_id,) if order_id is not None else (),
            description=note,
            caller_number=caller_number,
            recording_url=recording_url,
            transcript=transcript,
            callback_due=callback_due,
            external_ref=f"twilio:{call_sid}",
        ),
    )
    tagged = session.scalar(
        select(TicketTag.tag).where(TicketTag.ticket_id == ticket.id, TicketTag.tag == CALLBACK_TAG)
    )
    if tagged is None:
        session.add(TicketTag(ticket_id=ticket.id, tag=CALLBACK_TAG))
        record_event(
            session=session,
            ticket_id=ticket.id,
            kind="callback_requested",
            detail={"due_at": callback_due.isoformat(), "channel": "ivr"},
        )
    session.flush()
    return ticket.id


def add_late_recording(
    *, session: Session, ticket_id: int, recording_url: str, seconds: int
) -> None:
    """Add a recording that arrived after the call's end was recorded to its voicemail ticket."""
    session.add(
        TicketNote(
            ticket_id=ticket_id,
            author_id=None,
            body=f"録音（通話終了後に受信）: {recording_url}（{seconds}秒）",
        )
    )
    record_event(
        session=session,
        ticket_id=ticket_id,
        kind="recording_added",
        detail={"recording_url": recording_url, "seconds": seconds},
    )
    session.flush()


def voicemail_recordings(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, str]:
    """Return the Twilio recording URL of each voicemail ticket, by ticket id."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(TicketEvent.ticket_id, TicketEvent.detail)
        .where(
            TicketEvent.ticket_id.in_(set(ticket_ids)),
            TicketEvent.kind.in_(("opened", "recording_added")),
        )
        .order_by(TicketEvent.id)
    )
    found: dict[int, str] = {}
    for ticket_id, detail in rows:
        url = (detail or {}).get("recording_url")
        # The recording the ticket was opened with, else one that came after the hang-up.
        if isinstance(url, str) and url.startswith("https://") and ticket_id not in found:
            found[ticket_id] = url
    return found
