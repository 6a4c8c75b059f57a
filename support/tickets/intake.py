"""Opening a ticket from any channel: the one function mail, the IVR, the web form and
operators go through, so every ticket starts with the same fields, dues and timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.errors import BadInput
from support.tickets import notices, sla_track
from support.tickets.masking import normalise_phone
from support.tickets.models import Donor, Municipality, Order, Ticket, TicketNote, TicketOrder
from support.tickets.policy import CATEGORIES
from support.tickets.status import TicketStatus
from support.tickets.timeline import record_event

Channel = Literal["mail", "phone", "ivr", "web", "operator"]
Priority = Literal["low", "normal", "high", "urgent"]
CHANNELS: frozenset[str] = frozenset(get_args(Channel))
PRIORITIES: frozenset[str] = frozenset(get_args(Priority))
MAX_SUBJECT = 300
_IN_CHUNK = 500


@dataclass(frozen=True)
class TicketIntake:
    """What a channel knows when it opens a ticket (see notes/tickets-api.md)."""

    channel: str
    subject: str
    donor_id: str | None = None
    municipality_id: str | None = None
    order_ids: Sequence[int] = ()
    category: str = "その他"
    priority: str = "normal"
    description: str | None = None
    caller_number: str | None = None
    recording_url: str | None = None
    transcript: str | None = None
    callback_due: datetime | None = None
    external_ref: str | None = None
    actor_id: int | None = None
    opened_at: datetime | None = None


def _check(intake: TicketIntake) -> None:
    if intake.channel not in CHANNELS:
        raise BadInput(f"不明な受付経路です: {intake.channel[:20]}", allowed=sorted(CHANNELS))
    if intake.category not in CATEGORIES:
        raise BadInput(f"不明な分類です: {intake.category[:30]}", allowed=sorted(CATEGORIES))
    if intake.priority not in PRIORITIES:
        raise BadInput(f"不明な優先度です: {intake.priority[:20]}", allowed=sorted(PRIORITIES))
    if not intake.subject.strip():
        raise BadInput("件名を入力してください")
    for name in ("callback_due", "opened_at"):
        at = getattr(intake, name)
        if at is not None and at.utcoffset() is None:
            raise BadInput(f"{name} にはタイムゾーン付きの日時を指定してください")
    if intake.external_ref is not None and not 1 <= len(intake.external_ref) <= 100:
        raise BadInput("external_ref は1〜100文字で指定してください")
    if intake.caller_number is not None and not 3 <= len(normalise_phone(intake.caller_number)):
        raise BadInput("発信者番号が読み取れません")


def _phone(number: str | None) -> str | None:
    if number is None:
        return None
    digits = normalise_phone(number)[:20]
    return f"+{digits}" if number.strip().startswith("+") else digits


def _chunks(values: Sequence[Any]) -> list[list[Any]]:
    items = list(dict.fromkeys(values))
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]


def _load_orders(session: Session, intakes: Sequence[TicketIntake]) -> dict[int, Order]:
    found: dict[int, Order] = {}
    for chunk in _chunks([o for i in intakes for o in i.order_ids]):
        found.update((o.id, o) for o in session.scalars(select(Order).where(Order.id.in_(chunk))))
    return found


def _existing(session: Session, intakes: Sequence[TicketIntake]) -> dict[str, Ticket]:
    refs = [i.external_ref for i in intakes if i.external_ref]
    found: dict[str, Ticket] = {}
    for chunk in _chunks(refs):
        found.update(
            (t.external_ref or "", t)
            for t in session.scalars(select(Ticket).where(Ticket.external_ref.in_(chunk)))
        )
    return found


def _known(session: Session, column: Any, values: set[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(sorted(values)):
        known.update(session.scalars(select(column).where(column.in_(chunk))))
    return known


def open_ticket(*, session: Session, intake: TicketIntake) -> Ticket:
    """Open one ticket from any channel (idempotent by external_ref); flushes, never commits."""
    return open_tickets(session=session, intakes=[intake])[0]


def open_tickets(  # noqa: C901 - one pass of checks, then one write; splitting hides the order
    *, session: Session, intakes: Sequence[TicketIntake]
) -> list[Ticket]:
    """Open one ticket per intake with a single flush: orders, dues, timeline, notes, notices."""
    for intake in intakes:
        _check(intake)
    orders = _load_orders(session, intakes)
    existing = _existing(session, intakes)
    donors = _known(session, Donor.id, {i.donor_id for i in intakes if i.donor_id})
    cities = _known(
        session, Municipality.id, {i.municipality_id for i in intakes if i.municipality_id}
    )
    now = utcnow()
    results: list[Ticket | None] = []
    fresh: list[tuple[TicketIntake, Ticket, list[int]]] = []
    seen_refs: dict[str, Ticket] = {}
    for intake in intakes:
        ref = intake.external_ref
        if ref is not None and (found := existing.get(ref) or seen_refs.get(ref)):
            results.append(found)
            continue
        missing = [o for o in intake.order_ids if o not in orders]
        if missing:
            raise BadInput(f"指定された注文は存在しません: {missing[0]}")
        if intake.donor_id is not None and intake.donor_id not in donors:
            raise BadInput("指定された寄附者は存在しません")
        if intake.municipality_id is not None and intake.municipality_id not in cities:
            raise BadInput("指定された自治体は存在しません")
        linked = list(dict.fromkeys(intake.order_ids))
        first = orders[linked[0]] if linked else None
        municipality_id = intake.municipality_id or (first.municipality_id if first else None)
        if first is not None and municipality_id != first.municipality_id:
            raise BadInput("注文の自治体と指定された自治体が一致しません")
        donor_id = intake.donor_id or (first.donor_id if first else None)
        if any(orders[o].donor_id != donor_id for o in linked):
            raise BadInput("注文の寄附者と指定された寄附者が一致しません")
        opened = intake.opened_at or now
        ticket = Ticket(
            subject=intake.subject.strip()[:MAX_SUBJECT],
            channel=intake.channel,
            status=TicketStatus.OPEN.value,
            category=intake.category,
            priority=intake.priority,
            donor_id=donor_id,
            municipality_id=municipality_id,
            order_id=first.id if first else None,
            supplier_id=first.supplier_id if first else None,
            created_by=intake.actor_id,
            created_at=opened,
            updated_at=opened,
            last_activity_at=opened,
            thread_version=1,
            external_ref=ref,
            contact_phone=_phone(intake.caller_number),
            callback_due_at=intake.callback_due,
            sla_alerts=[],
            liability_covers=[],
        )
        sla_track.start(ticket)
        if ref is not None:
            seen_refs[ref] = ticket
        results.append(ticket)
        fresh.append((intake, ticket, linked))
    session.add_all([t for _, t, _ in fresh])
    session.flush()
    for intake, ticket, linked in fresh:
        session.add_all(
            TicketOrder(ticket_id=ticket.id, order_id=o, source=intake.channel) for o in linked
        )
        detail: dict[str, Any] = {"channel": intake.channel, "category": intake.category}
        if intake.external_ref:
            detail["external_ref"] = intake.external_ref
        if intake.recording_url:
            detail["recording_url"] = intake.recording_url
        if intake.callback_due:
            detail["callback_due"] = intake.callback_due.isoformat()
        if linked:
            detail["order_ids"] = linked
        record_event(
            session=session,
            ticket_id=ticket.id,
            kind="opened",
            actor_id=intake.actor_id,
            detail=detail,
            at=ticket.created_at,
        )
        for body in (intake.description, _transcript_note(intake)):
            if body:
                session.add(TicketNote(ticket_id=ticket.id, author_id=intake.actor_id, body=body))
    if fresh:
        session.flush()
    for _, ticket, _ in fresh:
        notices.flag_if_serious(session=session, ticket=ticket, tags=())
    return [t for t in results if t is not None]


def _transcript_note(intake: TicketIntake) -> str | None:
    if not intake.transcript and not intake.recording_url:
        return None
    lines = ["【留守番電話】"]
    if intake.recording_url:
        lines.append(f"録音: {intake.recording_url}")
    if intake.transcript:
        lines += ["文字起こし:", intake.transcript]
    return "\n".join(lines)
