"""Use cases of working tickets as a team: status, assignee, tags, notes, merge, presence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.auth.models import User
from support.db import utcnow
from support.errors import BadInput, Conflict, NotFound
from support.tickets import notices, scope, sla_queue, sla_track
from support.tickets.channels import record_event
from support.tickets.models import (
    Donation,
    Order,
    Ticket,
    TicketNote,
    TicketOrder,
    TicketPresence,
    TicketTag,
)
from support.tickets.status import TicketStatus

PRESENCE_TTL = timedelta(seconds=45)
MAX_TAGS = 20


@dataclass(frozen=True)
class TicketFilter:
    """What the queue may be filtered by; every field optional."""

    status: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    tag: str | None = None
    municipality_id: str | None = None
    channel: str | None = None
    donor_id: str | None = None
    order_no: str | None = None
    include_merged: bool = False
    sla_state: sla_queue.QueueSlaState | None = None


def ticket_query(actor: Actor, flt: TicketFilter) -> Select[Ticket]:
    """Return a query of the tickets the actor may see, filtered; other domains may extend it."""
    query = select(Ticket).where(scope.ticket_filter(actor))
    if not flt.include_merged:
        query = query.where(Ticket.merged_into_id.is_(None))
    if flt.status is not None:
        query = query.where(Ticket.status == flt.status)
    if flt.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    elif flt.assignee_id is not None:
        query = query.where(Ticket.assignee_id == flt.assignee_id)
    if flt.tag is not None:
        query = query.where(
            exists(
                select(TicketTag.tag).where(
                    TicketTag.ticket_id == Ticket.id, TicketTag.tag == flt.tag
                )
            )
        )
    if flt.municipality_id is not None:
        query = query.where(Ticket.municipality_id == flt.municipality_id)
    if flt.channel is not None:
        query = query.where(Ticket.channel == flt.channel)
    if flt.donor_id is not None:
        query = query.where(Ticket.donor_id == flt.donor_id)
    if flt.order_no is not None:
        linked = (
            select(TicketOrder.ticket_id)
            .join(Order, Order.id == TicketOrder.order_id)
            .outerjoin(Donation, Donation.id == Order.donation_id)
            .where(or_(Order.order_no == flt.order_no, Donation.donation_no == flt.order_no))
        )
        query = query.where(Ticket.id.in_(linked))
    if flt.sla_state is not None:
        query = query.where(sla_queue.sla_condition(flt.sla_state, now=utcnow()))
    return query


def get_for_work(*, session: Session, actor: Actor, ticket_id: int) -> Ticket:
    """Return a ticket the staff actor may work on, or NotFound."""
    scope.require_staff(actor)
    ticket = session.scalar(
        select(Ticket).where(Ticket.id == ticket_id, scope.ticket_filter(actor))
    )
    if ticket is None:
        raise NotFound()
    return ticket


def set_status(*, session: Session, actor: Actor, ticket_id: int, status: TicketStatus) -> Ticket:
    """Move a ticket to another status; 承認待ち is set by the approval flow only."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    if ticket.merged_into_id is not None:
        raise Conflict("統合済みのチケットは変更できません")
    if status is TicketStatus.AWAITING_APPROVAL:
        raise BadInput("承認待ちは返信の承認依頼によってのみ設定されます")
    if ticket.status != status.value:
        record_event(
            session=session,
            ticket_id=ticket.id,
            kind="status",
            actor_id=actor.user_id,
            detail={"from": ticket.status, "to": status.value},
        )
        previous = ticket.status
        ticket.status = status.value
        ticket.last_activity_at = utcnow()
        _move_sla(ticket, previous, status)
    return ticket


def _move_sla(ticket: Ticket, previous: str, status: TicketStatus) -> None:
    """Keep the stored SLA clock in step with a status change."""
    now = ticket.last_activity_at
    if status is TicketStatus.CLOSED:
        sla_track.resolved(ticket, now)
    elif previous == TicketStatus.CLOSED.value:
        sla_track.reopened(ticket)
    if status is TicketStatus.REPLIED:
        sla_track.responded(ticket, now)


def assign(*, session: Session, actor: Actor, ticket_id: int, assignee_id: int | None) -> Ticket:
    """Put an assignee label on a ticket (or take it off)."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    if assignee_id is not None:
        user = session.get(User, assignee_id)
        if user is None or not user.active or user.role not in ("operator", "supervisor", "admin"):
            raise BadInput("担当者には有効なスタッフを指定してください")
    if ticket.assignee_id != assignee_id:
        record_event(
            session=session,
            ticket_id=ticket.id,
            kind="assigned",
            actor_id=actor.user_id,
            detail={"from": ticket.assignee_id, "to": assignee_id},
        )
        ticket.assignee_id = assignee_id
        if assignee_id is not None and ticket.status == TicketStatus.OPEN:
            ticket.status = TicketStatus.IN_PROGRESS.value
    return ticket


def _clean_tag(tag: str) -> str:
    cleaned = " ".join(tag.split())
    if not cleaned or len(cleaned) > 50:
        raise BadInput("タグは1〜50文字で指定してください")
    return cleaned


def tags_of(*, session: Session, ticket_id: int) -> list[str]:
    """Return a ticket's tags, sorted."""
    return sorted(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)))


def tags_of_many(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    """Return the sorted tags of each ticket (one query for a page of the queue)."""
    tags: dict[int, list[str]] = {i: [] for i in ticket_ids}
    if ticket_ids:
        for ticket_id, tag in session.execute(
            select(TicketTag.ticket_id, TicketTag.tag)
            .where(TicketTag.ticket_id.in_(list(ticket_ids)))
            .order_by(TicketTag.tag)
        ):
            tags[ticket_id].append(tag)
    return tags


def set_tags(*, session: Session, actor: Actor, ticket_id: int, tags: Sequence[str]) -> list[str]:
    """Replace a ticket's free tags."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    wanted = sorted({_clean_tag(t) for t in tags})
    if len(wanted) > MAX_TAGS:
        raise BadInput(f"タグは{MAX_TAGS}個までです")
    current = tags_of(session=session, ticket_id=ticket.id)
    if wanted == current:
        return current
    session.execute(delete(TicketTag).where(TicketTag.ticket_id == ticket.id))
    session.add_all(TicketTag(ticket_id=ticket.id, tag=t) for t in wanted)
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="tags",
        actor_id=actor.user_id,
        detail={"tags": wanted},
    )
    session.flush()
    notices.flag_if_serious(session=session, ticket=ticket, tags=wanted)
    return wanted


def add_note(*, session: Session, actor: Actor, ticket_id: int, body: str) -> TicketNote:
    """Add an internal note; colleagues drafting a reply must see it before sending."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    note = TicketNote(ticket_id=ticket.id, author_id=actor.user_id, body=body)
    session.add(note)
    ticket.thread_version = (ticket.thread_version or 0) + 1
    ticket.last_activity_at = utcnow()
    session.flush()
    # The timeline says a note was added and by whom; the text stays in the note.
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="note",
        actor_id=actor.user_id,
        detail={"note_id": note.id},
    )
    return note


def notes_of(*, session: Session, ticket_id: int) -> Sequence[TicketNote]:
    """Return a ticket's notes, oldest first."""
    return session.scalars(
        select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(TicketNote.id)
    ).all()


def require_current(ticket: Ticket, seen_version: int) -> None:
    """Refuse a reply begun before the latest inbound message or note (409)."""
    if seen_version < ticket.thread_version:
        raise Conflict(
            "返信の作成開始後に新しいメールまたはメモが追加されています。内容を確認してください",
            thread_version=ticket.thread_version,
        )


def merge(*, session: Session, actor: Actor, source_id: int, target_id: int) -> Ticket:
    """Merge a duplicate ticket into another; both histories stay, the source points on."""
    if source_id == target_id:
        raise BadInput("同じチケットには統合できません")
    source = get_for_work(session=session, actor=actor, ticket_id=source_id)
    target = get_for_work(session=session, actor=actor, ticket_id=target_id)
    if source.merged_into_id is not None or target.merged_into_id is not None:
        raise Conflict("統合済みのチケットは統合できません")
    if source.donor_id and target.donor_id and source.donor_id != target.donor_id:
        raise Conflict("寄附者が異なるチケットは統合できません")
    source.merged_into_id = target.id
    source.status = TicketStatus.CLOSED.value
    # The duplicate's clock stops: the surviving ticket carries the promise.
    source.sla_due_at = None
    source.sla_alert_at = None
    target.donor_id = target.donor_id or source.donor_id
    target.thread_version = (target.thread_version or 0) + 1
    target.last_activity_at = utcnow()
    linked = set(
        session.scalars(select(TicketOrder.order_id).where(TicketOrder.ticket_id == target.id))
    )
    for order_id in session.scalars(
        select(TicketOrder.order_id).where(TicketOrder.ticket_id == source.id)
    ):
        if order_id not in linked:
            session.add(TicketOrder(ticket_id=target.id, order_id=order_id, source="merge"))
    for kind, tid, other in (
        ("merged_into", source.id, target.id),
        ("merged_from", target.id, source.id),
    ):
        record_event(
            session=session,
            ticket_id=tid,
            kind=kind,
            actor_id=actor.user_id,
            detail={"ticket_id": other},
        )
    session.flush()
    return target


def open_split(*, session: Session, actor: Actor, ticket_id: int, subject: str) -> Ticket:
    """Open a new ticket split off an existing one (the caller moves the messages)."""
    source = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    ticket = Ticket(
        subject=subject[:300],
        channel=source.channel,
        status=TicketStatus.OPEN.value,
        donor_id=source.donor_id,
        municipality_id=source.municipality_id,
        category=source.category,
        priority=source.priority,
        last_activity_at=utcnow(),
        thread_version=1,
        created_by=actor.user_id,
    )
    session.add(ticket)
    session.flush()
    record_event(
        session=session,
        ticket_id=source.id,
        kind="split_to",
        actor_id=actor.user_id,
        detail={"ticket_id": ticket.id},
    )
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="split_from",
        actor_id=actor.user_id,
        detail={"ticket_id": source.id},
    )
    source.thread_version = (source.thread_version or 0) + 1
    return ticket


def touch_presence(*, session: Session, actor: Actor, ticket_id: int, activity: str) -> None:
    """Say the actor is viewing or drafting in a ticket now (refresh before it expires)."""
    if activity not in ("viewing", "drafting", "left"):
        raise BadInput("activity は viewing, drafting, left のいずれかです")
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    assert actor.user_id is not None  # noqa: S101 - staff are always users
    row = session.get(TicketPresence, (ticket.id, actor.user_id))
    if activity == "left":
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(
            TicketPresence(
                ticket_id=ticket.id,
                user_id=actor.user_id,
                activity=activity,
                expires_at=utcnow() + PRESENCE_TTL,
            )
        )
    else:
        row.activity = activity
        row.expires_at = utcnow() + PRESENCE_TTL
    session.flush()


def presence_of(*, session: Session, ticket_id: int) -> list[dict[str, Any]]:
    """Return who is viewing or drafting a ticket now, with their display names."""
    rows = session.execute(
        select(TicketPresence, User.display_name)
        .join(User, User.id == TicketPresence.user_id)
        .where(TicketPresence.ticket_id == ticket_id, TicketPresence.expires_at > utcnow())
        .order_by(User.display_name)
    ).all()
    return [
        {
            "user_id": p.user_id,
            "display_name": name,
            "activity": p.activity,
            "label": f"{name}さんが{'返信を作成中' if p.activity == 'drafting' else '閲覧中'}",
        }
        for p, name in rows
    ]
