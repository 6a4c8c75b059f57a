"""Sending approved mail from the worker, at most once, and keeping a copy in the Sent folder.

Each attempt is committed as `sending` before the SMTP session opens, and as `transmitting`
just before DATA (after the server accepted the envelope). A worker that died while a send
was `sending` provably delivered nothing: the next run tries again with the same bytes and
Message-ID. One that died while `transmitting` may have delivered it: the send is held
`in_doubt` for a supervisor, never resent blindly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail, SendError, SentArchive
from support.db import utcnow
from support.jobs import Job, enqueue
from support.mail import outbound
from support.mail.approval import SEND_MAX_ATTEMPTS
from support.mail.models import MailApproval, MailDraft, MailMessage, MailRaw, MailSend
from support.mail.outbound import OutboundConfig
from support.mail.outbound_checks import finding_dicts, run_guards
from support.mail.outbound_message import Threading, build_mime, choose_charset, message_hash
from support.tickets import channels
from support.tickets.status import TicketStatus

if TYPE_CHECKING:
    from support.tickets.models import Ticket

log = logging.getLogger(__name__)

FINAL = frozenset({"sent", "pulled_back", "voided", "failed", "in_doubt"})
# A send still unsettled this long after it was due, with no live job, is queued again.
SWEEP_GRACE = timedelta(minutes=5)


class SendRetry(Exception):  # noqa: N818 - a signal to the job runner, not an error report
    """The mail provably did not reach the server; the job should run again later."""


def _threading(session: Session, draft: MailDraft) -> Threading:
    parent = session.get(MailMessage, draft.in_reply_to_id) if draft.in_reply_to_id else None
    if parent is None:
        parent = session.scalar(
            select(MailMessage)
            .where(
                MailMessage.ticket_id == draft.ticket_id,
                MailMessage.direction == "inbound",
                MailMessage.message_id.is_not(None),
            )
            .order_by(MailMessage.received_at.desc(), MailMessage.id.desc())
            .limit(1)
        )
    if parent is None or not parent.message_id:
        return Threading()
    return Threading(
        in_reply_to=parent.message_id, references=[*parent.references, parent.message_id]
    )


def _settle_draft(send: MailSend, draft: MailDraft, status: str, error: str | None) -> None:
    send.status = status
    send.last_error = error
    draft.status = {"voided": "draft", "failed": "failed"}.get(status, status)


def _return_to_author(
    session: Session, send: MailSend, draft: MailDraft, ticket: Ticket, status: str, error: str
) -> str:
    _settle_draft(send, draft, status, error)
    send.raw = None
    outbound.step(
        session=session,
        ticket=ticket,
        kind="send_failed" if status == "failed" else "approval_voided",
        actor_id=None,
        draft_id=draft.id,
        send_id=send.id,
        reason=error,
        status=TicketStatus.IN_PROGRESS,
    )
    session.commit()
    log.warning("outbound mail returned to its author", extra={"send_id": send.id, "why": status})
    return status


def _record_copy(session: Session, send: MailSend, ticket: Ticket, status: str) -> MailMessage:
    """Add (or update) the outbound message in the thread, with its raw bytes."""
    snap = session.get_one(MailApproval, send.approval_id).snapshot
    copy = session.get(MailMessage, send.outbound_id) if send.outbound_id else None
    raw = send.raw or b""
    if copy is None:
        draft = session.get_one(MailDraft, send.draft_id)
        threading = _threading(session, draft)
        copy = MailMessage(
            ticket_id=ticket.id,
            direction="outbound",
            dedupe_key=hashlib.sha256(f"reply:{send.id}".encode()).hexdigest(),
            message_id=send.message_id,
            in_reply_to=threading.in_reply_to,
            references=list(threading.references),
            from_addr=snap["from"],
            to_addrs=list(snap["to"]),
            cc_addrs=list(snap["cc"]),
            subject=snap["subject"],
            text=snap["body"],
            raw_size=len(raw),
            received_at=utcnow(),
        )
        session.add(copy)
        session.flush()
        session.add(MailRaw(message_id=copy.id, data=raw))
        send.outbound_id = copy.id
    copy.send_status = status
    copy.sent_at = send.sent_at
    return copy


def _hold_in_doubt(session: Session, send: MailSend, draft: MailDraft, ticket: Ticket) -> str:
    _settle_draft(send, draft, "in_doubt", send.last_error or "送信結果が不明です")
    _record_copy(session, send, ticket, "in_doubt")
    outbound.event(
        session=session,
        ticket_id=ticket.id,
        kind="send_in_doubt",
        actor_id=None,
        draft_id=draft.id,
        send_id=send.id,
    )
    session.commit()
    log.warning("outbound mail in doubt", extra={"send_id": send.id})
    return "in_doubt"


def _new_blocks(approval: MailApproval, findings: list[dict[str, object]]) -> list[str]:
    """Return block findings that the approval did not let through with a written reason."""
    allowed = {
        (f["code"], f["detail"])
        for f in approval.findings
        if f["severity"] == "block" and f.get("overridden")
    }
    return [
        str(f["detail"])
        for f in findings
        if f["severity"] == "block" and (f["code"], f["detail"]) not in allowed
    ]


def _prepare(
    session: Session, send: MailSend, draft: MailDraft, ticket: Ticket, config: OutboundConfig
) -> str | None:
    """Check the message is still the approved one and build its bytes; return why not."""
    exact = outbound.exact_message(session=session, draft=draft, ticket=ticket, config=config)
    if message_hash(exact.snap) != send.message_hash:
        return "承認後に内容が変更されたため、承認は無効になりました"
    approval = session.get_one(MailApproval, send.approval_id)
    findings = run_guards(
        session=session, draft=exact.checked, internal_domains=config.internal_domains
    )
    if blocks := _new_blocks(approval, finding_dicts(findings)):
        return "送信直前のチェックで新たな問題が見つかりました：" + " / ".join(blocks)
    if send.raw is None:
        charset = choose_charset(
            exact.recipients,
            config.iso2022jp_domains,
            exact.snap["subject"] + "\n" + exact.snap["body"],
        )
        send.charset = charset
        send.raw = build_mime(
            snap=exact.snap,
            attachments=exact.files,
            message_id=send.message_id,
            threading=_threading(session, draft),
            date=utcnow(),
            charset=charset,
        )
    return None


def send_draft(
    *, session: Session, send_id: int, sender: MailSender, config: OutboundConfig
) -> str:
    """Send one approved mail whose undo window is over; return what happened.

    The job's run_at is the end of the undo window: the job runner does not start it earlier.
    """
    send = session.get(MailSend, send_id)
    if send is None or send.status in FINAL:
        return send.status if send else "missing"
    draft = session.get_one(MailDraft, send.draft_id)
    ticket = channels.get_ticket(session=session, ticket_id=send.ticket_id)
    if ticket is None:
        return "missing"
    if send.status == "transmitting":
        # A worker died during DATA: the server may have the mail. Never resend blindly.
        send.last_error = "送信中に処理が中断されました（送信結果不明）"
        return _hold_in_doubt(session, send, draft, ticket)
    if send.status == "scheduled":
        # Claimed with a guarded update: a pull-back at this instant wins or loses cleanly.
        claimed = session.execute(
            update(MailSend)
            .where(MailSend.id == send.id, MailSend.status == "scheduled")
            .values(status="sending")
            .execution_options(synchronize_session=False)
        )
        session.refresh(send)
        if not claimed.rowcount:  # type: ignore[attr-defined]
            session.commit()
            return send.status
    # Status "sending" here is either just claimed or left by a crash before DATA: in both
    # cases nothing reached the server yet.
    if why := _prepare(session, send, draft, ticket, config):
        return _return_to_author(session, send, draft, ticket, "voided", why)
    send.attempts += 1
    draft.status = "sending"
    raw = send.raw or b""
    snap = session.get_one(MailApproval, send.approval_id).snapshot
    recipients = list(dict.fromkeys([*snap["to"], *snap["cc"], *snap["bcc"]]))
    session.commit()  # the attempt is on record before any byte goes to the server

    data_begun = False

    def before_data() -> None:
        nonlocal data_begun
        session.execute(
            update(MailSend)
            .where(MailSend.id == send_id)
            .values(status="transmitting")
            .execution_options(synchronize_session=False)
        )
        session.commit()
        data_begun = True

    try:
        sender.send(
            OutgoingMail(
                envelope_from=snap["from"],
                recipients=recipients,
                data=raw,
                message_id=send.message_id,
            ),
            before_data=before_data,
        )
    except SendError as exc:
        session.refresh(send)
        send.last_error = exc.reason
        if data_begun and exc.reached_server:
            return _hold_in_doubt(session, send, draft, ticket)
        if exc.permanent:
            reason = f"送信先サーバーに拒否されました（{exc.reason}）"
            return _return_to_author(session, send, draft, ticket, "failed", reason)
        # Provably not delivered: the next attempt is safe, and it may still be pulled back.
        send.status = "scheduled"
        draft.status = "scheduled"
        session.commit()
        raise SendRetry(exc.reason) from exc
    session.refresh(send)
    send.status = "sent"
    send.sent_at = utcnow()
    draft.status = "sent"
    copy = _record_copy(session, send, ticket, "sent")
    send.raw = None
    enqueue(session, outbound.ARCHIVE_SENT, {"send_id": send.id}, max_attempts=10)
    outbound.step(
        session=session,
        ticket=ticket,
        kind="reply_sent",
        actor_id=None,
        draft_id=draft.id,
        send_id=send.id,
        message_id=copy.id,
        status=TicketStatus.REPLIED,
    )
    session.commit()
    log.info("outbound mail sent", extra={"send_id": send.id, "charset": send.charset})
    return "sent"


def archive_sent(*, session: Session, send_id: int, archive: SentArchive | None) -> str:
    """Put a copy of a sent mail in the Sent folder (once, by Message-ID); never resends."""
    send = session.get(MailSend, send_id)
    if send is None or send.status != "sent" or send.archived or send.outbound_id is None:
        return "skipped"
    if archive is None:
        return "no_archive"
    raw = session.get_one(MailRaw, send.outbound_id).data
    # A failure raises: the job runner retries the append alone, the mail is not sent again.
    added = archive.append_sent(raw, message_id=f"<{send.message_id}>")
    send.archived = True
    return "archived" if added else "already_archived"


def sweep_sends(*, session: Session) -> int:
    """Queue again every unsettled send whose job is gone or gave up; return how many."""
    due = utcnow() - SWEEP_GRACE
    sends = session.scalars(
        select(MailSend).where(
            MailSend.status.in_(("scheduled", "sending")), MailSend.send_after < due
        )
    ).all()
    count = 0
    for send in sends:
        job = session.get(Job, send.job_id) if send.job_id else None
        if job is None or job.status in ("done", "failed"):
            send.job_id = enqueue(
                session,
                outbound.SEND_DRAFT,
                {"send_id": send.id},
                max_attempts=SEND_MAX_ATTEMPTS,
            ).id
            count += 1
    # A send left "transmitting" by a dead worker whose job was lost is settled the same way.
    for send in session.scalars(
        select(MailSend).where(MailSend.status == "transmitting", MailSend.send_after < due)
    ):
        job = session.get(Job, send.job_id) if send.job_id else None
        if job is None or job.status in ("done", "failed"):
            send.job_id = enqueue(session, outbound.SEND_DRAFT, {"send_id": send.id}).id
            count += 1
    return count


class OutboundJobs:
    """The worker's outbound job handlers, bound to the sender and the Sent folder."""

    def __init__(
        self, sender: MailSender | None, archive: SentArchive | None, config: OutboundConfig
    ) -> None:
        self.sender = sender
        self.archive = archive
        self.config = config

    def send(self, session: Session, payload: dict[str, Any]) -> None:
        """Job: send one approved mail (SendRetry makes the runner retry with backoff)."""
        if self.sender is None:
            # Without SMTP nothing can leave: retry later rather than drop the approved mail.
            raise SendRetry("SMTP サーバーが設定されていません")
        outcome = send_draft(
            session=session, send_id=int(payload["send_id"]), sender=self.sender, config=self.config
        )
        log.info("outbound send", extra={"send_id": payload["send_id"], "outcome": outcome})

    def archive_copy(self, session: Session, payload: dict[str, Any]) -> None:
        """Job: append a sent mail to the Sent folder."""
        archive_sent(session=session, send_id=int(payload["send_id"]), archive=self.archive)

    def sweep(self, session: Session, _payload: dict[str, Any]) -> None:
        """Job: re-queue unsettled sends whose job is gone."""
        sweep_sends(session=session)

    def handlers(self) -> dict[str, Callable[[Session, dict[str, Any]], None]]:
        """Return job kind -> handler."""
        return {
            outbound.SEND_DRAFT: self.send,
            outbound.ARCHIVE_SENT: self.archive_copy,
            outbound.SWEEP_SENDS: self.sweep,
        }


PERIODIC: dict[str, timedelta] = {outbound.SWEEP_SENDS: timedelta(minutes=10)}
