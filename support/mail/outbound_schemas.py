"""Request and response bodies of approval and sending."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Hash = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the message the caller saw.")


class FindingRead(BaseModel):
    """One send-guard finding."""

    code: str
    severity: Literal["block", "warn"]
    detail: str
    field: str = ""
    excerpt: str = ""
    overridden: bool = Field(default=False, description="Let through with a written reason.")


class ApprovalRead(BaseModel):
    """One approval request of a draft and its decision."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    draft_id: int
    ticket_id: int
    message_hash: str
    required: bool
    reasons: list[str]
    reason_labels: list[str] = Field(default_factory=list)
    decision: str
    findings: list[FindingRead]
    submitted_by: int | None
    submitted_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    comment: str | None
    override_reason: str | None
    override_by: int | None


class SendRead(BaseModel):
    """The sending of an approved draft."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    draft_id: int
    ticket_id: int
    status: str
    message_id: str
    send_after: datetime
    attempts: int
    last_error: str | None
    charset: str | None
    sent_at: datetime | None
    archived: bool
    outbound_id: int | None
    resolution: str | None


class OutboundState(BaseModel):
    """A draft with what approval and sending know of it."""

    draft_id: int
    ticket_id: int
    status: str
    status_label: str
    author_id: int | None
    message: dict[str, Any] = Field(description="The exact message: from, to, cc, bcc, ...")
    message_hash: str
    findings: list[FindingRead]
    approval_required: bool
    approval_reasons: list[str]
    approval: ApprovalRead | None
    send: SendRead | None
    diff: str = Field(description="Unified diff against the last approved or sent version.")


class ApprovalItem(BaseModel):
    """A draft waiting for a supervisor, with its diff and findings."""

    approval: ApprovalRead
    ticket_subject: str
    municipality_id: str | None
    author_id: int | None
    message: dict[str, Any]
    diff: str
    self_authored: bool = Field(description="True when the caller may not approve it.")


class InDoubtItem(BaseModel):
    """A send whose fate is unknown, waiting for a supervisor."""

    send: SendRead
    ticket_subject: str
    message: dict[str, Any]


class ApproveRequest(BaseModel):
    """Approve the exact message seen; `override_reason` also lets block findings through."""

    model_config = _STRICT

    message_hash: str = Hash
    comment: str | None = Field(default=None, max_length=2000)
    override_reason: str | None = Field(default=None, max_length=2000)


class OverrideRequest(BaseModel):
    """Let block findings through, with a written reason."""

    model_config = _STRICT

    message_hash: str = Hash
    reason: str = Field(min_length=1, max_length=2000)


class RejectRequest(BaseModel):
    """Return a draft to its author."""

    model_config = _STRICT

    comment: str = Field(min_length=1, max_length=2000)


class ResolveRequest(BaseModel):
    """Settle an in-doubt send: it arrived (`sent`) or send it again (`resend`)."""

    model_config = _STRICT

    outcome: Literal["sent", "resend"]
    comment: str | None = Field(default=None, max_length=2000)


class CannedRead(BaseModel):
    """A canned reply operators can pick."""

    key: str
    title: str
    municipality_id: str | None


class CannedRequest(BaseModel):
    """Fill a new draft (or replace a draft's text) from a canned reply."""

    model_config = _STRICT

    key: str = Field(pattern=r"^[a-z0-9_]{1,60}$")
    seen_version: int = Field(ge=0, le=2**31 - 1)
    draft_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class AttachmentAdd(BaseModel):
    """A file to attach, base64-encoded."""

    model_config = _STRICT

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(
        default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=255
    )
    data_base64: str = Field(min_length=1, max_length=14_000_000)


class DraftAttachmentRead(BaseModel):
    """An attachment of a draft."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class DraftSummary(BaseModel):
    """A draft of a conversation, with where it stands."""

    id: int
    ticket_id: int
    author_id: int | None
    subject: str
    status: str
    status_label: str
    updated_at: datetime
    approval_decision: str | None
    send_status: str | None
    last_error: str | None
