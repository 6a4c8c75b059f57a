"""Complaint workflow on a ticket: category, priority, orders, verdicts, liability, resolution.

Every change is a timeline event with its actor. The municipality's policy only suggests
(deadline breached, reissue refused, who bears the costs); a person confirms the liability,
and that confirmation is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.calendar import JST
from support.db import utcnow
from support.errors import BadInput, Conflict, NotFound
from support.tickets import notices, scope, sla_track
from support.tickets.intake import PRIORITIES
from support.tickets.models import Donor, Order, Ticket, TicketOrder
from support.tickets.policy import (
    CATEGORIES,
    GIFT_COST_CATEGORIES,
    DeadlineVerdict,
    LiabilitySuggestion,
    MunicipalityPolicy,
    ReissueVerdict,
    liability_suggestion,
    resident_verdict,
    shipping_deadline_verdict,
    voucher_reissue_verdict,
)
from support.tickets.report_render import mail_template
from support.tickets.status import TicketStatus
from support.tickets.timeline import record_event
from support.tickets.work import get_for_work, tags_of

DEADLINE_CATEGORIES = frozenset({"配送遅延", "不着"})
BEARERS = frozenset({"supplier", "carrier", "donor", "municipality", "intermediary", "none"})


def _editable(session: Session, actor: Actor, ticket_id: int) -> Ticket:
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    if ticket.merged_into_id is not None:
        raise Conflict("統合済みのチケットは変更できません")
    return ticket


def _change(
    session: Session,
    actor: Actor,
    ticket: Ticket,
    field: str,
    value: object,
    *,
    kind: str | None = None,
) -> bool:
    """Set one field and put the change (from, to) on the timeline; return whether it changed."""
    previous = getattr(ticket, field)
    if previous == value and type(previous) is type(value):
        return False
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind=kind or field,
        actor_id=actor.user_id,
        detail={"from": previous, "to": value},
    )
    setattr(ticket, field, value)
    return True


def set_category(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    category: str,
    policies: Mapping[str, MunicipalityPolicy] | None = None,
) -> Ticket:
    """Change a ticket's category: new SLA targets, a notice if it became serious, and the
    policy's verdict on the timeline when policies are given."""
    if category not in CATEGORIES:
        raise BadInput(f"不明な分類です: {category[:30]}", allowed=sorted(CATEGORIES))
    ticket = _editable(session, actor, ticket_id)
    if not _change(session, actor, ticket, "category", category):
        return ticket
    sla_track.recategorised(ticket)
    session.flush()
    notices.flag_if_serious(session=session, ticket=ticket)
    if policies is not None:
        note_verdict(session=session, ticket=ticket, policies=policies, actor=actor)
    return ticket


def set_priority(*, session: Session, actor: Actor, ticket_id: int, priority: str) -> Ticket:
    """Change a ticket's priority."""
    if priority not in PRIORITIES:
        raise BadInput(f"不明な優先度です: {priority[:20]}", allowed=sorted(PRIORITIES))
    ticket = _editable(session, actor, ticket_id)
    _change(session, actor, ticket, "priority", priority)
    return ticket


def orders_of(*, session: Session, ticket_id: int) -> list[Order]:
    """Return the orders linked to a ticket, in the order they were linked."""
    return list(
        session.scalars(
            select(Order)
            .join(TicketOrder, TicketOrder.order_id == Order.id)
            .where(TicketOrder.ticket_id == ticket_id)
            .order_by(Order.id)
        )
    )


def link_order(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    order_id: int,
    policies: Mapping[str, MunicipalityPolicy] | None = None,
) -> Ticket:
    """Link an order; the first becomes the primary one, giving supplier and municipality."""
    ticket = _editable(session, actor, ticket_id)
    order = session.get(Order, order_id)
    if order is None:
        raise BadInput("指定された注文は存在しません")
    if ticket.municipality_id not in (None, order.municipality_id):
        raise BadInput("チケットと異なる自治体の注文は紐づけられません")
    if ticket.donor_id is not None and ticket.donor_id != order.donor_id:
        raise BadInput("チケットの寄附者と注文の寄附者が一致しません")
    if session.get(TicketOrder, (ticket.id, order.id)) is not None:
        return ticket
    session.add(TicketOrder(ticket_id=ticket.id, order_id=order.id, source="operator"))
    if ticket.order_id is None:
        ticket.order_id = order.id
        ticket.supplier_id = order.supplier_id
        ticket.municipality_id = order.municipality_id
        ticket.donor_id = ticket.donor_id or order.donor_id
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="order_linked",
        actor_id=actor.user_id,
        detail={"order_id": order.id, "order_no": order.order_no, "primary": ticket.order_id},
    )
    session.flush()
    if policies is not None and ticket.order_id == order.id:
        note_verdict(session=session, ticket=ticket, policies=policies, actor=actor)
    return ticket


def unlink_order(*, session: Session, actor: Actor, ticket_id: int, order_id: int) -> Ticket:
    """Unlink an order; the next linked one (if any) becomes the primary."""
    ticket = _editable(session, actor, ticket_id)
    link = session.get(TicketOrder, (ticket.id, order_id))
    if link is None:
        raise NotFound()
    session.delete(link)
    session.flush()
    if ticket.order_id == order_id:
        rest = orders_of(session=session, ticket_id=ticket.id)
        ticket.order_id = rest[0].id if rest else None
        ticket.supplier_id = rest[0].supplier_id if rest else None
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="order_unlinked",
        actor_id=actor.user_id,
        detail={"order_id": order_id, "primary": ticket.order_id},
    )
    return ticket


@dataclass(frozen=True)
class ProposedMail:
    """A reply the policy proposes; an operator reviews and sends it through approval."""

    template: str
    subject: str
    body: str


@dataclass(frozen=True)
class Verdict:
    """What the municipality's policy says about a ticket (suggestions, not decisions)."""

    municipality: str
    category: str
    deadline: DeadlineVerdict | None
    reissue: ReissueVerdict | None
    liability: LiabilitySuggestion | None
    resident_gift_allowed: bool | None
    serious_kinds: list[str]
    proposed_reply: ProposedMail | None


def _proposed_refusal(
    ticket: Ticket,
    policy: MunicipalityPolicy,
    order: Order,
    verdict: ReissueVerdict,
    desk_name: str,
) -> ProposedMail | None:
    if verdict.template is None:
        return None
    context = {
        "ticket_id": ticket.id,
        "municipality_name": policy.name,
        "order_no": order.order_no,
        "delivered_on": order.delivered_on,
        "reason": verdict.reason,
        "desk_name": desk_name,
    }

    def render(suffix: str) -> str:
        name = f"{verdict.template}.{suffix}.j2"
        return mail_template(name, policy.municipality).render(**context)

    return ProposedMail(
        template=verdict.template, subject=render("subject").strip(), body=render("txt")
    )


def verdict_for(
    *,
    session: Session,
    ticket: Ticket,
    policies: Mapping[str, MunicipalityPolicy],
    today: date | None = None,
    desk_name: str = "ふるさと納税 お問い合わせ窓口",
) -> Verdict | None:
    """Apply the ticket's municipality policy to it; None when no policy is configured."""
    policy = policies.get(ticket.municipality_id or "")
    if policy is None:
        return None
    today = today or utcnow().astimezone(JST).date()
    order = session.get(Order, ticket.order_id) if ticket.order_id else None
    deadline = reissue = None
    proposed = None
    if order is not None and ticket.category in DEADLINE_CATEGORIES and order.ordered_on:
        deadline = shipping_deadline_verdict(policy, order.ordered_on, order.shipped_on, today)
    if order is not None and ticket.category == "利用券":
        reissue = voucher_reissue_verdict(policy, delivered=order.delivered_on is not None)
        proposed = _proposed_refusal(ticket, policy, order, reissue, desk_name)
    liability = None
    if ticket.category in GIFT_COST_CATEGORIES:
        liability = liability_suggestion(policy, ticket.category, ticket.carrier_at_fault)
    resident = None
    if ticket.donor_id is not None:
        residence = session.scalar(
            select(Donor.municipality_of_residence).where(Donor.id == ticket.donor_id)
        )
        resident = resident_verdict(policy, residence)
    tags = tags_of(session=session, ticket_id=ticket.id)
    return Verdict(
        municipality=policy.municipality,
        category=ticket.category,
        deadline=deadline,
        reissue=reissue,
        liability=liability,
        resident_gift_allowed=resident,
        serious_kinds=notices.serious_kinds(ticket.category, tags, policy),
        proposed_reply=proposed,
    )


def note_verdict(
    *,
    session: Session,
    ticket: Ticket,
    policies: Mapping[str, MunicipalityPolicy],
    actor: Actor | None = None,
) -> Verdict | None:
    """Put the policy's verdict as it stands now on the timeline (a summary, no texts)."""
    verdict = verdict_for(session=session, ticket=ticket, policies=policies)
    if verdict is None:
        return None
    detail: dict[str, Any] = {"category": verdict.category, "serious": verdict.serious_kinds}
    if verdict.deadline is not None:
        detail["deadline"] = (
            verdict.deadline.deadline.isoformat() if verdict.deadline.deadline else None
        )
        detail["deadline_breached"] = verdict.deadline.breached
        detail["days_late"] = verdict.deadline.days_late
    if verdict.reissue is not None:
        detail["reissue_allowed"] = verdict.reissue.allowed
        detail["proposed_template"] = verdict.reissue.template
    if verdict.liability is not None:
        detail["suggested_bearer"] = verdict.liability.bearer
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="verdict",
        actor_id=actor.user_id if actor else None,
        detail=detail,
    )
    return verdict


def set_carrier_fault(
    *, session: Session, actor: Actor, ticket_id: int, carrier_at_fault: bool | None
) -> Ticket:
    """Record whether the carrier was at fault (it changes the suggested cost bearer)."""
    ticket = _editable(session, actor, ticket_id)
    _change(session, actor, ticket, "carrier_at_fault", carrier_at_fault, kind="carrier_fault")
    return ticket


def confirm_liability(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    bearer: str,
    covers: Sequence[str],
    policies: Mapping[str, MunicipalityPolicy],
    carrier_at_fault: bool | None = None,
    note: str | None = None,
) -> Ticket:
    """Confirm who bears the complaint's costs (a person's decision); audited, on the timeline."""
    if bearer not in BEARERS:
        raise BadInput(f"不明な費用負担者です: {bearer[:20]}", allowed=sorted(BEARERS))
    ticket = _editable(session, actor, ticket_id)
    if carrier_at_fault is not None:
        set_carrier_fault(
            session=session, actor=actor, ticket_id=ticket.id, carrier_at_fault=carrier_at_fault
        )
    verdict = verdict_for(session=session, ticket=ticket, policies=policies)
    suggested = verdict.liability.bearer if verdict and verdict.liability else None
    now = utcnow()
    detail = {
        "bearer": bearer,
        "covers": list(covers),
        "suggested": suggested,
        "follows_suggestion": suggested == bearer,
        "previous": ticket.liability_bearer,
    }
    ticket.liability_bearer = bearer
    ticket.liability_covers = list(dict.fromkeys(covers))
    ticket.liability_note = note
    ticket.liability_confirmed_by = actor.user_id
    ticket.liability_confirmed_at = now
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="liability_confirmed",
        actor_id=actor.user_id,
        detail=detail,
        at=now,
    )
    audit.record(
        session,
        actor,
        action="confirm_liability",
        resource_type="ticket",
        resource_id=str(ticket.id),
        municipality_id=ticket.municipality_id,
        detail=detail,
    )
    return ticket


def resolve(
    *, session: Session, actor: Actor, ticket_id: int, resolution: str | None = None
) -> Ticket:
    """Close a complaint as resolved: the SLA clocks stop and the timeline says how."""
    ticket = _editable(session, actor, ticket_id)
    if ticket.status == TicketStatus.CLOSED.value:
        return ticket
    now = utcnow()
    previous = ticket.status
    ticket.status = TicketStatus.CLOSED.value
    ticket.last_activity_at = now
    sla_track.resolved(ticket, now)
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="status",
        actor_id=actor.user_id,
        detail={"from": previous, "to": TicketStatus.CLOSED.value},
        at=now,
    )
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="resolved",
        actor_id=actor.user_id,
        detail={"resolution": resolution, "sla_state": ticket.sla_state},
        at=now,
    )
    return ticket


# The columns the queue shows: loading only these keeps a page cheap (no full ORM rows).
QUEUE_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.category,
    Ticket.priority,
    Ticket.status,
    Ticket.channel,
    Ticket.municipality_id,
    Ticket.supplier_id,
    Ticket.assignee_id,
    Ticket.sla_due_at,
    Ticket.sla_state,
    Ticket.created_at,
)


@dataclass(frozen=True)
class QueuePage:
    """One page of the operator queue (rows with the QUEUE_COLUMNS as attributes)."""

    items: list[Any]
    page: int
    per_page: int
    has_more: bool


def queue(
    *,
    session: Session,
    actor: Actor,
    municipality_id: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> QueuePage:
    """Return a page of tickets not yet closed (or of one status), soonest SLA due first."""
    scope.require_staff(actor)
    if status is not None:
        try:
            TicketStatus(status)
        except ValueError:
            raise BadInput(f"不明な状態です: {status[:20]}") from None
    query = select(*QUEUE_COLUMNS).where(Ticket.merged_into_id.is_(None))
    # `status <> 'closed'` is spelled exactly like the partial index's predicate.
    query = query.where(
        Ticket.status == status if status is not None else Ticket.status != "closed"
    )
    if municipality_id is not None:
        query = query.where(Ticket.municipality_id == municipality_id)
    rows = list(
        session.execute(
            query.order_by(Ticket.sla_due_at.asc().nulls_last(), Ticket.id)
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    return QueuePage(rows[:per_page], page, per_page, len(rows) > per_page)


def read_contact(*, session: Session, actor: Actor, ticket_id: int) -> Ticket:
    """Return a ticket whose caller number a staff member is about to read; audited."""
    ticket = get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    audit.record(
        session,
        actor,
        action="read_contact",
        resource_type="ticket",
        resource_id=str(ticket.id),
        donor_id=ticket.donor_id,
        municipality_id=ticket.municipality_id,
        detail={"fields": ["contact_phone"]},
    )
    return ticket
