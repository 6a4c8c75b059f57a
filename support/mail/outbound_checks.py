"""The send guards run on a stored draft, and the approval policy that reads their findings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from support.mail.directory_cache import directory
from support.mail.guards import Directory, DraftMail, Finding, TicketContext, check_draft
from support.mail.guards_text import email_key
from support.tickets import channels

RecipientKind = str  # "donor", "supplier", "municipality", "internal" or "other"

REASON_LABELS = {
    "donor": "寄附者宛てのメールです",
    "supplier": "返礼品提供事業者宛てのメールです",
    "municipality": "自治体宛てのメールです",
    "other": "登録されていない宛先を含みます",
    "block": "送信を止める指摘（ブロック）があります",
}


@dataclass(frozen=True, slots=True)
class OutboundDraft:
    """What the guards need of a draft: recipients, text, and the text of its attachments."""

    ticket_id: int
    donor_id: str | None
    municipality_id: str | None
    to: Sequence[str]
    cc: Sequence[str]
    bcc: Sequence[str]
    subject: str
    body: str
    attachments: Sequence[tuple[str, str]] = ()


def ticket_context(*, session: Session, draft: OutboundDraft) -> TicketContext:
    """Return the guards' view of the ticket a draft answers."""
    return TicketContext(
        donor_id=draft.donor_id or "",
        order_nos=tuple(channels.ticket_order_nos(session=session, ticket_id=draft.ticket_id)),
        municipality_id=draft.municipality_id or "",
    )


def run_guards(
    *,
    session: Session,
    draft: OutboundDraft,
    internal_domains: Iterable[str] = (),
    known: Directory | None = None,
) -> list[Finding]:
    """Return the findings of every send guard on a draft, against the current directory."""
    found = known or directory(session=session, internal_domains=internal_domains)
    mail = DraftMail(
        to=tuple(draft.to),
        cc=tuple(draft.cc),
        bcc=tuple(draft.bcc),
        subject=draft.subject,
        body=draft.body,
        attachments=tuple(draft.attachments),
    )
    return check_draft(mail, ticket_context(session=session, draft=draft), found)


def finding_dicts(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Return findings as JSON-able dicts (code, severity, detail, field, excerpt)."""
    return [
        {
            "code": f.code,
            "severity": f.severity,
            "detail": f.message,
            "field": f.evidence.field,
            "excerpt": f.evidence.snippet,
        }
        for f in findings
    ]


def recipient_kinds(
    directory_: Directory, addresses: Iterable[str], internal_domains: Iterable[str]
) -> set[RecipientKind]:
    """Classify each recipient as a donor, supplier, municipality, our own, or other."""
    internal = {d.lower() for d in internal_domains}
    kinds: set[RecipientKind] = set()
    for address in addresses:
        key = email_key(address)
        domain = address.rpartition("@")[2].lower()
        if key in directory_.donor_by_email:
            kinds.add("donor")
        elif key in directory_.supplier_by_email:
            kinds.add("supplier")
        elif key in directory_.municipality_by_email:
            kinds.add("municipality")
        elif domain in internal or domain in directory_.internal_domains:
            kinds.add("internal")
        else:
            kinds.add("other")
    return kinds


def approval_reasons(
    *,
    kinds: set[RecipientKind],
    findings: Sequence[Finding],
    required_for: Iterable[str],
) -> list[str]:
    """Return why a supervisor must approve (empty: the policy lets the mail go)."""
    wanted = set(required_for)
    reasons: list[str] = [
        k for k in ("donor", "supplier", "municipality", "other") if k in kinds & wanted
    ]
    if any(f.severity == "block" for f in findings):
        reasons.append("block")
    return reasons
