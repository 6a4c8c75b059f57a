"""Result types of inbound mail parsing (frozen, plain data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MIB = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """How much of one inbound mail the parser reads; every limit that triggers is flagged.

    Whatever is not read stays in the stored raw message. Nothing is ever decompressed (zip,
    gzip Content-Encoding), so compressed size is the only size that matters.

    * ``max_raw_bytes``: above it only the header is parsed and the body is left unparsed.
    * ``max_header_bytes``: a header block larger than this is read up to it, body unparsed.
    * ``max_parts``: MIME parts read, across forwarded messages; the rest are not read.
    * ``max_attachments``: attachments kept with their data; later ones are listed with
      name and size only (``Attachment.omitted``).
    * ``max_text_chars``: ``ParsedMail.text`` is cut here and ends with a marker.
    * ``max_html_bytes``: HTML beyond it (in total) is not sanitised or rendered; its tags are
      stripped and the escaped text is shown instead.
    * ``max_nesting``: levels of multipart and message/rfc822 containers read; deeper parts are
      not read.
    """

    max_raw_bytes: int = 40 * MIB
    max_header_bytes: int = 1 * MIB
    max_parts: int = 500
    max_attachments: int = 300
    max_text_chars: int = 500_000
    max_html_bytes: int = 2 * MIB
    max_nesting: int = 10

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"ParseLimits.{name} must be a non-negative int, not {value!r}")


DEFAULT_LIMITS = ParseLimits()


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
    # True when the part was over ParseLimits.max_attachments: listed with its size, but
    # ``data`` is empty and the part is only in the stored raw message.
    omitted: bool = False


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
    # True when a ParseLimits bound was hit: the result is partial, ``defects`` says what is
    # missing, and the raw message holds the rest.
    limited: bool = False
