"""The shared inbox: the queue, a conversation, splitting it, raw mail and attachments, drafts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.errors import BadInput, NotFound
from support.mail import approval
from support.mail.models import MailAttachment, MailDraft, MailMessage, MailRaw
from support.mail.parsing import parse_message
from support.mail.schemas import (
    AttachmentRead,
    ConversationItem,
    ConversationRead,
    DraftWrite,
    MessageRead,
    NoteRead,
)
from support.tickets import channels, work
from support.tickets.status import TicketStatus

if TYPE_CHECKING:
    from support.tickets.models import Ticket


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_conversations(
    *,
    session: Session,
    actor: Actor,
    flt: work.TicketFilter,
    text: str | None,
    limit: int,
    offset: int,
    with_total: bool = True,
) -> tuple[list[ConversationItem], int]:
    """Return a page of the queue, most recent activity first, and the total (-1: not asked)."""
    query = work.ticket_query(actor, flt)
    ticket_cls = query.column_descriptions[0]["entity"]
    if text:
        pattern = _like(text.strip())
        matching = select(MailMessage.ticket_id).where(
            or_(
                MailMessage.subject.ilike(pattern, escape="\\"),
                MailMessage.text.ilike(pattern, escape="\\"),
                MailMessage.from_addr.ilike(pattern, escape="\\"),
            )
        )
        query = query.where(
            or_(ticket_cls.id.in_(matching), ticket_cls.subject.ilike(pattern, escape="\\"))
        )
    total = (
        int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        if with_total
        else -1
    )
    # Sort and skip ids only, then load the page's rows: whole rows in the sorter made a deep
    # page of 100,000 tickets cost seconds.
    page_ids = list(
        session.scalars(
            query.with_only_columns(ticket_cls.id)
            .order_by(ticket_cls.last_activity_at.desc(), ticket_cls.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    loaded = {
        t.id: t for t in session.scalars(select(ticket_cls).where(ticket_cls.id.in_(page_ids)))
    }
    tickets = [loaded[i] for i in page_ids]
    ids = [t.id for t in tickets]
    counts = (
        dict(
            session.execute(
                select(MailMessage.ticket_id, func.count())
                .where(MailMessage.ticket_id.in_(ids))
                .group_by(MailMessage.ticket_id)
            ).all()
        )
        if ids
        else {}
    )
    attention = (
        set(
            session.scalars(
                select(MailMessage.ticket_id).where(
                    MailMessage.ticket_id.in_(ids),
                    or_(MailMessage.parse_failed, MailMessage.bounced),
                )
            )
        )
        if ids
        else set()
    )
    tags = work.tags_of_many(session=session, ticket_ids=ids)
    items = [
        ConversationItem(
            id=t.id,
            subject=t.subject,
            status=t.status,
            status_label=TicketStatus(t.status).label,
            assignee_id=t.assignee_id,
            tags=tags.get(t.id, []),
            donor_id=t.donor_id,
            municipality_id=t.municipality_id,
            channel=t.channel,
            last_activity_at=t.last_activity_at,
            message_count=counts.get(t.id, 0),
            needs_attention=t.id in attention,
        )
        for t in tickets
    ]
    return items, total


def _message_read(message: MailMessage, attachments: Sequence[MailAttachment]) -> MessageRead:
    return MessageRead(
        id=message.id,
        direction=message.direction,
        from_addr=message.from_addr,
        from_name=message.from_name,
        to=message.to_addrs,
        cc=message.cc_addrs,
        subject=message.subject,
        sent_at=message.sent_at,
        received_at=message.received_at,
        text=message.text,
        html=message.html,
        is_auto=message.is_auto,
        auto_kind=message.auto_kind,
        send_status=message.send_status,
        parse_failed=message.parse_failed,
        bounced=message.bounced,
        problems=message.problems,
        attachments=[
            AttachmentRead(
                index=a.part_index,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                inline=a.inline,
            )
            for a in attachments
        ],
    )


def _audit_read(session: Session, actor: Actor, ticket: Ticket, what: str, rid: str) -> None:
    audit.record(
        session,
        actor,
        action="read",
        resource_type=what,
        resource_id=rid,
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
    )


def read_conversation(*, session: Session, actor: Actor, ticket_id: int) -> ConversationRead:
    """Return a conversation in full; reading a donor's mail is an audited access."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    messages = session.scalars(
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket.id)
        .order_by(MailMessage.received_at, MailMessage.id)
    ).all()
    ids = [m.id for m in messages]
    parts: dict[int, list[MailAttachment]] = {}
    if ids:
        for part in session.scalars(
            select(MailAttachment)
            .where(MailAttachment.message_id.in_(ids))
            .order_by(MailAttachment.part_index)
        ):
            parts.setdefault(part.message_id, []).append(part)
    _audit_read(session, actor, ticket, "conversation", str(ticket.id))
    return ConversationRead(
        id=ticket.id,
        subject=ticket.subject,
        status=ticket.status,
        status_label=TicketStatus(ticket.status).label,
        assignee_id=ticket.assignee_id,
        tags=work.tags_of(session=session, ticket_id=ticket.id),
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
        merged_into_id=ticket.merged_into_id,
        thread_version=ticket.thread_version,
        messages=[_message_read(m, parts.get(m.id, [])) for m in messages],
        notes=[
            NoteRead.model_validate(n) for n in work.notes_of(session=session, ticket_id=ticket.id)
        ],
        presence=work.presence_of(session=session, ticket_id=ticket.id),
    )


def _message_in_scope(
    session: Session, actor: Actor, message_id: int
) -> tuple[MailMessage, Ticket]:
    message = session.get(MailMessage, message_id)
    if message is None:
        raise NotFound()
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=message.ticket_id)
    return message, ticket


def raw_message(*, session: Session, actor: Actor, message_id: int) -> bytes:
    """Return a message's raw bytes, exactly as received (audited)."""
    message, ticket = _message_in_scope(session, actor, message_id)
    raw = session.get(MailRaw, message.id)
    if raw is None:
        raise NotFound()
    _audit_read(session, actor, ticket, "mail_raw", str(message.id))
    return raw.data


def attachment(
    *, session: Session, actor: Actor, message_id: int, index: int
) -> tuple[str, str, bytes]:
    """Return (filename, content type, bytes) of one attachment, re-read from the raw mail."""
    message, ticket = _message_in_scope(session, actor, message_id)
    part = session.scalar(
        select(MailAttachment).where(
            MailAttachment.message_id == message.id, MailAttachment.part_index == index
        )
    )
    raw = session.get(MailRaw, message.id)
    if part is None or raw is None:
        raise NotFound()
    parsed = parse_message(raw.data)
    if index >= len(parsed.attachments):
        raise NotFound()
    data = parsed.attachments[index].data
    _audit_read(session, actor, ticket, "mail_attachment", f"{message.id}/{index}")
    return part.filename, part.content_type, data


def split(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    message_ids: Sequence[int],
    subject: str | None,
) -> int:
    """Move messages of a conversation to a new ticket; return the new ticket's id."""
    messages = session.scalars(select(MailMessage).where(MailMessage.id.in_(message_ids))).all()
    if len(messages) != len(set(message_ids)) or any(m.ticket_id != ticket_id for m in messages):
        raise BadInput("分割するメッセージはこの会話のものを指定してください")
    remaining = session.scalar(
        select(func.count())
        .select_from(MailMessage)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.id.not_in(message_ids))
    )
    if not remaining:
        raise BadInput("すべてのメッセージを分割することはできません")
    first = min(messages, key=lambda m: m.id)
    new = work.open_split(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        subject=subject or first.subject or "（件名なし）",
    )
    for message in messages:
        message.ticket_id = new.id
    session.flush()
    return new.id


def save_draft(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    data: DraftWrite,
    draft_id: int | None = None,
) -> MailDraft:
    """Create or update a reply draft; refused (409) when the thread moved on since it was read."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    work.require_current(ticket, data.seen_version)
    if data.in_reply_to_id is not None:
        target = session.get(MailMessage, data.in_reply_to_id)
        if target is None or target.ticket_id != ticket.id:
            raise BadInput("返信先のメッセージはこの会話のものを指定してください")
    before: tuple[object, ...] | None = None
    if draft_id is None:
        draft = MailDraft(ticket_id=ticket.id, author_id=actor.user_id, status="draft")
        session.add(draft)
    else:
        found = session.get(MailDraft, draft_id)
        if found is None or found.ticket_id != ticket.id:
            raise NotFound()
        draft = found
        approval.guard_edit(draft)
        before = approval.content_of(draft)
    draft.to_addrs = [str(a) for a in data.to]
    draft.cc_addrs = [str(a) for a in data.cc]
    draft.bcc_addrs = [str(a) for a in data.bcc]
    draft.subject = data.subject
    draft.body = data.body
    draft.in_reply_to_id = data.in_reply_to_id
    draft.based_on_version = ticket.thread_version
    if before is not None:
        # Any change to an approved or submitted message voids its approval.
        approval.void_if_changed(session=session, actor=actor, draft=draft, before=before)
    work.touch_presence(session=session, actor=actor, ticket_id=ticket.id, activity="drafting")
    session.flush()
    channels.record_event(
        session=session,
        ticket_id=ticket.id,
        kind="draft_saved",
        actor_id=actor.user_id,
        detail={"draft_id": draft.id},
    )
    return draft
