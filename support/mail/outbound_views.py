"""What operators and supervisors read of outbound mail: a draft's state, approvals, in doubt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.mail import outbound
from support.mail.approval import (
    draft_in_scope,
    is_own,
    latest_send,
    pending_approval,
    require_supervisor,
)
from support.mail.directory_cache import directory
from support.mail.models import MailApproval, MailDraft, MailSend
from support.mail.outbound import OutboundConfig
from support.mail.outbound_checks import (
    REASON_LABELS,
    approval_reasons,
    finding_dicts,
    recipient_kinds,
    run_guards,
)
from support.mail.outbound_message import message_hash, unified_diff
from support.mail.outbound_schemas import (
    ApprovalItem,
    ApprovalRead,
    DraftSummary,
    InDoubtItem,
    OutboundState,
    SendRead,
)
from support.tickets import channels, work

if TYPE_CHECKING:
    from support.tickets.models import Ticket

DRAFT_LABELS = {
    "draft": "作成中",
    "awaiting_approval": "承認待ち",
    "rejected": "差し戻し",
    "scheduled": "送信待ち（取り消し可）",
    "sending": "送信中",
    "sent": "送信済み",
    "failed": "送信失敗（差し戻し）",
    "in_doubt": "送信結果不明（確認待ち）",
}


def approval_read(approval: MailApproval) -> ApprovalRead:
    """Return an approval with the Japanese labels of its reasons."""
    read = ApprovalRead.model_validate(approval)
    read.reason_labels = [REASON_LABELS.get(r, r) for r in approval.reasons]
    return read


def _previous_version(
    session: Session, draft_id: int, before_id: int | None
) -> dict[str, Any] | None:
    query = select(MailApproval.snapshot).where(
        MailApproval.draft_id == draft_id,
        MailApproval.decision.in_(("approved", "not_required")),
    )
    if before_id is not None:
        query = query.where(MailApproval.id < before_id)
    snap = session.scalar(query.order_by(MailApproval.id.desc()).limit(1))
    return dict(snap) if snap else None


def _audit(session: Session, actor: Actor, ticket: Ticket, what: str, rid: int) -> None:
    audit.record(
        session,
        actor,
        action="read",
        resource_type=what,
        resource_id=str(rid),
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
    )


def draft_state(
    *, session: Session, actor: Actor, draft_id: int, config: OutboundConfig
) -> OutboundState:
    """Return a draft as it would leave now: its hash, live findings, approval and send."""
    draft, ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    exact = outbound.exact_message(session=session, draft=draft, ticket=ticket, config=config)
    known = directory(session=session, internal_domains=config.internal_domains)
    findings = run_guards(session=session, draft=exact.checked, known=known)
    kinds = recipient_kinds(known, exact.recipients, config.internal_domains)
    reasons = approval_reasons(kinds=kinds, findings=findings, required_for=config.required_for)
    approval = session.scalar(
        select(MailApproval)
        .where(MailApproval.draft_id == draft.id)
        .order_by(MailApproval.id.desc())
        .limit(1)
    )
    send = latest_send(session=session, draft_id=draft.id)
    pending = pending_approval(session=session, draft_id=draft.id)
    previous = _previous_version(session, draft.id, pending.id if pending else None)
    if previous == exact.snap:
        previous = _previous_version(session, draft.id, approval.id if approval else None)
    _audit(session, actor, ticket, "mail_draft", draft.id)
    return OutboundState(
        draft_id=draft.id,
        ticket_id=ticket.id,
        status=draft.status,
        status_label=DRAFT_LABELS.get(draft.status, draft.status),
        author_id=draft.author_id,
        message=exact.snap,
        message_hash=message_hash(exact.snap),
        findings=finding_dicts(findings),
        approval_required=bool(reasons),
        approval_reasons=reasons,
        approval=approval_read(approval) if approval else None,
        send=SendRead.model_validate(send) if send else None,
        diff=unified_diff(previous, exact.snap),
    )


def approvals_inbox(
    *, session: Session, supervisor: Actor, limit: int, offset: int
) -> tuple[list[ApprovalItem], int]:
    """Return the drafts waiting for approval, oldest first, each with its diff and findings."""
    require_supervisor(supervisor)
    visible = work.ticket_query(supervisor, work.TicketFilter(include_merged=True))
    ticket_cls = visible.column_descriptions[0]["entity"]
    ids = visible.with_only_columns(ticket_cls.id)
    query = select(MailApproval).where(
        MailApproval.decision == "pending", MailApproval.ticket_id.in_(ids)
    )
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    approvals = session.scalars(
        query.order_by(MailApproval.submitted_at, MailApproval.id).limit(limit).offset(offset)
    ).all()
    tickets = channels.tickets_by_ids(session=session, ticket_ids={a.ticket_id for a in approvals})
    items = []
    for approval in approvals:
        ticket = tickets[approval.ticket_id]
        draft = session.get_one(MailDraft, approval.draft_id)
        previous = _previous_version(session, draft.id, approval.id)
        _audit(session, supervisor, ticket, "mail_draft", draft.id)
        items.append(
            ApprovalItem(
                approval=approval_read(approval),
                ticket_subject=ticket.subject,
                municipality_id=ticket.municipality_id,
                author_id=draft.author_id,
                message=approval.snapshot,
                diff=unified_diff(previous, approval.snapshot),
                self_authored=is_own(session, supervisor, draft, approval),
            )
        )
    return items, total


def in_doubt(*, session: Session, supervisor: Actor) -> list[InDoubtItem]:
    """Return the sends whose fate is unknown, oldest first."""
    require_supervisor(supervisor)
    visible = work.ticket_query(supervisor, work.TicketFilter(include_merged=True))
    ticket_cls = visible.column_descriptions[0]["entity"]
    ids = visible.with_only_columns(ticket_cls.id)
    sends = session.scalars(
        select(MailSend)
        .where(MailSend.status == "in_doubt", MailSend.ticket_id.in_(ids))
        .order_by(MailSend.id)
        .limit(500)
    ).all()
    tickets = channels.tickets_by_ids(session=session, ticket_ids={s.ticket_id for s in sends})
    items = []
    for send in sends:
        ticket = tickets[send.ticket_id]
        snap = session.get_one(MailApproval, send.approval_id).snapshot
        _audit(session, supervisor, ticket, "mail_send", send.id)
        items.append(
            InDoubtItem(
                send=SendRead.model_validate(send),
                ticket_subject=ticket.subject,
                message={k: v for k, v in snap.items() if k != "body"},
            )
        )
    return items


def drafts_of(*, session: Session, actor: Actor, ticket_id: int) -> list[DraftSummary]:
    """Return a conversation's drafts, newest first, each with its approval and send state."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    drafts = session.scalars(
        select(MailDraft)
        .where(MailDraft.ticket_id == ticket.id)
        .order_by(MailDraft.updated_at.desc(), MailDraft.id.desc())
    ).all()
    _audit(session, actor, ticket, "mail_drafts", ticket.id)
    items = []
    for draft in drafts:
        approval = session.scalar(
            select(MailApproval.decision)
            .where(MailApproval.draft_id == draft.id)
            .order_by(MailApproval.id.desc())
            .limit(1)
        )
        send = latest_send(session=session, draft_id=draft.id)
        items.append(
            DraftSummary(
                id=draft.id,
                ticket_id=draft.ticket_id,
                author_id=draft.author_id,
                subject=draft.subject,
                status=draft.status,
                status_label=DRAFT_LABELS.get(draft.status, draft.status),
                updated_at=draft.updated_at,
                approval_decision=approval,
                send_status=send.status if send else None,
                last_error=send.last_error if send else None,
            )
        )
    return items
