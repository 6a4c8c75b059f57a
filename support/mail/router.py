"""HTTP routes of the shared inbox."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from support.deps import SessionDep, StaffUser
from support.mail import inbox
from support.mail.schemas import (
    Assignment,
    ConversationItem,
    ConversationRead,
    DraftRead,
    DraftWrite,
    MergeRequest,
    NoteCreate,
    NoteRead,
    PresenceUpdate,
    SplitRequest,
    StatusChange,
    TagsChange,
)
from support.tickets import work
from support.tickets.schemas import Page
from support.tickets.status import TicketStatus

router = APIRouter(prefix="/api/inbox", tags=["inbox"])

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=Page[ConversationItem])
def queue(
    actor: StaffUser,
    session: SessionDep,
    status: TicketStatus | None = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    unassigned: bool = False,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    municipality_id: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    donor_id: Annotated[str | None, Query(max_length=40)] = None,
    order_no: Annotated[str | None, Query(max_length=60)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in subject or body.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[ConversationItem]:
    """List conversations, most recent activity first, filtered and searched."""
    flt = work.TicketFilter(
        status=status.value if status else None,
        assignee_id=assignee_id,
        unassigned=unassigned,
        tag=tag,
        municipality_id=municipality_id,
        channel=channel,
        donor_id=donor_id,
        order_no=order_no,
    )
    items, total = inbox.list_conversations(
        session=session, actor=actor, flt=flt, text=q, limit=limit, offset=offset
    )
    return Page[ConversationItem](items=items, total=total, limit=limit, offset=offset)


@router.get("/{ticket_id}", response_model=ConversationRead)
def conversation(ticket_id: TicketId, actor: StaffUser, session: SessionDep) -> ConversationRead:
    """Return a conversation with its thread, notes and presence (audited)."""
    return inbox.read_conversation(session=session, actor=actor, ticket_id=ticket_id)


@router.put("/{ticket_id}/status", status_code=204)
def change_status(
    ticket_id: TicketId, body: StatusChange, actor: StaffUser, session: SessionDep
) -> None:
    """Set the status (未対応 / 対応中 / 返信済 / 完了)."""
    work.set_status(session=session, actor=actor, ticket_id=ticket_id, status=body.status)


@router.put("/{ticket_id}/assignee", status_code=204)
def change_assignee(
    ticket_id: TicketId, body: Assignment, actor: StaffUser, session: SessionDep
) -> None:
    """Set or clear the assignee label."""
    work.assign(session=session, actor=actor, ticket_id=ticket_id, assignee_id=body.assignee_id)


@router.put("/{ticket_id}/tags", response_model=list[str])
def change_tags(
    ticket_id: TicketId, body: TagsChange, actor: StaffUser, session: SessionDep
) -> list[str]:
    """Replace the free tags."""
    return work.set_tags(session=session, actor=actor, ticket_id=ticket_id, tags=body.tags)


@router.post("/{ticket_id}/notes", response_model=NoteRead, status_code=201)
def add_note(
    ticket_id: TicketId, body: NoteCreate, actor: StaffUser, session: SessionDep
) -> NoteRead:
    """Add an internal note."""
    return NoteRead.model_validate(
        work.add_note(session=session, actor=actor, ticket_id=ticket_id, body=body.body)
    )


@router.post("/{ticket_id}/merge", status_code=204)
def merge(ticket_id: TicketId, body: MergeRequest, actor: StaffUser, session: SessionDep) -> None:
    """Merge this conversation into another; both histories are kept."""
    work.merge(session=session, actor=actor, source_id=ticket_id, target_id=body.into_ticket_id)


@router.post("/{ticket_id}/split", status_code=201)
def split(
    ticket_id: TicketId, body: SplitRequest, actor: StaffUser, session: SessionDep
) -> dict[str, int]:
    """Move messages to a new conversation; returns its id."""
    new_id = inbox.split(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        message_ids=body.message_ids,
        subject=body.subject,
    )
    return {"ticket_id": new_id}


@router.put("/{ticket_id}/presence", status_code=204)
def presence(
    ticket_id: TicketId, body: PresenceUpdate, actor: StaffUser, session: SessionDep
) -> None:
    """Say the caller is viewing, drafting, or has left (refresh every ~30 s)."""
    work.touch_presence(session=session, actor=actor, ticket_id=ticket_id, activity=body.activity)


@router.post("/{ticket_id}/drafts", response_model=DraftRead, status_code=201)
def create_draft(
    ticket_id: TicketId, body: DraftWrite, actor: StaffUser, session: SessionDep
) -> DraftRead:
    """Start a reply; 409 when a newer message or note arrived after `seen_version`."""
    draft = inbox.save_draft(session=session, actor=actor, ticket_id=ticket_id, data=body)
    return DraftRead.model_validate(draft)


@router.put("/{ticket_id}/drafts/{draft_id}", response_model=DraftRead)
def update_draft(
    ticket_id: TicketId,
    draft_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: DraftWrite,
    actor: StaffUser,
    session: SessionDep,
) -> DraftRead:
    """Save a reply draft; 409 when the thread moved on since `seen_version`."""
    draft = inbox.save_draft(
        session=session, actor=actor, ticket_id=ticket_id, data=body, draft_id=draft_id
    )
    return DraftRead.model_validate(draft)


@router.get("/messages/{message_id}/raw")
def raw(message_id: MessageId, actor: StaffUser, session: SessionDep) -> Response:
    """Download a message exactly as received (audited)."""
    data = inbox.raw_message(session=session, actor=actor, message_id=message_id)
    return Response(
        data,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{message_id}.eml"'},
    )


@router.get("/messages/{message_id}/attachments/{index}")
def attachment(
    message_id: MessageId,
    index: Annotated[int, Path(ge=0, le=10_000)],
    actor: StaffUser,
    session: SessionDep,
) -> Response:
    """Download an attachment (audited); always as a download, never rendered inline."""
    filename, _content_type, data = inbox.attachment(
        session=session, actor=actor, message_id=message_id, index=index
    )
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    # Served as opaque bytes: a hostile HTML or SVG attachment must not run in our origin.
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )
