"""SLA standing of tickets in a queue: per-row dues and states, and states as SQL filters.

A ticket's clocks start at its creation. The first-response clock runs until a response to the
donor is on its timeline (the kinds the monthly report counts); the resolution clock runs while
the ticket is open, in progress or awaiting approval. A replied ticket waits on the donor: its
clock is paused (``paused``); a closed one has none. Filtering by state must work over 100,000
open tickets, so a state becomes, per category, "created before the instant whose business
time until now reaches the target": one comparison on ``created_at`` per category.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from support.calendar import BusinessCalendar
from support.tickets.models import Ticket, TicketEvent
from support.tickets.reports import RESPONSE_KINDS
from support.tickets.sla import DEFAULT_TARGETS, DEFAULT_WARNING_FRACTION, SlaTarget, clock_for
from support.tickets.status import TicketStatus

QueueSlaState = Literal["breached", "warning", "ok", "paused", "none"]
SLA_STATES: tuple[QueueSlaState, ...] = ("breached", "warning", "ok", "paused", "none")
SLA_LABELS: dict[QueueSlaState, str] = {
    "breached": "期限超過",
    "warning": "期限間近",
    "ok": "期限内",
    "paused": "寄附者待ち",
    "none": "対象外",
}
RUNNING = (
    TicketStatus.OPEN.value,
    TicketStatus.IN_PROGRESS.value,
    TicketStatus.AWAITING_APPROVAL.value,
)
_MAX_DAYS_BACK = 3660
_SEVERITY = {"met": 0, "ok": 1, "warning": 2, "breached": 3}


@dataclass(frozen=True)
class SlaView:
    """How one ticket stands: its state, the due instant of the clock that runs out first."""

    state: QueueSlaState
    due: datetime | None

    @property
    def label(self) -> str:
        """Return the Japanese label of the state."""
        return SLA_LABELS[self.state]


def business_start_before(calendar: BusinessCalendar, end: datetime, amount: timedelta) -> datetime:
    """Return the latest instant from which `amount` of open time has passed by `end`."""
    left = amount
    day = end.astimezone(calendar.tz).date()
    for _ in range(_MAX_DAYS_BACK):
        if calendar.is_business_day(day):
            open_at = datetime.combine(day, calendar.open_time, tzinfo=calendar.tz)
            close_at = datetime.combine(day, calendar.close_time, tzinfo=calendar.tz)
            stop = min(close_at, end)
            if stop > open_at:
                if left <= stop - open_at:
                    return (stop - left).astimezone(UTC)
                left -= stop - open_at
        day -= timedelta(days=1)
    return datetime.min.replace(tzinfo=UTC)


def _responded() -> ColumnElement[bool]:
    return exists(
        select(TicketEvent.id).where(
            TicketEvent.ticket_id == Ticket.id, TicketEvent.kind.in_(RESPONSE_KINDS)
        )
    )


def _past(
    calendar: BusinessCalendar,
    now: datetime,
    targets: Mapping[str, SlaTarget],
    fraction: float,
) -> ColumnElement[bool]:
    """Return "a clock has used up `fraction` of its target" over every category."""
    # Categories nobody configured fall back to その他, like sla.target_for.
    fallback = targets["その他"]
    clauses: list[ColumnElement[bool]] = []
    responded = _responded()
    for category, target in [*targets.items(), (None, fallback)]:
        first_cut = business_start_before(calendar, now, target.first_response * fraction)
        resolution_cut = business_start_before(calendar, now, target.resolution * fraction)
        which = (
            Ticket.category == category
            if category is not None
            else Ticket.category.not_in(list(targets))
        )
        clauses.append(
            and_(
                which,
                or_(
                    Ticket.created_at <= resolution_cut,
                    and_(Ticket.created_at <= first_cut, not_(responded)),
                ),
            )
        )
    return or_(*clauses)


def sla_condition(
    state: QueueSlaState,
    *,
    now: datetime,
    calendar: BusinessCalendar | None = None,
    targets: Mapping[str, SlaTarget] = DEFAULT_TARGETS,
    warning_fraction: float = DEFAULT_WARNING_FRACTION,
) -> ColumnElement[bool]:
    """Return a condition true for tickets in this SLA state at `now`."""
    calendar = calendar or BusinessCalendar()
    running = Ticket.status.in_(RUNNING)
    if state == "paused":
        return Ticket.status == TicketStatus.REPLIED.value
    if state == "none":
        return Ticket.status == TicketStatus.CLOSED.value
    breached = _past(calendar, now, targets, 1.0)
    if state == "breached":
        return and_(running, breached)
    warned = _past(calendar, now, targets, 1.0 - warning_fraction)
    if state == "warning":
        return and_(running, warned, not_(breached))
    if state == "ok":
        return and_(running, not_(warned))
    return false()


def responded_tickets(*, session: Session, ticket_ids: Collection[int]) -> dict[int, datetime]:
    """Map each ticket that had a response to the donor to the first response's instant."""
    if not ticket_ids:
        return {}
    first: dict[int, datetime] = {}
    for ticket_id, at in session.execute(
        select(TicketEvent.ticket_id, TicketEvent.occurred_at)
        .where(TicketEvent.ticket_id.in_(list(ticket_ids)), TicketEvent.kind.in_(RESPONSE_KINDS))
        .order_by(TicketEvent.occurred_at)
    ):
        first.setdefault(ticket_id, at)
    return first


def sla_views(
    *,
    session: Session,
    tickets: Collection[Ticket],
    now: datetime,
    calendar: BusinessCalendar | None = None,
    targets: Mapping[str, SlaTarget] = DEFAULT_TARGETS,
) -> dict[int, SlaView]:
    """Return each ticket's SLA standing at `now` (one query for the page)."""
    calendar = calendar or BusinessCalendar()
    responded = responded_tickets(session=session, ticket_ids=[t.id for t in tickets])
    views: dict[int, SlaView] = {}
    for ticket in tickets:
        if ticket.status not in RUNNING:
            state: QueueSlaState = "paused" if ticket.status == "replied" else "none"
            views[ticket.id] = SlaView(state=state, due=None)
            continue
        first = responded.get(ticket.id)
        if first is not None and first < ticket.created_at:
            first = ticket.created_at
        clock = clock_for(
            calendar, ticket.category, ticket.created_at, targets=targets, first_response_at=first
        )
        # Only obligations still outstanding count: a late first response already given is
        # the report's business, the queue shows what is due now.
        current = clock.resolution_state(now)
        due = clock.resolution_due
        if first is None:
            current = max(current, clock.first_response_state(now), key=_SEVERITY.__getitem__)
            due = clock.first_response_due
        views[ticket.id] = SlaView(state="ok" if current == "met" else current, due=due)
    return views


def sla_views_by_ids(
    *, session: Session, ticket_ids: Collection[int], now: datetime
) -> dict[int, SlaView]:
    """Return the SLA standing of the given tickets (ids the caller already scoped)."""
    if not ticket_ids:
        return {}
    tickets = session.scalars(select(Ticket).where(Ticket.id.in_(list(ticket_ids)))).all()
    return sla_views(session=session, tickets=tickets, now=now)
