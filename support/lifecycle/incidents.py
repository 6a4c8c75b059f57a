"""Personal-data incidents (漏えい等事故): open, find who and what leaked, notify, report, chase.

Deadlines follow the practice of the Personal Information Protection Commission (個人情報保護
委員会) for a reportable leak: the entrusting municipality is told at once (our contracts:
「速やかに報告」), the preliminary report (速報) is due "promptly", in practice within 3 days of
discovery (the Commission's guideline says 概ね3〜5日以内; we take the short end), and the
final report (確報) within 30 days (60 days when the leak came from an act with an unlawful
purpose, such as an intrusion).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.db import utcnow
from support.errors import BadInput, Conflict, Forbidden, NotFound
from support.jobs import enqueue
from support.lifecycle.models import Incident, IncidentEvent, IncidentItem, IncidentNotice
from support.mail.models import MailMessage, MailRaw
from support.mail.parsing import parse_message
from support.tickets.models import Donation, Donor, Municipality, Order, Ticket
from support.tickets.policy import MunicipalityPolicy

SEND_NOTICE = "privacy.incident_notice"
CHECK_DEADLINES = "privacy.incident_deadlines"
PRELIM_DAYS = 3
FINAL_DAYS = 30
FINAL_DAYS_UNLAWFUL = 60
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def deadlines(discovered_at: datetime, *, unlawful: bool = False) -> tuple[datetime, datetime]:
    """Return (速報 due, 確報 due) for an incident discovered at that time."""
    final = FINAL_DAYS_UNLAWFUL if unlawful else FINAL_DAYS
    return discovered_at + timedelta(days=PRELIM_DAYS), discovered_at + timedelta(days=final)


def _fold(text: str) -> str:
    return re.sub(r"[\s\-‐－ー―]", "", unicodedata.normalize("NFKC", text)).casefold()


@dataclass(frozen=True)
class Affected:
    """A donor found in leaked data, and which of their data items were in it."""

    donor_id: str
    data_items: list[str]


def find_affected(session: Session, text: str, *, hint_donor: str | None = None) -> list[Affected]:
    """Return the donors whose personal data appears in `text`, with the items found."""
    folded = _fold(text)
    emails = {e.lower() for e in _EMAIL.findall(text)}
    words = {w for w in re.split(r"[^\w\-]+", unicodedata.normalize("NFKC", text)) if len(w) >= 6}
    order_donors = set(
        session.scalars(select(Order.donor_id).where(Order.order_no.in_(words)))
    ) | set(session.scalars(select(Donation.donor_id).where(Donation.donation_no.in_(words))))
    conditions: list[ColumnElement[bool]] = [Donor.id.in_(order_donors)]
    if emails:
        conditions.append(Donor.email.in_(emails))
    if hint_donor:
        conditions.append(Donor.id == hint_donor)
    found: list[Affected] = []
    for donor in session.scalars(select(Donor).where(or_(*conditions)).order_by(Donor.id)):
        items = []
        for label, value in (
            ("氏名", donor.name),
            ("フリガナ", donor.kana),
            ("メールアドレス", donor.email),
            ("電話番号", donor.phone),
            ("郵便番号", donor.postal_code),
            ("住所", donor.address),
        ):
            if value and _fold(value) in folded:
                items.append(label)
        numbers = session.scalars(select(Order.order_no).where(Order.donor_id == donor.id)).all()
        if any(_fold(n) in folded for n in numbers):
            items.append("注文番号")
        donations = session.scalars(
            select(Donation.donation_no).where(Donation.donor_id == donor.id)
        ).all()
        if any(_fold(n) in folded for n in donations):
            items.append("寄附番号")
        if items:
            found.append(Affected(donor.id, items))
    return found


def _event(
    session: Session, incident: Incident, actor: Actor | None, what: str, **detail: object
) -> None:
    session.add(
        IncidentEvent(
            incident_id=incident.id,
            actor_id=actor.user_id if actor else None,
            kind=what,
            detail=dict(detail),
        )
    )


def _require_opener(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden()


def open_incident(
    *,
    session: Session,
    actor: Actor,
    municipality_id: str,
    title: str,
    cause: str,
    kind: str = "other",
    occurred_at: datetime | None = None,
    unlawful: bool = False,
    source_message_id: int | None = None,
) -> Incident:
    """Open an incident and queue the immediate notice to the municipality, in one transaction."""
    _require_opener(actor)
    if session.get(Municipality, municipality_id) is None:
        raise BadInput(f"不明な自治体です: {municipality_id[:40]}")
    now = utcnow()
    prelim, final = deadlines(now, unlawful=unlawful)
    incident = Incident(
        municipality_id=municipality_id,
        kind=kind,
        title=title,
        cause=cause,
        status="open",
        source_message_id=source_message_id,
        occurred_at=occurred_at,
        discovered_at=now,
        prelim_due_at=prelim,
        final_due_at=final,
        created_by=actor.user_id,
    )
    session.add(incident)
    session.flush()
    _event(session, incident, actor, "opened", incident_kind=kind)
    enqueue(session, SEND_NOTICE, {"incident_id": incident.id, "kind": "notice"}, max_attempts=10)
    audit.record(
        session,
        actor,
        action="incident.open",
        resource_type="incident",
        resource_id=str(incident.id),
        municipality_id=municipality_id,
    )
    return incident


def incident_from_misdirected_mail(
    *, session: Session, actor: Actor, message_id: int, cause: str, wrong_recipients: Sequence[str]
) -> Incident:
    """Mark a sent mail misdirected and open its incident with the donors and items it exposed."""
    _require_opener(actor)
    message = session.get(MailMessage, message_id)
    if message is None or message.direction != "outbound":
        raise NotFound()
    if message.send_status not in ("sent", "in_doubt"):
        raise Conflict("送信されていないメールは誤送信として扱えません")
    already = session.scalar(select(Incident.id).where(Incident.source_message_id == message.id))
    if already is not None:
        raise Conflict("このメールの事故はすでに登録されています", incident_id=already)
    ticket = session.get_one(Ticket, message.ticket_id)
    if ticket.municipality_id is None:
        raise BadInput("自治体が決まっていない問い合わせのメールです")
    raw = session.get(MailRaw, message.id)
    parts = [message.subject or "", message.text or "", " ".join(message.to_addrs)]
    attachments: list[str] = []
    if raw is not None:
        parsed = parse_message(raw.data)
        for attachment in parsed.attachments:
            attachments.append(attachment.filename)
            if attachment.content_type.startswith("text/"):
                parts.append(attachment.data.decode("utf-8", errors="replace"))
    incident = open_incident(
        session=session,
        actor=actor,
        municipality_id=ticket.municipality_id,
        title=f"メール誤送信 (問い合わせ #{ticket.id})",
        cause=cause,
        kind="misdirected_mail",
        occurred_at=message.sent_at or message.received_at,
        source_message_id=message.id,
    )
    affected = find_affected(session, "\n".join(parts), hint_donor=ticket.donor_id)
    for item in affected:
        data_items = [*item.data_items, *(f"添付ファイル: {name}" for name in attachments)]
        session.add(
            IncidentItem(
                incident_id=incident.id,
                donor_id=item.donor_id,
                data_items=data_items,
                found_in=f"mail_messages:{message.id}",
            )
        )
    _event(
        session,
        incident,
        actor,
        "misdirected_mail",
        message_id=message.id,
        wrong_recipients=len(wrong_recipients),
        affected=len(affected),
    )
    return incident


def _visible(actor: Actor, incident: Incident | None) -> Incident:
    if incident is None:
        raise NotFound()
    if actor.is_staff:
        return incident
    if actor.municipality_id and actor.municipality_id == incident.municipality_id:
        return incident
    raise NotFound()


def get_incident(*, session: Session, actor: Actor, incident_id: int) -> Incident:
    """Return one incident the actor may see (municipality users: their own; audited)."""
    if not (actor.is_staff or actor.municipality_id):
        raise Forbidden()
    incident = _visible(actor, session.get(Incident, incident_id))
    audit.record(
        session,
        actor,
        action="read",
        resource_type="incident",
        resource_id=str(incident.id),
        municipality_id=incident.municipality_id,
    )
    return incident


def list_incidents(*, session: Session, actor: Actor) -> Sequence[Incident]:
    """Return the incidents the actor may see, newest first."""
    query = select(Incident).order_by(Incident.id.desc()).limit(500)
    if not actor.is_staff:
        if not actor.municipality_id:
            raise Forbidden()
        query = query.where(Incident.municipality_id == actor.municipality_id)
    return session.scalars(query).all()


def items_and_events(
    session: Session, incident: Incident
) -> tuple[Sequence[IncidentItem], Sequence[IncidentEvent]]:
    """Return the affected items and the timeline of an incident."""
    items = session.scalars(
        select(IncidentItem)
        .where(IncidentItem.incident_id == incident.id)
        .order_by(IncidentItem.id)
    ).all()
    events = session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident.id)
        .order_by(IncidentEvent.occurred_at, IncidentEvent.id)
    ).all()
    return items, events


def record_report(
    *, session: Session, actor: Actor, incident_id: int, kind: str, measures: str | None
) -> Incident:
    """Record that the 速報 (prelim) or 確報 (final) was submitted; the final one closes it."""
    _require_opener(actor)
    incident = _visible(actor, session.get(Incident, incident_id))
    now = utcnow()
    if kind == "prelim":
        if incident.prelim_reported_at is not None:
            raise Conflict("速報はすでに提出済みです")
        incident.prelim_reported_at = now
    elif kind == "final":
        if incident.final_reported_at is not None:
            raise Conflict("確報はすでに提出済みです")
        incident.final_reported_at = now
        incident.status = "closed"
    else:
        raise BadInput("kind は prelim か final です")
    if measures:
        incident.measures = measures
    _event(session, incident, actor, f"{kind}_reported")
    return incident


def overdue(incident: Incident, now: datetime | None = None) -> list[str]:
    """Return which reports of an incident are past due ("prelim", "final")."""
    now = now or utcnow()
    late = []
    if incident.prelim_reported_at is None and incident.prelim_due_at <= now:
        late.append("prelim")
    if incident.final_reported_at is None and incident.final_due_at <= now:
        late.append("final")
    return late


def check_deadlines(*, session: Session, now: datetime | None = None) -> int:
    """Queue one escalation mail per overdue report; return how many were queued."""
    now = now or utcnow()
    queued = 0
    incidents = session.scalars(select(Incident).where(Incident.status == "open")).all()
    for incident in incidents:
        for kind in overdue(incident, now):
            notice_kind = f"escalation_{kind}"
            exists = session.scalar(
                select(IncidentNotice.id).where(
                    IncidentNotice.incident_id == incident.id, IncidentNotice.kind == notice_kind
                )
            )
            if exists is None:
                _event(session, incident, None, "escalated", report=kind)
                enqueue(
                    session,
                    SEND_NOTICE,
                    {"incident_id": incident.id, "kind": notice_kind},
                    max_attempts=10,
                )
                # The row is made by the job; a second sweep before it runs must not queue twice.
                session.add(
                    IncidentNotice(
                        incident_id=incident.id,
                        kind=notice_kind,
                        recipient="",
                        subject="",
                        body="",
                        message_id="",
                        status="pending",
                    )
                )
                queued += 1
    session.flush()
    return queued


def policy_contact(policies: Mapping[str, MunicipalityPolicy], municipality_id: str) -> list[str]:
    """Return the municipality's report contact addresses from its policy."""
    policy = policies.get(municipality_id)
    if policy is None:
        return []
    return [policy.reporting.contact_email, *policy.reporting.report_cc]
