"""Monthly reports to a municipality: counts, lead times and complaint summaries.

What a report covers, so that every figure can be explained to the city:
- the tickets of that one municipality received in the month (JST), duplicates merged into
  another ticket left out; statuses are as of the moment the report is generated;
- lead times are business hours of the contact center (BusinessCalendar: 9:00-17:00 JST on
  weekdays, without public holidays and 12/29-1/3), from the ticket's creation to the first
  response (a reply sent, or the ticket set to 返信済; a resolution without an earlier response
  counts as the response) and to the resolution (the last time it was set to 完了);
- each complaint is summarised without donor contact details: no name, address, phone or
  e-mail. The summary is the subject with the donor's own name, e-mail and phone and anything
  shaped like an address, phone number, postal code or e-mail removed. The portal's order
  number is kept (policy key `order_numbers_in_report`): the municipality is the controller of
  the donation records, needs the number to find the case, and it carries no contact detail.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from support.calendar import JST, BusinessCalendar
from support.db import utcnow
from support.errors import BadInput
from support.tickets.models import (
    Donor,
    GiftItem,
    Municipality,
    Order,
    Supplier,
    Ticket,
    TicketEvent,
)
from support.tickets.policy import CATEGORIES, Category, MunicipalityPolicy
from support.tickets.report_models import MunicipalityNotice
from support.tickets.report_redact import redact
from support.tickets.sla_track import RESPONSE_KINDS
from support.tickets.status import STATUS_LABELS, TicketStatus

CATEGORY_ORDER: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
SUMMARY_LENGTH = 80
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
NO_SUPPLIER = "（事業者なし）"


@dataclass(frozen=True, order=True)
class ReportMonth:
    """A calendar month in Japan time."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> ReportMonth:
        """Read `YYYY-MM`; anything else is bad input."""
        match = _MONTH.match(text.strip())
        if match is None:
            raise BadInput(f"月は YYYY-MM 形式で指定してください: {text[:20]}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 2000 <= year <= 2099:
            raise BadInput(f"対象外の年です: {year}")
        return cls(year, month)

    @classmethod
    def previous(cls, now: datetime) -> ReportMonth:
        """Return the month before the one `now` falls in (Japan time)."""
        local = now.astimezone(JST)
        if local.month == 1:
            return cls(local.year - 1, 12)
        return cls(local.year, local.month - 1)

    def __str__(self) -> str:
        """Return `YYYY-MM`."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """Return the Japanese label, e.g. 2025年12月."""
        return f"{self.year}年{self.month}月"

    def bounds(self) -> tuple[datetime, datetime]:
        """Return [start, end) of the month as UTC instants."""
        start = datetime(self.year, self.month, 1, tzinfo=JST)
        nxt = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=JST)
        return start.astimezone(UTC), nxt.astimezone(UTC)


@dataclass(frozen=True)
class LeadTimeStats:
    """Median, mean and maximum of lead times in business hours (None when nothing to count)."""

    count: int
    median: float | None
    mean: float | None
    maximum: float | None

    @classmethod
    def of(cls, hours: Sequence[float]) -> LeadTimeStats:
        """Summarise a list of business-hour durations."""
        if not hours:
            return cls(0, None, None, None)
        return cls(
            len(hours),
            round(statistics.median(hours), 1),
            round(statistics.fmean(hours), 1),
            round(max(hours), 1),
        )


@dataclass(frozen=True)
class ReportRow:
    """One complaint, summarised without donor contact details."""

    ticket_id: int
    received_at: datetime  # JST
    category: str
    status: str  # Japanese label
    supplier: str
    item: str | None
    order_no: str | None
    summary: str
    first_response_hours: float | None
    resolution_hours: float | None
    notified: bool


@dataclass(frozen=True)
class MonthlyReport:
    """Everything one municipality's monthly report says."""

    municipality_id: str
    municipality_name: str
    month: ReportMonth
    generated_at: datetime  # JST
    route: str
    report_to: str
    by_category: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    by_supplier: list[tuple[str, int, int]]  # name, received, of which 完了
    first_response: LeadTimeStats
    resolution: LeadTimeStats
    notices: int
    rows: list[ReportRow]
    order_numbers: bool

    @property
    def total(self) -> int:
        """Return how many tickets the report covers."""
        return len(self.rows)

    @property
    def route_label(self) -> str:
        """Return how the report reaches the municipality, in Japanese."""
        return "直接報告" if self.route == "direct" else "中間事業者を通じて報告"


def policy_for(
    policies: Mapping[str, MunicipalityPolicy], municipality_id: str
) -> MunicipalityPolicy:
    """Return the policy of a municipality; an unknown id is bad input."""
    policy = policies.get(municipality_id)
    if policy is None:
        raise BadInput(f"不明な自治体です: {municipality_id[:40]}", allowed=sorted(policies))
    return policy


def _in_month(municipality_id: str, month: ReportMonth) -> ColumnElement[bool]:
    start, end = month.bounds()
    return and_(
        Ticket.municipality_id == municipality_id,
        Ticket.created_at >= start,
        Ticket.created_at < end,
        Ticket.merged_into_id.is_(None),
    )


def _milestones(
    session: Session, where: ColumnElement[bool]
) -> tuple[dict[int, datetime], dict[int, datetime]]:
    """Return each ticket's first response and last closing instants."""
    first: dict[int, datetime] = {}
    closed: dict[int, datetime] = {}
    rows = session.execute(
        select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.detail, TicketEvent.occurred_at)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(where, TicketEvent.kind.in_(["status", *RESPONSE_KINDS]))
        .order_by(TicketEvent.occurred_at, TicketEvent.id)
    ).all()
    for ticket_id, kind, detail, at in rows:
        to = (detail or {}).get("to") if kind == "status" else None
        if kind in RESPONSE_KINDS or to == TicketStatus.REPLIED.value:
            first.setdefault(ticket_id, at)
        if to == TicketStatus.CLOSED.value:
            closed[ticket_id] = at
    return first, closed


def _hours(calendar: BusinessCalendar, start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    return round(calendar.business_time_between(start, end) / timedelta(hours=1), 1)


def build_monthly_report(
    *,
    session: Session,
    policy: MunicipalityPolicy,
    month: ReportMonth,
    calendar: BusinessCalendar | None = None,
    now: datetime | None = None,
) -> MonthlyReport:
    """Gather one municipality's report for one month (only that municipality's tickets)."""
    calendar = calendar or BusinessCalendar()
    municipality = session.get(Municipality, policy.municipality)
    if municipality is None:
        raise BadInput(f"自治体が登録されていません: {policy.municipality}")
    where = _in_month(municipality.id, month)
    tickets = session.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.category,
            Ticket.status,
            Ticket.created_at,
            Supplier.name,
            Order.order_no,
            GiftItem.name,
            Donor.name,
            Donor.kana,
            Donor.email,
            Donor.phone,
        )
        .outerjoin(Supplier, Supplier.id == Ticket.supplier_id)
        .outerjoin(Order, Order.id == Ticket.order_id)
        .outerjoin(GiftItem, GiftItem.id == Order.gift_item_id)
        # Donor fields are read only to strip them from the summaries; they are never output.
        .outerjoin(Donor, Donor.id == Ticket.donor_id)
        .where(where)
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    first, closed = _milestones(session, where)
    notified = set(
        session.scalars(
            select(MunicipalityNotice.ticket_id)
            .join(Ticket, Ticket.id == MunicipalityNotice.ticket_id)
            .where(where, MunicipalityNotice.municipality_id == municipality.id)
        )
    )
    rows: list[ReportRow] = []
    for tid, subject, category, status, created, supplier, order_no, item, *donor in tickets:
        resolved = closed.get(tid) if status == TicketStatus.CLOSED.value else None
        responded = first.get(tid, resolved)
        rows.append(
            ReportRow(
                ticket_id=tid,
                received_at=created.astimezone(JST),
                category=category,
                status=_status_label(status),
                supplier=supplier or NO_SUPPLIER,
                item=item,
                order_no=order_no if policy.reporting.order_numbers_in_report else None,
                summary=redact(subject, donor)[:SUMMARY_LENGTH],
                first_response_hours=_hours(calendar, created, responded),
                resolution_hours=_hours(calendar, created, resolved),
                notified=tid in notified,
            )
        )
    return _assemble(policy, municipality.name, month, rows, now or utcnow())


def _status_label(status: str) -> str:
    try:
        return STATUS_LABELS[TicketStatus(status)]
    except ValueError:
        return status


def _assemble(
    policy: MunicipalityPolicy,
    name: str,
    month: ReportMonth,
    rows: list[ReportRow],
    now: datetime,
) -> MonthlyReport:
    categories = Counter(r.category for r in rows)
    # Every category is listed (zeros too) so months compare line by line; unknown ones last.
    by_category = [(c, categories.get(c, 0)) for c in CATEGORY_ORDER]
    by_category += sorted((c, n) for c, n in categories.items() if c not in CATEGORIES)
    statuses = Counter(r.status for r in rows)
    by_status = [(label, statuses.get(label, 0)) for label in STATUS_LABELS.values()]
    by_status += sorted((s, n) for s, n in statuses.items() if s not in STATUS_LABELS.values())
    suppliers: dict[str, list[int]] = {}
    done = STATUS_LABELS[TicketStatus.CLOSED]
    for r in rows:
        entry = suppliers.setdefault(r.supplier, [0, 0])
        entry[0] += 1
        entry[1] += r.status == done
    by_supplier = sorted(
        ((s, n, c) for s, (n, c) in suppliers.items()), key=lambda x: (-x[1], x[0])
    )
    return MonthlyReport(
        municipality_id=policy.municipality,
        municipality_name=name,
        month=month,
        generated_at=now.astimezone(JST),
        route=policy.reporting.route,
        report_to=policy.reporting.report_to,
        by_category=by_category,
        by_status=by_status,
        by_supplier=by_supplier,
        first_response=LeadTimeStats.of(
            [r.first_response_hours for r in rows if r.first_response_hours is not None]
        ),
        resolution=LeadTimeStats.of(
            [r.resolution_hours for r in rows if r.resolution_hours is not None]
        ),
        notices=sum(r.notified for r in rows),
        rows=rows,
        order_numbers=policy.reporting.order_numbers_in_report,
    )


def as_dict(report: MonthlyReport) -> dict[str, Any]:
    """Return the report's figures (no rows) for JSON listings."""
    return {
        "municipality_id": report.municipality_id,
        "month": str(report.month),
        "total": report.total,
        "notices": report.notices,
        "by_category": dict(report.by_category),
        "by_status": dict(report.by_status),
    }
