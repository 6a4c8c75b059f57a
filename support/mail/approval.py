"""Approval before send: submit, approve, reject, override, pull back, and void on any change.

An approval is bound to the SHA-256 of the exact message (From, To, Cc, Bcc, subject, body,
attachments). Any change to the draft voids it; the worker checks the hash again before it
sends. Nobody approves a draft they wrote or submitted, and a block finding is let through
only with a supervisor's written reason, which is audited.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.db import utcnow
from support.errors import BadInput, Conflict, Forbidden, NotFound
from support.jobs import enqueue
from support.mail import outbound
from support.mail.directory_cache import directory
from support.mail.models import MailApproval, MailDraft, MailMessage, MailSend
from support.mail.outbound import AWAITING, EDITABLE, LOCKED, SCHEDULED, OutboundConfig
from support.mail.outbound_checks import (
    approval_reasons,
    finding_dicts,
    recipient_kinds,
    run_guards,
)
from support.mail.outbound_errors import (
    DraftNotAwaitingApproval,
    DraftNotEditable,
    DraftNotSubmittable,
    MessageChanged,
    NotInDoubt,
    OverrideRequired,
    SelfApproval,
    SupervisorOnly,
    TooLateToPullBack,
)
from support.mail.outbound_message import message_hash
from support.tickets import channels, work
from support.tickets.status import TicketStatus

if TYPE_CHECKING:
    from support.tickets.models import Ticket

SUPERVISORS = frozenset({RoleName.SUPERVISOR, RoleName.ADMIN})
MIN_OVERRIDE_REASON = 10
# Send jobs retry transient SMTP failures for days (backoff capped at an hour); a sweep
# re-queues any that still give up, so an approved mail is never silently dropped.
SEND_MAX_ATTEMPTS = 60


def require_supervisor(actor: Actor) -> None:
    """Refuse anyone but a supervisor or admin."""
    if actor.role not in SUPERVISORS:
        raise SupervisorOnly()


def draft_in_scope(*, session: Session, actor: Actor, draft_id: int) -> tuple[MailDraft, Ticket]:
    """Return a draft and its ticket when the staff actor may work on it, else NotFound."""
    draft = session.get(MailDraft, draft_id)
    if draft is None:
        raise NotFound()
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=draft.ticket_id)
    return draft, ticket


def pending_approval(*, session: Session, draft_id: int) -> MailApproval | None:
    """Return the approval request of a draft that waits for a decision."""
    return session.scalar(
        select(MailApproval)
        .where(MailApproval.draft_id == draft_id, MailApproval.decision == "pending")
        .order_by(MailApproval.id.desc())
        .limit(1)
    )


def latest_send(*, session: Session, draft_id: int) -> MailSend | None:
    """Return the most recent send of a draft."""
    return session.scalar(
        select(MailSend).where(MailSend.draft_id == draft_id).order_by(MailSend.id.desc()).limit(1)
    )


def submit(
    *, session: Session, actor: Actor, draft_id: int, config: OutboundConfig
) -> MailApproval:
    """Submit a draft: run the guards, bind its hash, and ask for approval when policy says so.

    When no approval is needed (only our own or the city's addresses, no block finding) the
    mail is scheduled at once and waits out the undo window.
    """
    draft, ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    if draft.status not in EDITABLE:
        raise DraftNotSubmittable()
    if not draft.to_addrs:
        raise BadInput("宛先（To）を指定してください")
    if not draft.subject.strip() or not draft.body.strip():
        raise BadInput("件名と本文を入力してください")
    if ticket.merged_into_id is not None:
        raise Conflict("統合済みのチケットからは送信できません")
    exact = outbound.exact_message(session=session, draft=draft, ticket=ticket, config=config)
    known = directory(session=session, internal_domains=config.internal_domains)
    findings = run_guards(session=session, draft=exact.checked, known=known)
    kinds = recipient_kinds(known, exact.recipients, config.internal_domains)
    reasons = approval_reasons(kinds=kinds, findings=findings, required_for=config.required_for)
    approval = MailApproval(
        draft_id=draft.id,
        ticket_id=ticket.id,
        message_hash=message_hash(exact.snap),
        snapshot=exact.snap,
        findings=finding_dicts(findings),
        required=bool(reasons),
        reasons=reasons,
        decision="pending" if reasons else "not_required",
        submitted_by=actor.user_id,
        submitted_at=utcnow(),
    )
    session.add(approval)
    session.flush()
    outbound.event(
        session=session,
        ticket_id=ticket.id,
        kind="approval_requested" if reasons else "reply_queued",
        actor_id=actor.user_id,
        draft_id=draft.id,
        approval_id=approval.id,
        reasons=reasons,
    )
    if reasons:
        draft.status = AWAITING
        outbound.move_ticket(
            session=session,
            ticket=ticket,
            status=TicketStatus.AWAITING_APPROVAL,
            actor_id=actor.user_id,
            why="submit",
        )
    else:
        _schedule(
            session=session,
            draft=draft,
            ticket=ticket,
            approval=approval,
            actor=actor,
            config=config,
        )
        approval.decided_at = utcnow()
    return approval


def _require_not_author(
    session: Session, actor: Actor, draft: MailDraft, approval: MailApproval
) -> None:
    """Refuse the author, the submitter, and anyone who saved any version of the draft."""
    if actor.user_id is None or actor.user_id in (draft.author_id, approval.submitted_by):
        raise SelfApproval()
    edits = channels.event_actors(session=session, ticket_id=draft.ticket_id, kind="draft_saved")
    if any(who == actor.user_id and detail.get("draft_id") == draft.id for who, detail in edits):
        raise SelfApproval("自分が編集した返信は承認できません")


def is_own(session: Session, actor: Actor, draft: MailDraft, approval: MailApproval) -> bool:
    """Return True when the actor wrote, edited or submitted the draft (and may not approve)."""
    try:
        _require_not_author(session, actor, draft, approval)
    except SelfApproval:
        return True
    return False


def _awaiting(session: Session, draft: MailDraft) -> MailApproval:
    approval = pending_approval(session=session, draft_id=draft.id)
    if approval is None or draft.status != AWAITING:
        raise DraftNotAwaitingApproval()
    return approval


def _require_same_message(
    session: Session,
    draft: MailDraft,
    ticket: Ticket,
    approval: MailApproval,
    seen_hash: str,
    config: OutboundConfig,
) -> list[dict[str, object]]:
    exact = outbound.exact_message(session=session, draft=draft, ticket=ticket, config=config)
    current = message_hash(exact.snap)
    if seen_hash != approval.message_hash or current != approval.message_hash:
        raise MessageChanged(current_hash=current)
    # The directory may have changed since submission: the findings the approver rules on
    # are the ones of now.
    findings = run_guards(
        session=session, draft=exact.checked, internal_domains=config.internal_domains
    )
    # A block finding stays overridden only while it is the very finding the reason was for.
    overridden = {_key(f) for f in approval.findings if f.get("overridden")}
    approval.findings = [
        f | {"overridden": True} if _key(f) in overridden else f for f in finding_dicts(findings)
    ]
    return list(approval.findings)


def _record_override(
    session: Session, actor: Actor, ticket: Ticket, approval: MailApproval, reason: str
) -> None:
    reason = reason.strip()
    if len(reason) < MIN_OVERRIDE_REASON:
        raise BadInput(f"解除の理由を{MIN_OVERRIDE_REASON}文字以上で記入してください")
    codes = sorted({str(f["code"]) for f in approval.findings if f["severity"] == "block"})
    approval.findings = [
        f | {"overridden": True} if f["severity"] == "block" else f for f in approval.findings
    ]
    approval.override_reason = reason
    approval.override_by = actor.user_id
    audit.record(
        session,
        actor,
        action="override",
        resource_type="mail_draft",
        resource_id=str(approval.draft_id),
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
        detail={"approval_id": approval.id, "codes": codes, "reason": reason},
    )
    outbound.event(
        session=session,
        ticket_id=ticket.id,
        kind="guard_override",
        actor_id=actor.user_id,
        draft_id=approval.draft_id,
        codes=codes,
        reason=reason,
    )


def _key(finding: dict[str, object]) -> tuple[object, object]:
    return finding["code"], finding["detail"]


def _blocks_overridden(approval: MailApproval) -> bool:
    return all(f.get("overridden") for f in approval.findings if f["severity"] == "block")


def override(
    *,
    session: Session,
    supervisor: Actor,
    draft_id: int,
    message_hash: str,
    reason: str,
    config: OutboundConfig,
) -> MailApproval:
    """Let the draft's block findings through with a written reason (audited); not an approval."""
    require_supervisor(supervisor)
    draft, ticket = draft_in_scope(session=session, actor=supervisor, draft_id=draft_id)
    approval = _awaiting(session, draft)
    _require_not_author(session, supervisor, draft, approval)
    _require_same_message(session, draft, ticket, approval, message_hash, config)
    if not any(f["severity"] == "block" for f in approval.findings):
        raise Conflict("解除が必要な指摘（ブロック）はありません")
    _record_override(session, supervisor, ticket, approval, reason)
    return approval


def approve(
    *,
    session: Session,
    supervisor: Actor,
    draft_id: int,
    message_hash: str,
    config: OutboundConfig,
    comment: str | None = None,
    override_reason: str | None = None,
) -> MailSend:
    """Approve the exact message the supervisor saw; it is sent after the undo window."""
    require_supervisor(supervisor)
    draft, ticket = draft_in_scope(session=session, actor=supervisor, draft_id=draft_id)
    approval = _awaiting(session, draft)
    _require_not_author(session, supervisor, draft, approval)
    _require_same_message(session, draft, ticket, approval, message_hash, config)
    if override_reason:
        _record_override(session, supervisor, ticket, approval, override_reason)
    if not _blocks_overridden(approval):
        raise OverrideRequired()
    approval.decision = "approved"
    approval.decided_by = supervisor.user_id
    approval.decided_at = utcnow()
    approval.comment = (comment or "").strip() or None
    outbound.event(
        session=session,
        ticket_id=ticket.id,
        kind="approved",
        actor_id=supervisor.user_id,
        draft_id=draft.id,
        approval_id=approval.id,
        comment=approval.comment,
    )
    return _schedule(
        session=session,
        draft=draft,
        ticket=ticket,
        approval=approval,
        actor=supervisor,
        config=config,
    )


def reject(*, session: Session, supervisor: Actor, draft_id: int, comment: str) -> MailApproval:
    """Return the draft to its author with a comment."""
    require_supervisor(supervisor)
    comment = comment.strip()
    if not comment:
        raise BadInput("差し戻しの理由（コメント）を記入してください")
    draft, ticket = draft_in_scope(session=session, actor=supervisor, draft_id=draft_id)
    approval = _awaiting(session, draft)
    approval.decision = "rejected"
    approval.decided_by = supervisor.user_id
    approval.decided_at = utcnow()
    approval.comment = comment
    draft.status = "rejected"
    outbound.step(
        session=session,
        ticket=ticket,
        kind="approval_rejected",
        actor_id=supervisor.user_id,
        draft_id=draft.id,
        approval_id=approval.id,
        comment=comment,
        status=TicketStatus.IN_PROGRESS,
    )
    return approval


def _message_id(session: Session, draft: MailDraft, approval: MailApproval) -> str:
    domain = str(approval.snapshot.get("from", "")).rpartition("@")[2] or "localhost"
    return f"reply-{draft.ticket_id}.{draft.id}.{secrets.token_hex(8)}@{domain}"


def schedule_job(session: Session, send: MailSend) -> None:
    """Queue the send job of a send, due when its undo window ends."""
    job = enqueue(
        session,
        outbound.SEND_DRAFT,
        {"send_id": send.id},
        run_at=send.send_after,
        max_attempts=SEND_MAX_ATTEMPTS,
    )
    send.job_id = job.id


def _schedule(
    *,
    session: Session,
    draft: MailDraft,
    ticket: Ticket,
    approval: MailApproval,
    actor: Actor,
    config: OutboundConfig,
) -> MailSend:
    send = MailSend(
        draft_id=draft.id,
        approval_id=approval.id,
        ticket_id=draft.ticket_id,
        message_hash=approval.message_hash,
        message_id=_message_id(session, draft, approval),
        status="scheduled",
        send_after=utcnow() + timedelta(seconds=config.undo_seconds),
        attempts=0,
        archived=False,
        created_by=actor.user_id,
    )
    session.add(send)
    session.flush()
    schedule_job(session, send)
    draft.status = SCHEDULED
    outbound.move_ticket(
        session=session,
        ticket=ticket,
        status=TicketStatus.IN_PROGRESS,
        actor_id=actor.user_id,
        why="approved",
    )
    return send


def _cancel_send(session: Session, draft: MailDraft, status: str) -> bool:
    """Atomically take the draft's waiting send out of the queue; False when it already left."""
    send = latest_send(session=session, draft_id=draft.id)
    if send is None or send.status != "scheduled":
        return False
    # Guarded on the status so that a worker claiming it at this moment wins or loses cleanly.
    result = session.execute(
        update(MailSend)
        .where(MailSend.id == send.id, MailSend.status == "scheduled")
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    session.refresh(send)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def pull_back(*, session: Session, actor: Actor, draft_id: int) -> MailDraft:
    """Take an approved mail back inside the undo window; it returns to its author unsent."""
    draft, ticket = draft_in_scope(session=session, actor=actor, draft_id=draft_id)
    send = latest_send(session=session, draft_id=draft.id)
    if draft.status != SCHEDULED or send is None:
        raise TooLateToPullBack()
    approval = session.get_one(MailApproval, send.approval_id)
    allowed = {draft.author_id, approval.submitted_by, approval.decided_by} - {None}
    if actor.user_id not in allowed:
        raise Forbidden("取り消しは作成者または承認者のみが行えます")
    if not _cancel_send(session, draft, "pulled_back"):
        raise TooLateToPullBack()
    draft.status = "draft"
    send.raw = None
    outbound.step(
        session=session,
        ticket=ticket,
        kind="send_pulled_back",
        actor_id=actor.user_id,
        draft_id=draft.id,
        send_id=send.id,
        status=TicketStatus.IN_PROGRESS,
    )
    return draft


def guard_edit(draft: MailDraft) -> None:
    """Refuse an edit of a draft that is being sent or was sent."""
    if draft.status in LOCKED:
        raise DraftNotEditable()


def void_if_changed(
    *, session: Session, actor: Actor, draft: MailDraft, before: tuple[object, ...]
) -> bool:
    """Void the approval (and a waiting send) when an edit changed the message; True if voided."""
    if content_of(draft) == before:
        return False
    return void_approval(session=session, actor=actor, draft=draft, reason="edited")


def void_approval(*, session: Session, actor: Actor, draft: MailDraft, reason: str) -> bool:
    """Void a draft's pending or granted approval because its message changed."""
    if draft.status not in (AWAITING, SCHEDULED):
        return False
    if draft.status == SCHEDULED and not _cancel_send(session, draft, "voided"):
        raise DraftNotEditable()
    for approval in session.scalars(
        select(MailApproval).where(
            MailApproval.draft_id == draft.id, MailApproval.decision == "pending"
        )
    ):
        approval.decision = "voided"
        approval.decided_at = utcnow()
    draft.status = "draft"
    outbound.event(
        session=session,
        ticket_id=draft.ticket_id,
        kind="approval_voided",
        actor_id=actor.user_id,
        draft_id=draft.id,
        reason=reason,
    )
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=draft.ticket_id)
    outbound.move_ticket(
        session=session,
        ticket=ticket,
        status=TicketStatus.IN_PROGRESS,
        actor_id=actor.user_id,
        why=reason,
    )
    return True


def content_of(draft: MailDraft) -> tuple[object, ...]:
    """Return what of a draft an approval covers, for comparing before and after an edit."""
    return (
        tuple(draft.to_addrs),
        tuple(draft.cc_addrs),
        tuple(draft.bcc_addrs),
        draft.subject,
        draft.body,
    )


def resolve_in_doubt(
    *,
    session: Session,
    supervisor: Actor,
    draft_id: int,
    outcome: Literal["sent", "resend"],
    comment: str | None = None,
) -> MailSend:
    """Settle a send whose fate is unknown: confirm it arrived, or send it again (audited)."""
    require_supervisor(supervisor)
    draft, ticket = draft_in_scope(session=session, actor=supervisor, draft_id=draft_id)
    send = latest_send(session=session, draft_id=draft.id)
    if send is None or send.status != "in_doubt":
        raise NotInDoubt()
    send.resolved_by = supervisor.user_id
    send.resolution = outcome
    audit.record(
        session,
        supervisor,
        action="resolve_in_doubt",
        resource_type="mail_send",
        resource_id=str(send.id),
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
        detail={"outcome": outcome, "comment": (comment or "").strip() or None},
    )
    outbound.event(
        session=session,
        ticket_id=ticket.id,
        kind="in_doubt_resolved",
        actor_id=supervisor.user_id,
        draft_id=draft.id,
        send_id=send.id,
        outcome=outcome,
    )
    copy = session.get(MailMessage, send.outbound_id) if send.outbound_id else None
    if outcome == "sent":
        send.status = "sent"
        send.sent_at = send.sent_at or utcnow()
        draft.status = "sent"
        if copy is not None:
            copy.send_status = "sent"
        send.raw = None
        enqueue(session, outbound.ARCHIVE_SENT, {"send_id": send.id}, max_attempts=10)
        outbound.step(
            session=session,
            ticket=ticket,
            kind="reply_sent",
            actor_id=supervisor.user_id,
            draft_id=draft.id,
            send_id=send.id,
            message_id=send.outbound_id,
            status=TicketStatus.REPLIED,
        )
    else:
        # Same bytes and Message-ID again: a recipient's client shows a duplicate as one.
        send.status = "scheduled"
        send.send_after = utcnow()
        draft.status = SCHEDULED
        if copy is not None:
            copy.send_status = "queued"
        schedule_job(session, send)
    return send
