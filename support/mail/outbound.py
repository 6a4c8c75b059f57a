"""What approval and sending share: their settings, the draft's exact message, status moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.mail.models import MailDraft, MailDraftAttachment, MailMessage
from support.mail.outbound_checks import OutboundDraft
from support.mail.outbound_message import AttachmentFile, snapshot
from support.tickets import channels
from support.tickets.status import TicketStatus

if TYPE_CHECKING:
    from support.config import Settings
    from support.tickets.models import Ticket

SEND_DRAFT = "mail.send_draft"
ARCHIVE_SENT = "mail.archive_sent"
SWEEP_SENDS = "mail.sweep_sends"

# Draft statuses. An author may edit the first group; the rest belong to approval and sending.
EDITABLE = frozenset({"draft", "rejected", "failed"})
AWAITING = "awaiting_approval"
SCHEDULED = "scheduled"
LOCKED = frozenset({"sending", "sent", "in_doubt"})
# Attachments whose text the guards read (for foreign data and the like).
_TEXT_TYPES = ("text/",)
_MAX_TEXT = 200_000


@dataclass(frozen=True)
class OutboundConfig:
    """The settings approval and sending read."""

    default_from: str = "support@localhost"
    # Our own addresses, each mapped to the municipality it serves (or None).
    addresses: dict[str, str | None] = field(default_factory=dict)
    required_for: Sequence[str] = ("donor", "supplier", "other")
    undo_seconds: int = 60
    iso2022jp_domains: Sequence[str] = ("docomo.ne.jp", "ezweb.ne.jp")

    @property
    def internal_domains(self) -> frozenset[str]:
        """Return the domains of our own addresses."""
        domains = {a.rpartition("@")[2].lower() for a in self.addresses}
        domains.add(self.default_from.rpartition("@")[2].lower())
        return frozenset(d for d in domains if d)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundConfig:
        """Read the outbound settings."""
        addresses = {a.lower(): m for a, m in settings.mail_addresses.items()}
        for account in settings.mail_accounts:
            if account.address:
                addresses.setdefault(account.address.lower(), None)
        return cls(
            default_from=settings.mail_from,
            addresses=addresses,
            required_for=tuple(settings.approval_required_for),
            undo_seconds=settings.undo_seconds,
            iso2022jp_domains=tuple(settings.mail_iso2022jp_domains),
        )


def sender_address(*, session: Session, ticket: Ticket, config: OutboundConfig) -> str:
    """Return our address to reply from: the one the donor wrote to, else the city's, else ours."""
    delivered = session.execute(
        select(MailMessage.delivered_to, MailMessage.to_addrs, MailMessage.cc_addrs)
        .where(MailMessage.ticket_id == ticket.id, MailMessage.direction == "inbound")
        .order_by(MailMessage.received_at.desc(), MailMessage.id.desc())
        .limit(5)
    ).all()
    for row in delivered:
        for address in [*row[0], *row[1], *row[2]]:
            if address.lower() in config.addresses:
                return address.lower()
    for address, municipality in sorted(config.addresses.items()):
        if municipality is not None and municipality == ticket.municipality_id:
            return address
    return config.default_from


def attachments_of(*, session: Session, draft_id: int) -> list[MailDraftAttachment]:
    """Return a draft's attachments in the order they were added."""
    return list(
        session.scalars(
            select(MailDraftAttachment)
            .where(MailDraftAttachment.draft_id == draft_id)
            .order_by(MailDraftAttachment.id)
        )
    )


def attachment_text(item: MailDraftAttachment) -> str:
    """Return the text of a text attachment for the guards (empty for other types)."""
    if not item.content_type.startswith(_TEXT_TYPES):
        return ""
    for encoding in ("utf-8", "cp932", "euc-jp"):
        try:
            return item.data[:_MAX_TEXT].decode(encoding)
        except UnicodeDecodeError:
            continue
    return item.data[:_MAX_TEXT].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ExactMessage:
    """A draft as it would leave: snapshot (what the hash covers), files, and the guards' view."""

    snap: dict[str, Any]
    files: list[AttachmentFile]
    checked: OutboundDraft

    @property
    def recipients(self) -> list[str]:
        """Return every envelope recipient, To, Cc and Bcc, without repeats."""
        seen: dict[str, None] = {}
        for address in [*self.snap["to"], *self.snap["cc"], *self.snap["bcc"]]:
            seen.setdefault(address, None)
        return list(seen)


def exact_message(
    *, session: Session, draft: MailDraft, ticket: Ticket, config: OutboundConfig
) -> ExactMessage:
    """Return the draft's exact message as it stands now."""
    stored = attachments_of(session=session, draft_id=draft.id)
    files = [AttachmentFile(a.filename, a.content_type, a.data) for a in stored]
    snap = snapshot(
        from_addr=sender_address(session=session, ticket=ticket, config=config),
        to=draft.to_addrs,
        cc=draft.cc_addrs,
        bcc=draft.bcc_addrs,
        subject=draft.subject,
        body=draft.body,
        attachments=files,
    )
    checked = OutboundDraft(
        ticket_id=ticket.id,
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
        to=tuple(draft.to_addrs),
        cc=tuple(draft.cc_addrs),
        bcc=tuple(draft.bcc_addrs),
        subject=draft.subject,
        body=draft.body,
        attachments=tuple((a.filename, attachment_text(a)) for a in stored),
    )
    return ExactMessage(snap=snap, files=files, checked=checked)


def move_ticket(
    *,
    session: Session,
    ticket: Ticket,
    status: TicketStatus,
    actor_id: int | None,
    why: str,
) -> None:
    """Set a ticket's status from the approval or sending flow, on its timeline."""
    if ticket.status == status.value or ticket.merged_into_id is not None:
        return
    channels.record_event(
        session=session,
        ticket_id=ticket.id,
        kind="status",
        actor_id=actor_id,
        detail={"from": ticket.status, "to": status.value, "by": why},
    )
    ticket.status = status.value
    ticket.last_activity_at = utcnow()


def event(
    *, session: Session, ticket_id: int, kind: str, actor_id: int | None, **detail: Any
) -> None:
    """Add an outbound event (submitted, approved, sent ...) to the ticket's timeline."""
    channels.record_event(
        session=session, ticket_id=ticket_id, kind=kind, actor_id=actor_id, detail=dict(detail)
    )


def step(
    *,
    session: Session,
    ticket: Ticket,
    kind: str,
    actor_id: int | None,
    status: TicketStatus,
    **detail: Any,
) -> None:
    """Record an outbound event on the timeline and move the ticket to the status it implies."""
    event(session=session, ticket_id=ticket.id, kind=kind, actor_id=actor_id, **detail)
    move_ticket(session=session, ticket=ticket, status=status, actor_id=actor_id, why=kind)
