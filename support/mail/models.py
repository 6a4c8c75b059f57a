"""Stored mail: every message (raw kept), its attachments, and each folder's fetch cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from support.db import Base, UtcDateTime, utcnow


class MailMessage(Base):
    """One message of a ticket's thread, inbound or outbound; its raw bytes are in MailRaw.

    `dedupe_key` makes ingest idempotent: the Message-ID together with a hash of the content
    (transport headers excluded), so one mail delivered twice is stored once while two different
    mails that reuse a Message-ID are both kept.
    """

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_ticket_received", "ticket_id", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # "inbound" or "outbound"
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_addr: Mapped[str | None] = mapped_column(String(320), index=True)
    from_name: Mapped[str | None] = mapped_column(Text)
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    delivered_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    is_auto: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_kind: Mapped[str | None] = mapped_column(String(20))
    parse_failed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    raw_size: Mapped[int] = mapped_column(BigInteger)
    bounce_of_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"))
    bounced: Mapped[bool] = mapped_column(Boolean, default=False)
    # Outbound only: queued, sending, sent, failed, in_doubt (fate unknown; never resent blindly).
    send_status: Mapped[str | None] = mapped_column(String(12), index=True)
    send_error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MailAttachment(Base):
    """An attachment or inline part of a stored message; its bytes are re-read from the raw mail."""

    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content_id: Mapped[str | None] = mapped_column(String(998))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    part_index: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class MailRaw(Base):
    """The raw bytes of a message exactly as received, stored in the same transaction."""

    __tablename__ = "mail_raw"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MailCursor(Base):
    """How far one folder of one account has been fetched: UIDVALIDITY and the last UID."""

    __tablename__ = "mail_cursors"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    resyncs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MailDraft(Base):
    """A reply being written in a ticket; approval and sending build on it."""

    __tablename__ = "mail_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"))
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    bcc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    based_on_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MailDraftAttachment(Base):
    """A file attached to a reply draft; part of what an approval is bound to."""

    __tablename__ = "mail_draft_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(
        ForeignKey("mail_drafts.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MailApproval(Base):
    """One request to approve a draft, bound to the SHA-256 of the exact message submitted.

    `decision`: pending, approved, rejected, voided (the message changed or was pulled back),
    or not_required (the policy let it go without a supervisor; kept for the diff history).
    """

    __tablename__ = "mail_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(
        ForeignKey("mail_drafts.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    comment: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MailSend(Base):
    """The sending of one approved draft: undo window, attempts, fate. At most once.

    `status`: scheduled (waiting out the undo window or a retry), pulled_back, voided,
    sending (attempt committed, DATA not begun: provably not delivered), transmitting (DATA
    begun: fate unknown if we crash), sent, failed (permanent refusal), in_doubt.
    """

    __tablename__ = "mail_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(
        ForeignKey("mail_drafts.id", ondelete="CASCADE"), index=True
    )
    approval_id: Mapped[int] = mapped_column(ForeignKey("mail_approvals.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="scheduled", index=True)
    send_after: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The bytes of the first attempt, resent unchanged on a retry; moved to MailRaw once sent.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    charset: Mapped[str | None] = mapped_column(String(20))
    job_id: Mapped[int | None] = mapped_column(Integer)
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("mail_messages.id"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(String(12))
