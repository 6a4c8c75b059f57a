"""Inbound mail: raw messages in, each stored once, threaded into a ticket.

A fetched batch is handled in three stages. Every mail is parsed (pure). Then each passes, in
order, the filters of ``ingest_filters`` (deduplicate, detect loops, link bounces, identify the
sender, label the municipality, match the thread, link orders), which read through lookups
prefetched once for the whole batch and decide without writing. Then the batch is written
together: the new tickets in one statement, the messages in another, their raw bytes and
attachments in a few more, all in the caller's transaction.

Nothing here raises for bad mail: a message that cannot be parsed is stored raw, flagged, and
lands in the inbox like any other. Should writing a batch fail (a bug, or another worker
storing the same mail at the same moment), the batch is rolled back to its savepoint and
ingested again one mail at a time, each in its own savepoint, so one bad mail costs only
itself, and a mail that breaks ingest itself is kept raw by ``store_unprocessable``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.mail.ingest_filters import Inbound, MailboxConfig, run_filters
from support.mail.ingest_lookups import BatchLookups, MailText
from support.mail.models import MailAttachment, MailMessage, MailRaw
from support.mail.parsing import parse_message
from support.mail.parsing_types import ParsedMail
from support.tickets import channels as tickets

if TYPE_CHECKING:
    from support.tickets.models import Ticket

__all__ = [
    "IngestOutcome",
    "MailboxConfig",
    "RawMail",
    "dedupe_key",
    "ingest",
    "ingest_batch",
    "store_unprocessable",
]

log = logging.getLogger(__name__)

MAX_SUBJECT = 300
_LIMITED = (
    "上限を超えたため、このメールの一部（本文・添付ファイル）は表示を省略しています。"
    "元のメールはそのまま保存されています"
)


@dataclass(frozen=True)
class RawMail:
    """One raw message as it arrived, with where it came from."""

    raw: bytes
    delivered_to: Sequence[str] = ()
    source: dict[str, object] = field(default_factory=dict)
    received_at: datetime | None = None


@dataclass(frozen=True)
class IngestOutcome:
    """What ingesting one raw message came to."""

    message_id: int
    ticket_id: int
    duplicate: bool
    new_ticket: bool
    wants_ack: bool


def dedupe_key(parsed: ParsedMail) -> str:
    """Return the key under which a message is stored once: Message-ID plus content hash."""
    basis = f"{parsed.message_id or ''}\n{parsed.content_hash}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def ingest(
    *,
    session: Session,
    raw: bytes,
    config: MailboxConfig,
    delivered_to: Sequence[str] = (),
    source: dict[str, object] | None = None,
    received_at: datetime | None = None,
) -> IngestOutcome:
    """Store one raw message exactly once and thread it; raises only on a bug or DB error."""
    mail = RawMail(raw, delivered_to, source or {}, received_at)
    return _ingest_together(session, [mail], config)[0]


def ingest_batch(
    *, session: Session, mails: Sequence[RawMail], config: MailboxConfig
) -> list[IngestOutcome]:
    """Store a batch of raw messages, each exactly once, in order; never raises for bad mail."""
    if not mails:
        return []
    try:
        with session.begin_nested():
            return _ingest_together(session, mails, config)
    except Exception:  # noqa: BLE001 - retried mail by mail below, so nothing is lost
        log.warning("batch ingest failed; ingesting the batch one mail at a time", exc_info=True)
    return [_ingest_alone(session, mail, config) for mail in mails]


def _ingest_alone(session: Session, mail: RawMail, config: MailboxConfig) -> IngestOutcome:
    try:
        with session.begin_nested():
            return _ingest_together(session, [mail], config)[0]
    except Exception as exc:  # noqa: BLE001 - a mail that breaks ingest is still kept
        log.exception("ingest failed; storing the raw mail for a human", extra=mail.source)
        with session.begin_nested():
            return store_unprocessable(
                session=session,
                raw=mail.raw,
                reason=type(exc).__name__,
                delivered_to=mail.delivered_to,
                source=mail.source,
            )


def _ingest_together(
    session: Session, mails: Sequence[RawMail], config: MailboxConfig
) -> list[IngestOutcome]:
    now = utcnow()
    items = []
    for mail in mails:
        parsed = parse_message(mail.raw)
        items.append(
            Inbound(
                raw=mail.raw,
                parsed=parsed,
                text=MailText.of(parsed),
                dedupe_key=dedupe_key(parsed),
                delivered_to=[a.lower() for a in mail.delivered_to],
                source=dict(mail.source),
                received_at=mail.received_at or now,
            )
        )
    lookups = BatchLookups(
        session,
        parsed=[i.parsed for i in items],
        keys=[i.dedupe_key for i in items],
        texts=[i.text for i in items],
    )
    for item in items:
        run_filters(lookups, item, config)
        if item.duplicate_of is not None:
            _merge_delivered_to(item)
    _store(session, [i for i in items if i.duplicate_of is None])
    return [_outcome(item) for item in items]


def _merge_delivered_to(item: Inbound) -> None:
    """Record that the same mail also reached another of our addresses."""
    earlier = item.duplicate_of
    assert earlier is not None  # noqa: S101 - only called for duplicates
    extra = [a for a in item.delivered_to if a not in earlier.delivered_to]
    if extra:
        earlier.delivered_to = [*earlier.delivered_to, *extra]


def _store(session: Session, items: Sequence[Inbound]) -> None:
    """Write the batch's new mails: tickets, then messages, then raw bytes and attachments."""
    opening = [item for item in items if item.opens_ticket]
    specs = [
        tickets.ChannelTicket(
            channel="mail",
            subject=(item.parsed.subject.strip() or "（件名なし）")[:MAX_SUBJECT],
            donor_id=item.donor_id,
            municipality_id=item.municipality_id,
            order_ids=item.order_ids,
        )
        for item in opening
    ]
    for item, ticket in zip(
        opening, tickets.open_many_from_channel(session=session, specs=specs), strict=True
    ):
        assert item.slot is not None  # noqa: S101 - run_filters gives every stored mail one
        item.slot.ticket = ticket
    for item in items:
        if not item.opens_ticket:
            tickets.note_inbound(
                session=session,
                ticket=_ticket(item),
                order_ids=item.order_ids,
                reopen=not item.parsed.is_auto and not item.is_loop,
                from_addr=item.parsed.from_addr,
                references=[*item.parsed.references, item.parsed.in_reply_to or ""],
            )
        item.stored = _message(item)
    session.add_all([item.stored for item in items if item.stored is not None])
    session.flush()
    for item in items:
        _store_parts(session, item)
    session.flush()


def _ticket(item: Inbound) -> Ticket:
    assert item.slot is not None and item.slot.ticket is not None  # noqa: S101 - set by _store
    return item.slot.ticket


def _message(item: Inbound) -> MailMessage:
    parsed = item.parsed
    problems = [*parsed.defects, *item.problems]
    if parsed.limited:
        problems.insert(0, _LIMITED)
    return MailMessage(
        ticket_id=_ticket(item).id,
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
        received_at=item.received_at,
        text=parsed.text,
        html=parsed.html,
        is_auto=parsed.is_auto or item.is_loop,
        auto_kind=parsed.auto_kind,
        parse_failed=parsed.parse_failed,
        problems=problems,
        raw_size=len(item.raw),
        bounce_of_id=item.bounce_of.id if item.bounce_of else None,
        source=item.source,
    )


def _store_parts(session: Session, item: Inbound) -> None:
    message, parsed, ticket_id = item.stored, item.parsed, _ticket(item).id
    assert message is not None  # noqa: S101 - set by _store
    session.add(MailRaw(message_id=message.id, data=item.raw))
    session.add_all(
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
        for index, part in enumerate(parsed.attachments)
    )
    if item.bounce_of is not None:
        item.bounce_of.bounced = True
        tickets.record_event(
            session=session,
            ticket_id=ticket_id,
            kind="bounce",
            detail={"outbound_message_id": item.bounce_of.id},
        )
    if parsed.parse_failed:
        tickets.record_event(
            session=session,
            ticket_id=ticket_id,
            kind="parse_failed",
            detail={"message_id": message.id},
        )
    log.info(
        "mail stored",
        extra={
            "message_id": message.id,
            "ticket_id": ticket_id,
            "new_ticket": item.opens_ticket,
            "auto_kind": parsed.auto_kind,
        },
    )


def _outcome(item: Inbound) -> IngestOutcome:
    original = item.duplicate_of
    while isinstance(original, Inbound) and original.duplicate_of is not None:
        original = original.duplicate_of
    stored = original.stored if isinstance(original, Inbound) else original
    if stored is None:
        stored = item.stored
    assert stored is not None  # noqa: S101 - every mail is stored or a duplicate of one
    if original is not None:
        return IngestOutcome(stored.id, stored.ticket_id, True, False, False)
    parsed = item.parsed
    wants_ack = item.opens_ticket and not (
        parsed.is_auto or item.is_loop or parsed.from_addr is None
    )
    return IngestOutcome(stored.id, stored.ticket_id, False, item.opens_ticket, wants_ack)


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
