"""Personal-data access on purpose: reveal with a reason; the trail a municipality inspects."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, TableStyle
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import AuditEvent, RoleName
from support.errors import Forbidden, NotFound
from support.tickets import scope
from support.tickets.models import Donation, Donor, Municipality, Order
from support.tickets.report_pdf import resolve_font

JST = ZoneInfo("Asia/Tokyo")
REVEALABLE = ("name", "kana", "email", "phone", "postal_code", "address")
CSV_HEADER = ["日時", "利用者", "役割", "操作", "対象", "対象ID", "寄附者ID", "接続元", "理由"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_EXPORT = 100_000


def reveal(
    *, session: Session, actor: Actor, donor_id: str, reason: str, fields: Sequence[str]
) -> dict[str, str | None]:
    """Return the asked-for fields of one donor in scope, recording who, why and which."""
    scope.require_donor_reader(actor)
    donor = session.scalar(
        select(Donor).where(Donor.id == donor_id, scope.donor_filter(actor, Donor.id))
    )
    if donor is None:
        raise NotFound()
    wanted = [f for f in REVEALABLE if f in fields] or list(REVEALABLE)
    audit.record(
        session,
        actor,
        action="reveal",
        resource_type="donor",
        resource_id=donor.id,
        donor_id=donor.id,
        municipality_id=actor.municipality_id,
        detail={"reason": reason, "fields": wanted},
    )
    return {"id": donor.id, **{f: getattr(donor, f) for f in wanted}}


def _readable(actor: Actor, municipality_id: str) -> None:
    if actor.role is RoleName.ADMIN:
        return
    if actor.role is RoleName.MUNICIPALITY and actor.municipality_id == municipality_id:
        return
    if actor.role is RoleName.MUNICIPALITY:
        raise NotFound()  # another municipality's trail looks absent
    raise Forbidden()


def municipality_events(
    *,
    session: Session,
    actor: Actor,
    municipality_id: str,
    since: datetime | None,
    until: datetime | None,
) -> Sequence[AuditEvent]:
    """Return the audit events about one municipality or its donors, oldest first (audited)."""
    _readable(actor, municipality_id)
    if session.get(Municipality, municipality_id) is None:
        raise NotFound()
    donors = (
        select(Order.donor_id)
        .where(Order.municipality_id == municipality_id)
        .union(select(Donation.donor_id).where(Donation.municipality_id == municipality_id))
    )
    query = (
        select(AuditEvent)
        .where(or_(AuditEvent.municipality_id == municipality_id, AuditEvent.donor_id.in_(donors)))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .limit(MAX_EXPORT)
    )
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    events = session.scalars(query).all()
    audit.record(
        session,
        actor,
        action="audit.export",
        resource_type="municipality",
        resource_id=municipality_id,
        municipality_id=municipality_id,
        detail={"events": len(events)},
    )
    return events


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(event: AuditEvent) -> list[str]:
    reason = event.detail.get("reason") if isinstance(event.detail, dict) else None
    return [
        event.occurred_at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S"),
        event.actor_username,
        event.actor_role,
        event.action,
        event.resource_type,
        event.resource_id or "",
        event.donor_id or "",
        event.client_ip or "",
        str(reason or ""),
    ]


def events_csv(events: Sequence[AuditEvent]) -> bytes:
    """Render events as CSV: UTF-8 with a BOM and CRLF (Excel), formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for event in events:
        writer.writerow(_cell(v) for v in _row(event))
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def events_pdf(
    events: Sequence[AuditEvent], *, municipality_name: str, font_path: Path | None = None
) -> bytes:
    """Render events as an A4 landscape PDF table with the header repeated on every page."""
    font = resolve_font(font_path)
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=19, spaceAfter=6)
    cell = ParagraphStyle("c", fontName=font, fontSize=7, leading=8.5, wordWrap="CJK")
    rows = [CSV_HEADER, *(_row(e) for e in events)]
    grid = LongTable(
        [[Paragraph(escape(v), cell) for v in row] for row in rows],
        colWidths=[30 * mm, 30 * mm, 20 * mm, 22 * mm, 26 * mm, 26 * mm, 22 * mm, 28 * mm, 60 * mm],
        repeatRows=1,
    )
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
            ]
        )
    )
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title="個人情報アクセス記録",
    ).build(
        [
            Paragraph(
                escape(f"{municipality_name} 個人情報アクセス記録 ({len(events)} 件)"), title
            ),
            grid,
        ]
    )
    return buffer.getvalue()
