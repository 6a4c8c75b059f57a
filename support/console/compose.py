"""The compose pane: the send-guard findings of the draft being typed, as the outbound flow
would compute them on submit (same guards, same directory cache)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.config import Settings
from support.mail import guards, outbound_checks
from support.mail.outbound import OutboundConfig
from support.tickets import work


def _split_addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = str(value or "").replace("、", ",").replace(";", ",").split(",")
    return tuple(a.strip() for a in items if a.strip())[:50]


def draft_from(data: dict[str, Any]) -> guards.DraftMail:
    """Build the guard's view of a draft from what the pane sends."""
    return guards.DraftMail(
        to=_split_addresses(data.get("to")),
        cc=_split_addresses(data.get("cc")),
        bcc=_split_addresses(data.get("bcc")),
        subject=str(data.get("subject", ""))[:998],
        body=str(data.get("body", ""))[:200_000],
    )


def check(
    *, session: Session, actor: Actor, ticket_id: int, data: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """Return the findings of the draft being typed and whether they block sending."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    mail = draft_from(data)
    findings = outbound_checks.run_guards(
        session=session,
        draft=outbound_checks.OutboundDraft(
            ticket_id=ticket.id,
            donor_id=ticket.donor_id,
            municipality_id=ticket.municipality_id,
            to=mail.to,
            cc=mail.cc,
            bcc=mail.bcc,
            subject=mail.subject,
            body=mail.body,
        ),
        internal_domains=OutboundConfig.from_settings(settings).internal_domains,
    )
    return {
        "blocking": guards.blocking(findings),
        "findings": outbound_checks.finding_dicts(findings),
    }
