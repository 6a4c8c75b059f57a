"""HTTP routes of outbound mail: canned replies, attachments, approval, undo, in-doubt sends."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from support.deps import SessionDep, SettingsDep, StaffUser
from support.errors import BadInput
from support.mail import approval, canned, draft_files, outbound_views
from support.mail.outbound import OutboundConfig, attachments_of
from support.mail.outbound_schemas import (
    ApprovalItem,
    ApproveRequest,
    AttachmentAdd,
    CannedRead,
    CannedRequest,
    DraftAttachmentRead,
    DraftSummary,
    InDoubtItem,
    OutboundState,
    OverrideRequest,
    RejectRequest,
    ResolveRequest,
)
from support.mail.schemas import DraftRead
from support.tickets.schemas import Page

router = APIRouter(prefix="/api/outbound", tags=["outbound"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _state(
    session: SessionDep, actor: StaffUser, draft_id: int, settings: SettingsDep
) -> OutboundState:
    return outbound_views.draft_state(
        session=session,
        actor=actor,
        draft_id=draft_id,
        config=OutboundConfig.from_settings(settings),
    )


@router.get("/canned", response_model=list[CannedRead])
def list_canned(
    actor: StaffUser,
    municipality_id: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_-]+$")] = None,
) -> list[CannedRead]:
    """List the canned replies (a municipality's own variants replace the common ones)."""
    return [
        CannedRead(key=c.key, title=c.title, municipality_id=c.municipality_id)
        for c in canned.list_canned(municipality_id=municipality_id)
    ]


@router.post("/tickets/{ticket_id}/canned", response_model=DraftRead, status_code=201)
def draft_from_canned(
    ticket_id: Id, body: CannedRequest, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> DraftRead:
    """Start a reply from a canned reply (or replace a draft's text); the operator edits it."""
    draft = canned.draft_from_canned(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        key=body.key,
        seen_version=body.seen_version,
        desk_name=settings.desk_name,
        draft_id=body.draft_id,
    )
    return DraftRead.model_validate(draft)


@router.get("/tickets/{ticket_id}/drafts", response_model=list[DraftSummary])
def list_drafts(ticket_id: Id, actor: StaffUser, session: SessionDep) -> list[DraftSummary]:
    """List a conversation's drafts, newest first, with their approval and send state."""
    return outbound_views.drafts_of(session=session, actor=actor, ticket_id=ticket_id)


@router.get("/drafts/{draft_id}", response_model=OutboundState)
def read_draft(
    draft_id: Id, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Return a draft's exact message, hash, live findings, approval, send and diff (audited)."""
    return _state(session, actor, draft_id, settings)


@router.get("/drafts/{draft_id}/attachments", response_model=list[DraftAttachmentRead])
def list_attachments(
    draft_id: Id, actor: StaffUser, session: SessionDep
) -> list[DraftAttachmentRead]:
    """List a draft's attachments."""
    draft, _ticket = approval.draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    return [
        DraftAttachmentRead.model_validate(a)
        for a in attachments_of(session=session, draft_id=draft.id)
    ]


@router.post("/drafts/{draft_id}/attachments", response_model=DraftAttachmentRead, status_code=201)
def add_attachment(
    draft_id: Id, body: AttachmentAdd, actor: StaffUser, session: SessionDep
) -> DraftAttachmentRead:
    """Attach a file (base64); voids a pending or granted approval."""
    try:
        data = base64.b64decode(body.data_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput("data_base64 が正しい Base64 ではありません") from exc
    item = draft_files.add_attachment(
        session=session,
        actor=actor,
        draft_id=draft_id,
        filename=body.filename,
        content_type=body.content_type,
        data=data,
    )
    return DraftAttachmentRead.model_validate(item)


@router.get("/drafts/{draft_id}/attachments/{attachment_id}")
def download_attachment(
    draft_id: Id, attachment_id: Id, actor: StaffUser, session: SessionDep
) -> Response:
    """Download a draft's attachment (audited), always as a download."""
    item = draft_files.read_attachment(
        session=session, actor=actor, draft_id=draft_id, attachment_id=attachment_id
    )
    return Response(
        item.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete("/drafts/{draft_id}/attachments/{attachment_id}", status_code=204)
def remove_attachment(
    draft_id: Id, attachment_id: Id, actor: StaffUser, session: SessionDep
) -> None:
    """Remove an attachment; voids a pending or granted approval."""
    draft_files.remove_attachment(
        session=session, actor=actor, draft_id=draft_id, attachment_id=attachment_id
    )


@router.post("/drafts/{draft_id}/submit", response_model=OutboundState)
def submit(
    draft_id: Id, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Submit for approval (承認待ち); without a needed approval it is scheduled at once."""
    approval.submit(
        session=session,
        actor=actor,
        draft_id=draft_id,
        config=OutboundConfig.from_settings(settings),
    )
    return _state(session, actor, draft_id, settings)


@router.post("/drafts/{draft_id}/approve", response_model=OutboundState)
def approve(
    draft_id: Id, body: ApproveRequest, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Approve the exact message seen (by its hash); it is sent after the undo window."""
    approval.approve(
        session=session,
        supervisor=actor,
        draft_id=draft_id,
        message_hash=body.message_hash,
        config=OutboundConfig.from_settings(settings),
        comment=body.comment,
        override_reason=body.override_reason,
    )
    return _state(session, actor, draft_id, settings)


@router.post("/drafts/{draft_id}/reject", response_model=OutboundState)
def reject(
    draft_id: Id, body: RejectRequest, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Return the draft to its author with a comment."""
    approval.reject(session=session, supervisor=actor, draft_id=draft_id, comment=body.comment)
    return _state(session, actor, draft_id, settings)


@router.post("/drafts/{draft_id}/override", response_model=OutboundState)
def override(
    draft_id: Id,
    body: OverrideRequest,
    actor: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
) -> OutboundState:
    """Let block findings through with a written reason (audited); approval still follows."""
    approval.override(
        session=session,
        supervisor=actor,
        draft_id=draft_id,
        message_hash=body.message_hash,
        reason=body.reason,
        config=OutboundConfig.from_settings(settings),
    )
    return _state(session, actor, draft_id, settings)


@router.post("/drafts/{draft_id}/pull-back", response_model=OutboundState)
def pull_back(
    draft_id: Id, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Take an approved mail back inside the undo window (author or approver)."""
    approval.pull_back(session=session, actor=actor, draft_id=draft_id)
    return _state(session, actor, draft_id, settings)


@router.post("/drafts/{draft_id}/resolve", response_model=OutboundState)
def resolve(
    draft_id: Id, body: ResolveRequest, actor: StaffUser, session: SessionDep, settings: SettingsDep
) -> OutboundState:
    """Settle an in-doubt send: confirm it arrived, or send it again with the same Message-ID."""
    approval.resolve_in_doubt(
        session=session,
        supervisor=actor,
        draft_id=draft_id,
        outcome=body.outcome,
        comment=body.comment,
    )
    return _state(session, actor, draft_id, settings)


@router.get("/approvals", response_model=Page[ApprovalItem])
def approvals(
    actor: StaffUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[ApprovalItem]:
    """List drafts waiting for approval (supervisors), oldest first, with diff and findings."""
    items, total = outbound_views.approvals_inbox(
        session=session, supervisor=actor, limit=limit, offset=offset
    )
    return Page[ApprovalItem](items=items, total=total, limit=limit, offset=offset)


@router.get("/in-doubt", response_model=list[InDoubtItem])
def in_doubt(actor: StaffUser, session: SessionDep) -> list[InDoubtItem]:
    """List sends whose fate is unknown (supervisors)."""
    return outbound_views.in_doubt(session=session, supervisor=actor)
