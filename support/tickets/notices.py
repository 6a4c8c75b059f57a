"""Immediate notices of serious complaints to the municipality, at most once per ticket.

A ticket is serious for a municipality when its category, or one of its tags, names a kind
the municipality's policy lists in `reporting.serious_categories` (食品安全, 負傷, 個人情報 in
every shipped policy). Food-safety and injury cases are filed under 品質 or 破損 and marked
by a tag (食品安全/食品衛生/食中毒, 負傷/けが/怪我), since they are not categories of their own.

When a ticket is opened with or given such a category or tag, `flag_if_serious` enqueues the
notice job in the same transaction; a periodic sweep catches any path that forgot to call it,
so the notice leaves within the hour either way. The notice row (unique per ticket) is the
at-most-once guard and the audit record; its text carries no donor contact details.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail
from support.calendar import JST
from support.db import utcnow
from support.jobs import Job, enqueue
from support.tickets.models import Donor, GiftItem, Order, Supplier, Ticket, TicketTag
from support.tickets.policy import MunicipalityPolicy, default_policy_dir, load_policies
from support.tickets.report_mail import ReportMailSettings, build_mail, send_once
from support.tickets.report_models import MunicipalityNotice
from support.tickets.report_redact import redact
from support.tickets.report_render import render_text
from support.tickets.timeline import record_event

log = logging.getLogger(__name__)

SERIOUS_NOTICE = "reports.serious_notice"
SERIOUS_SWEEP = "reports.serious_sweep"
# Backoff 10 s, 20 s, ... capped at an hour: ten attempts span about 85 minutes; after that
# the sweep queues the notice again.
NOTICE_ATTEMPTS = 10
# How far back the sweep looks for serious tickets without a notice.
SWEEP_WINDOW = timedelta(days=2)
TAG_ALIASES: Mapping[str, str] = {
    "食品衛生": "食品安全",
    "食中毒": "食品安全",
    "けが": "負傷",
    "ケガ": "負傷",
    "怪我": "負傷",
    "個人情報漏えい": "個人情報",
}
# Serious in at least one policy whatever the configured directory: the hook's cheap filter.
_ALWAYS_CANDIDATES = frozenset({"食品安全", "負傷", "個人情報"})


def serious_kinds(category: str, tags: Iterable[str], policy: MunicipalityPolicy) -> list[str]:
    """Return the serious kinds a ticket falls under in this municipality, sorted."""
    kinds = {category} | {TAG_ALIASES.get(tag, tag) for tag in tags}
    return sorted(kinds & set(policy.reporting.serious_categories))


@cache
def _candidates() -> frozenset[str]:
    shipped = load_policies(default_policy_dir())
    kinds = {k for p in shipped.values() for k in p.reporting.serious_categories}
    return _ALWAYS_CANDIDATES | kinds


def _tags(session: Session, ticket_id: int) -> list[str]:
    return list(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)))


def flag_if_serious(*, session: Session, ticket: Ticket, tags: Iterable[str] | None = None) -> bool:
    """Enqueue the notice job in the caller's transaction when the ticket may be serious."""
    if ticket.municipality_id is None or ticket.merged_into_id is not None:
        return False
    tag_list = list(tags) if tags is not None else _tags(session, ticket.id)
    kinds = {ticket.category} | {TAG_ALIASES.get(t, t) for t in tag_list}
    if not kinds & _candidates():
        return False
    exists = session.scalar(
        select(MunicipalityNotice.id).where(MunicipalityNotice.ticket_id == ticket.id)
    )
    if exists is not None:
        return False
    enqueue(session, SERIOUS_NOTICE, {"ticket_id": ticket.id}, max_attempts=NOTICE_ATTEMPTS)
    return True


def _pending_notice_jobs(session: Session) -> set[int]:
    """Return the tickets whose notice job is queued or running (payloads read in Python)."""
    payloads = session.scalars(
        select(Job.payload).where(Job.kind == SERIOUS_NOTICE, Job.status.in_(("queued", "running")))
    )
    return {int(p["ticket_id"]) for p in payloads if "ticket_id" in p}


def sweep(
    *, session: Session, policies: Mapping[str, MunicipalityPolicy], now: datetime | None = None
) -> int:
    """Enqueue notices for recent serious tickets that have none, and for notices still
    queued whose job gave up (e.g. SMTP down for long); return how many jobs were added."""
    since = (now or utcnow()) - SWEEP_WINDOW
    pending = _pending_notice_jobs(session)
    noticed = select(MunicipalityNotice.ticket_id)
    candidates = session.execute(
        select(Ticket.id, Ticket.municipality_id, Ticket.category)
        .where(
            Ticket.updated_at >= since,
            Ticket.municipality_id.in_(list(policies)),
            Ticket.merged_into_id.is_(None),
            Ticket.id.not_in(noticed),
        )
        .order_by(Ticket.id)
    ).all()
    tags: dict[int, list[str]] = {}
    if candidates:
        for ticket_id, tag in session.execute(
            select(TicketTag.ticket_id, TicketTag.tag)
            .join(Ticket, Ticket.id == TicketTag.ticket_id)
            .where(Ticket.updated_at >= since, Ticket.id.not_in(noticed))
        ):
            tags.setdefault(ticket_id, []).append(tag)
    due = set(
        session.scalars(
            select(MunicipalityNotice.ticket_id).where(MunicipalityNotice.status == "queued")
        )
    )
    for ticket_id, municipality_id, category in candidates:
        policy = policies.get(municipality_id or "")
        if policy is not None and serious_kinds(category, tags.get(ticket_id, ()), policy):
            due.add(ticket_id)
    added = 0
    for ticket_id in sorted(due - pending):
        enqueue(session, SERIOUS_NOTICE, {"ticket_id": ticket_id}, max_attempts=NOTICE_ATTEMPTS)
        added += 1
    return added


def _create(
    session: Session,
    ticket: Ticket,
    kinds: list[str],
    policy: MunicipalityPolicy,
    settings: ReportMailSettings,
) -> MunicipalityNotice:
    row = session.execute(
        select(Supplier.name, GiftItem.name, Order.order_no, Donor.name, Donor.email, Donor.phone)
        .select_from(Ticket)
        .outerjoin(Supplier, Supplier.id == Ticket.supplier_id)
        .outerjoin(Order, Order.id == Ticket.order_id)
        .outerjoin(GiftItem, GiftItem.id == Order.gift_item_id)
        # Donor fields are read only to strip them from the summary; never sent.
        .outerjoin(Donor, Donor.id == Ticket.donor_id)
        .where(Ticket.id == ticket.id)
    ).one()
    supplier, item, order_no, *donor = row
    context = {
        "policy": policy,
        "desk_name": settings.desk_name,
        "ticket_id": ticket.id,
        "received_at": ticket.created_at.astimezone(JST).strftime("%Y-%m-%d %H:%M"),
        "category": ticket.category,
        "kinds": "・".join(kinds),
        "supplier": supplier,
        "item": item,
        "order_no": order_no if policy.reporting.order_numbers_in_report else None,
        "summary": redact(ticket.subject, donor)[:200],
    }
    domain = settings.from_addr.rpartition("@")[2] or "localhost"
    notice = MunicipalityNotice(
        ticket_id=ticket.id,
        municipality_id=policy.municipality,
        kinds=kinds,
        route=policy.reporting.route,
        recipient=", ".join([policy.reporting.contact_email, *policy.reporting.report_cc]),
        subject=render_text("notice.subject.j2", context).strip()[:300],
        body=render_text("notice.txt.j2", context),
        message_id=f"notice-{ticket.id}@{domain}",
        status="queued",
    )
    session.add(notice)
    session.flush()
    record_event(
        session=session,
        ticket_id=ticket.id,
        kind="municipality_notice",
        detail={"notice_id": notice.id, "kinds": kinds, "route": notice.route},
    )
    return notice


def send_serious_notice(
    *,
    session: Session,
    ticket_id: int,
    policies: Mapping[str, MunicipalityPolicy],
    sender: MailSender,
    settings: ReportMailSettings,
) -> str:
    """Notify the municipality of one serious ticket; return sent, skipped, in_doubt, ..."""
    notice = session.scalar(
        select(MunicipalityNotice).where(MunicipalityNotice.ticket_id == ticket_id)
    )
    if notice is None:
        ticket = session.get(Ticket, ticket_id)
        policy = policies.get(ticket.municipality_id or "") if ticket is not None else None
        if ticket is None or policy is None:
            return "skipped"
        kinds = serious_kinds(ticket.category, _tags(session, ticket.id), policy)
        if not kinds:
            return "not_serious"
        notice = _create(session, ticket, kinds, policy, settings)
    row = notice
    recipients = [a.strip() for a in row.recipient.split(",") if a.strip()]
    data = build_mail(
        settings=settings,
        to=recipients,
        subject=row.subject,
        body=row.body,
        message_id=row.message_id,
    )

    def set_status(status: str, error: str | None) -> None:
        row.status = status
        row.error = error
        if status == "sent":
            row.sent_at = utcnow()

    outcome = send_once(
        session=session,
        status=row.status,
        set_status=set_status,
        mail=OutgoingMail(
            envelope_from=settings.from_addr,
            recipients=recipients,
            data=data,
            message_id=row.message_id,
        ),
        sender=sender,
    )
    log.info("serious notice", extra={"ticket_id": ticket_id, "outcome": outcome})
    return outcome
