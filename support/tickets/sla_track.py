"""The SLA clock kept on a ticket: dues stored at opening, moved by responses and resolution.

`tickets.sla` is the pure clock; this module writes its answers onto the ticket row so the
queue can sort by `sla_due_at` with an index and the periodic check needs no recomputation:
`sla_due_at` is the first-response due until a response is recorded, then the resolution due,
and empty once the ticket is resolved.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from support.calendar import BusinessCalendar
from support.tickets.models import Ticket
from support.tickets.sla import SlaClock, clock_for

# Timeline kinds that are a response to the donor (automatic acknowledgements are not).
RESPONSE_KINDS = frozenset({"reply_sent", "first_response", "phone_response"})


@cache
def business_calendar() -> BusinessCalendar:
    """Return the contact center's calendar (9:00-17:00 JST, holidays and 12/29-1/3 closed)."""
    return BusinessCalendar()


def clock_of(ticket: Ticket, calendar: BusinessCalendar | None = None) -> SlaClock:
    """Return the pure SLA clock of a ticket as it stands."""
    return clock_for(
        calendar or business_calendar(),
        ticket.category,
        ticket.created_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
    )


def running_clock(ticket: Ticket) -> str | None:
    """Return which clock runs now: first_response, resolution, or None once resolved."""
    if ticket.resolved_at is not None:
        return None
    return "first_response" if ticket.first_response_at is None else "resolution"


def _next_due(ticket: Ticket) -> datetime | None:
    clock = running_clock(ticket)
    if clock is None:
        return None
    return ticket.first_response_due_at if clock == "first_response" else ticket.resolution_due_at


def warning_at(ticket: Ticket, calendar: BusinessCalendar | None = None) -> datetime | None:
    """Return when the running clock enters its warning (its last quarter of business time)."""
    clock, due = running_clock(ticket), _next_due(ticket)
    if clock is None or due is None:
        return None
    sla = clock_of(ticket, calendar)
    target = sla.target.first_response if clock == "first_response" else sla.target.resolution
    used = target * (1 - sla.warning_fraction)
    warn = (calendar or business_calendar()).add_business_time(ticket.created_at, used)
    return min(warn, due)


def schedule_alert(ticket: Ticket, calendar: BusinessCalendar | None = None) -> None:
    """Set when the SLA check must next look at the ticket: its warning, then its breach."""
    clock, due = running_clock(ticket), _next_due(ticket)
    alerts = set(ticket.sla_alerts or [])
    if clock is None or due is None or f"{clock}:breached" in alerts:
        ticket.sla_alert_at = None
    elif f"{clock}:warning" in alerts:
        ticket.sla_alert_at = due
    else:
        ticket.sla_alert_at = warning_at(ticket, calendar)


def start(ticket: Ticket, calendar: BusinessCalendar | None = None) -> None:
    """Compute and store the dues from the opening time, category and callback promise."""
    clock = clock_of(ticket, calendar)
    first = clock.first_response_due
    if ticket.callback_due_at is not None and ticket.callback_due_at < first:
        # A callback promised to a caller is a first response due sooner than the target.
        first = ticket.callback_due_at
    ticket.first_response_due_at = first
    ticket.resolution_due_at = clock.resolution_due
    ticket.sla_due_at = _next_due(ticket)
    ticket.sla_state = "ok"
    ticket.sla_alerts = []
    schedule_alert(ticket, calendar)


def responded(ticket: Ticket, at: datetime) -> bool:
    """Record the first response (later ones change nothing); return whether it was the first."""
    if ticket.first_response_at is not None:
        return False
    ticket.first_response_at = at
    ticket.sla_due_at = _next_due(ticket)
    if ticket.sla_state == "warning":
        ticket.sla_state = "ok"
    schedule_alert(ticket)
    return True


def resolved(ticket: Ticket, at: datetime) -> None:
    """Stop both clocks: a resolution also counts as the first response when none was given."""
    if ticket.first_response_at is None:
        ticket.first_response_at = at
    ticket.resolved_at = at
    ticket.sla_due_at = None
    ticket.sla_alert_at = None
    met = ticket.resolution_due_at is None or at <= ticket.resolution_due_at
    ticket.sla_state = "met" if met and ticket.sla_state != "breached" else "breached"


def reopened(ticket: Ticket) -> None:
    """Restart the resolution clock of a reopened ticket against its original due."""
    ticket.resolved_at = None
    ticket.sla_due_at = _next_due(ticket)
    if ticket.sla_state == "met":
        ticket.sla_state = "ok"
    schedule_alert(ticket)


def recategorised(ticket: Ticket, calendar: BusinessCalendar | None = None) -> None:
    """Recompute the dues after a category change (targets differ per category)."""
    alerts, state = list(ticket.sla_alerts or []), ticket.sla_state
    start(ticket, calendar)
    # Alerts raised stay raised: a ticket does not escalate twice for the same clock.
    ticket.sla_alerts = alerts
    ticket.sla_state = state if state == "breached" else "ok"
    if ticket.resolved_at is not None:
        ticket.sla_due_at = None
    schedule_alert(ticket, calendar)
