"""Request and response bodies of the shared inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from support.tickets.status import TicketStatus

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConversationItem(BaseModel):
    """A ticket in the queue."""

    id: int
    subject: str
    status: str
    status_label: str
    assignee_id: int | None
    tags: list[str]
    donor_id: str | None
    municipality_id: str | None
    channel: str
    last_activity_at: datetime
    message_count: int
    needs_attention: bool = Field(description="A message failed to parse or a reply bounced.")


class AttachmentRead(BaseModel):
    """An attachment of a message."""

    index: int
    filename: str
    content_type: str
    size: int
    inline: bool


class MessageRead(BaseModel):
    """One message of a conversation."""

    id: int
    direction: str
    from_addr: str | None
    from_name: str | None
    to: list[str]
    cc: list[str]
    subject: str
    sent_at: datetime | None
    received_at: datetime
    text: str
    html: str | None
    is_auto: bool
    auto_kind: str | None
    send_status: str | None = Field(
        default=None, description="Outbound only: sending, sent, failed or in_doubt."
    )
    parse_failed: bool
    bounced: bool
    problems: list[str]
    attachments: list[AttachmentRead]


class NoteRead(BaseModel):
    """An internal note."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    author_id: int | None
    body: str
    created_at: datetime


class ConversationRead(BaseModel):
    """A whole conversation: the ticket, its thread, notes, and who is there now."""

    id: int
    subject: str
    status: str
    status_label: str
    assignee_id: int | None
    tags: list[str]
    donor_id: str | None
    municipality_id: str | None
    merged_into_id: int | None
    thread_version: int
    messages: list[MessageRead]
    notes: list[NoteRead]
    presence: list[dict[str, Any]]


class StatusChange(BaseModel):
    """A new status."""

    model_config = _STRICT

    status: TicketStatus


class Assignment(BaseModel):
    """An assignee label (null to clear)."""

    model_config = _STRICT

    assignee_id: int | None


class TagsChange(BaseModel):
    """The full set of tags."""

    model_config = _STRICT

    tags: list[str] = Field(max_length=20)


class NoteCreate(BaseModel):
    """A new internal note."""

    model_config = _STRICT

    body: str = Field(min_length=1, max_length=20_000)


class MergeRequest(BaseModel):
    """Merge this ticket into another."""

    model_config = _STRICT

    into_ticket_id: int = Field(ge=1)


class SplitRequest(BaseModel):
    """Move some messages to a new ticket."""

    model_config = _STRICT

    message_ids: list[int] = Field(min_length=1, max_length=500)
    subject: str | None = Field(default=None, max_length=300)


class PresenceUpdate(BaseModel):
    """What the caller is doing in the conversation now."""

    model_config = _STRICT

    activity: str = Field(pattern=r"^(viewing|drafting|left)$")


class DraftWrite(BaseModel):
    """A reply draft; `seen_version` is the conversation's thread_version the author has read."""

    model_config = _STRICT

    to: list[EmailStr] = Field(default_factory=list, max_length=50)
    cc: list[EmailStr] = Field(default_factory=list, max_length=50)
    bcc: list[EmailStr] = Field(default_factory=list, max_length=50)
    subject: str = Field(default="", max_length=998)
    body: str = Field(default="", max_length=200_000)
    in_reply_to_id: int | None = None
    seen_version: int = Field(ge=0)


class DraftRead(BaseModel):
    """A reply draft."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    author_id: int | None
    to_addrs: list[str]
    cc_addrs: list[str]
    bcc_addrs: list[str]
    subject: str
    body: str
    status: str
    based_on_version: int
    updated_at: datetime
