"""The written incident report (事故報告書) as PDF: timeline, cause, scope, measures, deadlines."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from support.lifecycle.incident_mail import KIND_LABELS
from support.lifecycle.models import Incident, IncidentEvent, IncidentItem
from support.tickets.report_pdf import resolve_font

JST = ZoneInfo("Asia/Tokyo")
EVENT_LABELS = {
    "opened": "事故を登録",
    "misdirected_mail": "誤送信メールを特定し、影響範囲を抽出",
    "escalated": "報告期限の超過を通知",
    "prelim_reported": "速報を提出",
    "final_reported": "確報を提出",
}


def _when(value: object) -> str:
    from datetime import datetime

    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "—"


def render_incident_report(
    incident: Incident,
    *,
    municipality_name: str,
    items: Sequence[IncidentItem],
    donor_names: dict[str, str],
    events: Sequence[IncidentEvent],
    font_path: Path | None = None,
) -> bytes:
    """Return the incident report as PDF bytes."""
    font = resolve_font(font_path)
    title = ParagraphStyle("t", fontName=font, fontSize=15, leading=20, spaceAfter=4)
    heading = ParagraphStyle("h", fontName=font, fontSize=11, leading=15, spaceBefore=8)
    body = ParagraphStyle("b", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    cell = ParagraphStyle("c", fontName=font, fontSize=8, leading=10, wordWrap="CJK")

    def table(rows: list[list[str]], widths: list[float]) -> LongTable:
        grid = LongTable(
            [[Paragraph(escape(v), cell) for v in row] for row in rows],
            colWidths=widths,
            repeatRows=1,
        )
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return grid

    def para(text: str) -> Paragraph:
        return Paragraph(escape(text or "(未記入)").replace("\n", "<br/>"), body)

    story = [
        Paragraph("個人情報の漏えい等事故 報告書", title),
        para(
            f"{municipality_name} 御中　事故番号 {incident.id}　種別: "
            f"{KIND_LABELS.get(incident.kind, incident.kind)}　状態: "
            f"{'対応中' if incident.status == 'open' else '完了'}"
        ),
        Paragraph("1. 概要", heading),
        para(incident.title),
        Paragraph("2. 経緯 (時系列)", heading),
        table(
            [["日時", "内容"]]
            + [["発生", _when(incident.occurred_at)], ["発覚", _when(incident.discovered_at)]]
            + [[_when(e.occurred_at), EVENT_LABELS.get(e.kind, e.kind)] for e in events],
            [40 * mm, 130 * mm],
        ),
        Paragraph("3. 原因", heading),
        para(incident.cause),
        Paragraph("4. 影響範囲 (漏えいした寄附者と項目)", heading),
        para(f"影響を受けた寄附者: {len(items)} 名"),
        table(
            [["寄附者ID", "氏名", "漏えいした項目", "検出元"]]
            + [
                [
                    item.donor_id or "(不明)",
                    donor_names.get(item.donor_id or "", "(不明)"),
                    "、".join(item.data_items),
                    item.found_in,
                ]
                for item in items
            ],
            [25 * mm, 35 * mm, 80 * mm, 30 * mm],
        ),
        Paragraph("5. 再発防止策・対応", heading),
        para(incident.measures),
        Paragraph("6. 報告期限", heading),
        table(
            [
                ["報告", "期限", "提出"],
                ["速報", _when(incident.prelim_due_at), _when(incident.prelim_reported_at)],
                ["確報", _when(incident.final_due_at), _when(incident.final_reported_at)],
            ],
            [40 * mm, 65 * mm, 65 * mm],
        ),
        Spacer(1, 4 * mm),
        para("本報告書には寄附者の個人情報が含まれます。取扱いにご注意ください。"),
    ]
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"事故報告書 {incident.id}",
    ).build(story)
    return buffer.getvalue()
