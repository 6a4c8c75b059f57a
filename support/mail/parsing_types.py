"""Result types of inbound mail parsing (frozen, plain data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """One attached or inline part, already transfer-decoded.

    ``inline`` is True only for parts the HTML body renders itself (``cid:`` images, the
    resources of a multipart/related): user-visible attachments have ``inline=False`` even when
    the sender's client marked them ``Content-Disposition: inline``.
    """

    filename: str
    content_type: str
    size: int
    content_id: str | None
    inline: bool
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class RecipientStatus:
    """Per-recipient fields of an RFC 3464 delivery-status report."""

    recipient: str
    action: str | None
    status: str | None
    diagnostic: str | None
    remote_mta: str | None


@dataclass(frozen=True)
class DeliveryReport:
    """What a multipart/report; report-type=delivery-status says about a returned mail."""

    original_message_id: str | None
    original_subject: str | None
    failed_recipients: list[str]
    status_codes: list[str]
    recipients: list[RecipientStatus]
    reporting_mta: str | None


@dataclass(frozen=True)
class ParsedMail:
    """Everything the contact center needs from one inbound message."""

    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    from_addr: str | None
    from_name: str | None
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: list[Attachment]
    is_auto: bool
    auto_kind: str | None
    dsn: DeliveryReport | None
    content_hash: str
    defects: list[str]
    parse_failed: bool
