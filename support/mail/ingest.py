"""Inbound mail: one raw message in, stored once, threaded into a ticket.

The raw bytes pass an ordered list of small filters, each named for what it does:
parse, deduplicate, detect loops, link bounces, identify the sender, match the thread,
link orders, label the municipality. Then the message is stored, with its raw bytes, in the
caller's transaction. Nothing here raises for bad mail: a message that cannot be parsed is
stored raw, flagged, and lands in the inbox like any other.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.mail.models import MailAttachment, MailMessage, MailRaw
from support.mail.parsing import parse_message
from support.mail.parsing_types import ParsedMail
from support.mail.references import find_donation_numbers, find_order_numbers
from support.tickets import channels as tickets

if TYPE_CHECKING:
    from support.tickets.models import Ticket

log = logging.getLogger(__name__)

_TICKET_TAG = re.compile(r"\[#(\d{1,9})\]")
MAX_SUBJECT = 300


@dataclass(frozen=True)
class MailboxConfig:
    """Our own addresses, and which municipality each address serves."""

    our_addresses: frozenset[str] = frozenset()
    municipality_by_address: dict[str, str] = field(default_factory=dict)

    def is_ours(self, address: str | None) -> bool:
        """Return True when the address is one of the desk's own."""
        return address is not None and address.lower() in self.our_addresses


@dataclass
class Inbound:
    """A message on its way through the filters."""

    raw: bytes
    parsed: ParsedMail
    delivered_to: list[str]
    dedupe_key: str = ""
    problems: list[str] = field(default_factory=list)
    is_loop: bool = False
    bounce_of: MailMessage | None = None
    donor_id: str | None = None
    ticket: Ticket | None = None
    order_ids: list[int] = field(default_factory=list)
    municipality_id: str | None = None
    duplicate_of: MailMessage | None = None


@dataclass(frozen=True)
class IngestOutcome:
    """What ingesting one raw message came to."""

    message_id: int
    ticket_id: int
    duplicate: bool
    new_ticket: bool
    wants_ack: bool


Filter = Callable[[Session, Inbound, MailboxConfig], None]


def dedupe_key(parsed: ParsedMail) -> str:
    """Return the key under which a message is stored once: Message-ID plus content hash."""
    basis = f"{parsed.message_id or ''}\n{parsed.content_hash}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def find_duplicate(session: Session, item: Inbound, _config: MailboxConfig) -> None:
    """Find the stored copy of this exact mail, if any."""
    item.dedupe_key = dedupe_key(item.parsed)
    item.duplicate_of = session.scalar(
        select(MailMessage).where(MailMessage.dedupe_key == item.dedupe_key)
    )


def detect_loop(_session: Session, item: Inbound, config: MailboxConfig) -> None:
    """Flag mail that claims to come from one of our own addresses."""
    if config.is_ours(item.parsed.from_addr):
        item.is_loop = True
        item.problems.append("差出人が当窓口自身のアドレスです（ループの可能性）")


def link_bounce(session: Session, item: Inbound, _config: MailboxConfig) -> None:
    """Tie a bounce to the outbound mail that caused it."""
    parsed = item.parsed
    if parsed.auto_kind != "bounce":
        return
    candidates = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
    if parsed.dsn is not None and parsed.dsn.original_message_id:
        candidates.insert(0, parsed.dsn.original_message_id.strip("<>"))
    if not candidates:
        return
    item.bounce_of = session.scalar(
        select(MailMessage)
        .where(MailMessage.direction == "outbound", MailMessage.message_id.in_(candidates))
        .order_by(MailMessage.id.desc())
        .limit(1)
    )


def identify_sender(session: Session, item: Inbound, config: MailboxConfig) -> None:
    """Name the donor by the sender's address, when exactly one donor has it."""
    if item.is_loop or item.parsed.auto_kind == "bounce" or not item.parsed.from_addr:
        return
    item.donor_id = tickets.donor_id_by_email(session=session, email=item.parsed.from_addr)


def match_thread(session: Session, item: Inbound, _config: MailboxConfig) -> None:
    """Find the ticket: the bounced mail's, then In-Reply-To/References, then a [#id] tag."""
    if item.bounce_of is not None:
        item.ticket = tickets.get_ticket(session=session, ticket_id=item.bounce_of.ticket_id)
        return
    parsed = item.parsed
    ids = [*([parsed.in_reply_to] if parsed.in_reply_to else []), *reversed(parsed.references)]
    if ids:
        earlier = session.scalar(
            select(MailMessage.ticket_id)
            .where(MailMessage.message_id.in_(ids))
            .order_by(MailMessage.id.desc())
            .limit(1)
        )
        if earlier is not None:
            item.ticket = tickets.resolve_merged(session=session, ticket_id=earlier)
            return
    for tag in _TICKET_TAG.findall(parsed.subject):
        ticket = tickets.resolve_merged(session=session, ticket_id=int(tag))
        if ticket is not None and _may_join(session, ticket, item):
            item.ticket = ticket
            return


def _may_join(session: Session, ticket: Ticket, item: Inbound) -> bool:
    """Only a participant may reopen a ticket by quoting its number; anyone could type it."""
    if ticket.donor_id is not None and item.donor_id is not None:
        return ticket.donor_id == item.donor_id
    sender = item.parsed.from_addr
    if sender is None:
        return False
    return (
        session.scalar(
            select(MailMessage.id)
            .where(MailMessage.ticket_id == ticket.id, MailMessage.from_addr == sender)
            .limit(1)
        )
        is not None
    )


def link_orders(session: Session, item: Inbound, _config: MailboxConfig) -> None:
    """Link the order and donation numbers in the mail that belong to this donor, only."""
    text = f"{item.parsed.subject}\n{item.parsed.text}"
    orders = find_order_numbers(text)
    donations = find_donation_numbers(text)
    if not orders and not donations:
        return
    found = tickets.orders_by_numbers(session=session, order_nos=orders, donation_nos=donations)
    own = [o for o in found if item.donor_id is not None and o.donor_id == item.donor_id]
    item.order_ids = [o.id for o in own]
    if len(own) < len(found) or len(found) < len(orders) + len(donations):
        item.problems.append("本文中の注文番号・寄附番号の一部は差出人の注文として確認できません")
    if own and item.municipality_id is None:
        item.municipality_id = own[0].municipality_id


def label_municipality(session: Session, item: Inbound, config: MailboxConfig) -> None:
    """Take the municipality from the address the mail was sent to, when it serves one."""
    recipients = [*item.delivered_to, *item.parsed.to, *item.parsed.cc]
    for address in recipients:
        municipality = config.municipality_by_address.get(address.lower())
        if municipality is not None:
            if tickets.municipality_exists(session=session, municipality_id=municipality):
                item.municipality_id = municipality
            else:
                item.problems.append(f"宛先 {address} の自治体 {municipality} は未登録です")
            return


FILTERS: Sequence[Filter] = (
    find_duplicate,
    detect_loop,
    link_bounce,
    identify_sender,
    label_municipality,
    match_thread,
    link_orders,
)


def ingest(
    *,
    session: Session,
    raw: bytes,
    config: MailboxConfig,
    delivered_to: Sequence[str] = (),
    source: dict[str, object] | None = None,
    received_at: datetime | None = None,
) -> IngestOutcome:
    """Store one raw message exactly once and thread it; never raises for bad mail."""
    item = Inbound(
        raw=raw, parsed=parse_message(raw), delivered_to=[a.lower() for a in delivered_to]
    )
    for step in FILTERS:
        step(session, item, config)
        if item.duplicate_of is not None:
            return _merge_duplicate(item)
    return _store(session, item, source or {}, received_at or utcnow())


def _merge_duplicate(item: Inbound) -> IngestOutcome:
    """Record that the same mail also reached another of our addresses."""
    stored = item.duplicate_of
    assert stored is not None  # noqa: S101 - only called for duplicates
    extra = [a for a in item.delivered_to if a not in stored.delivered_to]
    if extra:
        stored.delivered_to = [*stored.delivered_to, *extra]
    return IngestOutcome(
        message_id=stored.id,
        ticket_id=stored.ticket_id,
        duplicate=True,
        new_ticket=False,
        wants_ack=False,
    )


def _store(
    session: Session, item: Inbound, source: dict[str, object], received_at: datetime
) -> IngestOutcome:
    parsed = item.parsed
    new_ticket = item.ticket is None
    if item.ticket is None:
        subject = parsed.subject.strip() or "（件名なし）"
        item.ticket = tickets.open_from_channel(
            session=session,
            channel="mail",
            subject=subject[:MAX_SUBJECT],
            donor_id=item.donor_id,
            municipality_id=item.municipality_id,
            order_ids=item.order_ids,
        )
    else:
        tickets.note_inbound(
            session=session,
            ticket=item.ticket,
            order_ids=item.order_ids,
            reopen=not parsed.is_auto and not item.is_loop,
        )
    problems = [*parsed.defects, *item.problems]
    if parsed.limited:
        problems.insert(
            0,
            "上限を超えたため、このメールの一部（本文・添付ファイル）は表示を省略しています。"
            "元のメールはそのまま保存されています",
        )
    message = MailMessage(
        ticket_id=item.ticket.id,
        direction="inbound",
        dedupe_key=item.dedupe_key,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=list(parsed.references),
        from_addr=parsed.from_addr,
        from_name=parsed.from_name,
        to_addrs=list(parsed.to),
        cc_addrs=list(parsed.cc),
        delivered_to=item.delivered_to,
        subject=parsed.subject,
        sent_at=parsed.date,
        received_at=received_at,
        text=parsed.text,
        html=parsed.html,
        is_auto=parsed.is_auto or item.is_loop,
        auto_kind=parsed.auto_kind,
        parse_failed=parsed.parse_failed,
        problems=problems,
        raw_size=len(item.raw),
        bounce_of_id=item.bounce_of.id if item.bounce_of else None,
        source=dict(source),
    )
    session.add(message)
    session.flush()
    session.add(MailRaw(message_id=message.id, data=item.raw))
    for index, part in enumerate(parsed.attachments):
        session.add(
            MailAttachment(
                message_id=message.id,
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                content_id=part.content_id,
                inline=part.inline,
                part_index=index,
                # An attachment over the limits is listed without its bytes: no digest to give.
                sha256="" if part.omitted else hashlib.sha256(part.data).hexdigest(),
            )
        )
    if item.bounce_of is not None:
        item.bounce_of.bounced = True
        tickets.record_event(
            session=session,
            ticket_id=item.ticket.id,
            kind="bounce",
            detail={"outbound_message_id": item.bounce_of.id},
        )
    if parsed.parse_failed:
        tickets.record_event(
            session=session,
            ticket_id=item.ticket.id,
            kind="parse_failed",
            detail={"message_id": message.id},
        )
    session.flush()
    wants_ack = new_ticket and not (parsed.is_auto or item.is_loop or parsed.from_addr is None)
    log.info(
        "mail stored",
        extra={
            "message_id": message.id,
            "ticket_id": item.ticket.id,
            "new_ticket": new_ticket,
            "auto_kind": parsed.auto_kind,
        },
    )
    return IngestOutcome(
        message_id=message.id,
        ticket_id=item.ticket.id,
        duplicate=False,
        new_ticket=new_ticket,
        wants_ack=wants_ack,
    )


def store_unprocessable(
    *,
    session: Session,
    raw: bytes,
    reason: str,
    delivered_to: Sequence[str] = (),
    source: dict[str, object] | None = None,
) -> IngestOutcome:
    """Keep a message that broke ingest itself: raw bytes, a flag, and a ticket for a human."""
    key = hashlib.sha256(b"unprocessable\n" + raw).hexdigest()
    existing = session.scalar(select(MailMessage).where(MailMessage.dedupe_key == key))
    if existing is not None:
        return IngestOutcome(
            message_id=existing.id,
            ticket_id=existing.ticket_id,
            duplicate=True,
            new_ticket=False,
            wants_ack=False,
        )
    ticket = tickets.open_from_channel(
        session=session,
        channel="mail",
        subject="（取り込みに失敗したメール）",
        donor_id=None,
        municipality_id=None,
    )
    message = MailMessage(
        ticket_id=ticket.id,
        direction="inbound",
        dedupe_key=key,
        subject="",
        text="",
        delivered_to=[a.lower() for a in delivered_to],
        parse_failed=True,
        problems=[f"取り込み処理で例外が発生しました: {reason}"],
        raw_size=len(raw),
        source=dict(source or {}),
    )
    session.add(message)
    session.flush()
    session.add(MailRaw(message_id=message.id, data=raw))
    tickets.record_event(
        session=session, ticket_id=ticket.id, kind="parse_failed", detail={"message_id": message.id}
    )
    session.flush()
    return IngestOutcome(
        message_id=message.id,
        ticket_id=ticket.id,
        duplicate=False,
        new_ticket=True,
        wants_ack=False,
    )
