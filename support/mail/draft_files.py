"""Files attached to reply drafts; adding or removing one voids the draft's approval."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.errors import BadInput, NotFound
from support.mail.approval import draft_in_scope, guard_edit, void_approval
from support.mail.models import MailDraftAttachment
from support.mail.outbound import attachments_of

MAX_ATTACHMENTS = 10
MAX_TOTAL_BYTES = 10 * 1024 * 1024


def add_attachment(
    *,
    session: Session,
    actor: Actor,
    draft_id: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> MailDraftAttachment:
    """Attach a file to a draft."""
    draft, _ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    guard_edit(draft)
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or any(ord(c) < 32 for c in name):
        raise BadInput("ファイル名が正しくありません")
    existing = attachments_of(session=session, draft_id=draft.id)
    if len(existing) >= MAX_ATTACHMENTS:
        raise BadInput(f"添付できるファイルは{MAX_ATTACHMENTS}件までです")
    if sum(a.size for a in existing) + len(data) > MAX_TOTAL_BYTES:
        raise BadInput("添付ファイルの合計が大きすぎます（10MBまで）")
    item = MailDraftAttachment(
        draft_id=draft.id,
        filename=name,
        content_type=content_type.lower(),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
    session.add(item)
    session.flush()
    void_approval(session=session, actor=actor, draft=draft, reason="attachment_added")
    return item


def remove_attachment(*, session: Session, actor: Actor, draft_id: int, attachment_id: int) -> None:
    """Remove a file from a draft."""
    draft, _ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    guard_edit(draft)
    item = session.get(MailDraftAttachment, attachment_id)
    if item is None or item.draft_id != draft.id:
        raise NotFound()
    session.delete(item)
    session.flush()
    void_approval(session=session, actor=actor, draft=draft, reason="attachment_removed")


def read_attachment(
    *, session: Session, actor: Actor, draft_id: int, attachment_id: int
) -> MailDraftAttachment:
    """Return one attachment of a draft (audited: it may carry a donor's data)."""
    draft, ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    item = session.get(MailDraftAttachment, attachment_id)
    if item is None or item.draft_id != draft.id:
        raise NotFound()
    audit.record(
        session,
        actor,
        action="read",
        resource_type="mail_draft_attachment",
        resource_id=f"{draft.id}/{item.id}",
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
    )
    return item
