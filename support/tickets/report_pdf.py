"""Render a monthly report as PDF (reportlab) with a Japanese font.

Font choice, first found wins: the configured TrueType file; an IPA font installed by Debian
(fonts-ipaexfont-gothic, fonts-ipafont-gothic); else the standard Japanese CID font
HeiseiKakuGo-W5 that every PDF reader supports without embedding, so a fresh machine with no
Japanese font at all still produces a valid report. A TrueType font is embedded (subset).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from support.errors import BadInput
from support.tickets.report_render import format_hours
from support.tickets.reports import MonthlyReport

CID_FONT = "HeiseiKakuGo-W5"
SYSTEM_FONTS = (
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    Path("/usr/share/fonts/truetype/ipafont-gothic/ipag.ttf"),
)


@cache
def _register_ttf(path: Path) -> str:
    name = f"ReportJP-{path.stem}"
    try:
        pdfmetrics.registerFont(TTFont(name, str(path)))
    except Exception as exc:  # reportlab raises its own TTFError and OSError alike
        raise BadInput(f"PDFのフォントを読み込めません: {path.name}: {exc}") from exc
    return name


@cache
def _register_cid() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def resolve_font(configured: Path | None = None, *, system: bool = True) -> str:
    """Register and return the font name to use (see the module docstring for the order)."""
    if configured is not None:
        if not configured.is_file():
            raise BadInput(f"PDFのフォントファイルがありません: {configured}")
        return _register_ttf(configured.resolve())
    if system:
        for path in SYSTEM_FONTS:
            if path.is_file():
                return _register_ttf(path)
    return _register_cid()


def _styles(font: str) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    title = ParagraphStyle("title", fontName=font, fontSize=15, leading=20, spaceAfter=4)
    heading = ParagraphStyle("h", fontName=font, fontSize=11, leading=15, spaceBefore=8)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=12)
    # wordWrap="CJK" breaks Japanese between any two characters, as Japanese is typeset.
    cell = ParagraphStyle("cell", fontName=font, fontSize=7, leading=8.5, wordWrap="CJK")
    return title, heading, body, cell


def _grid(font: str, size: float = 8) -> TableStyle:
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), font, size),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )


def _small_table(font: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table([header, *rows], hAlign="LEFT", repeatRows=1)
    style = _grid(font)
    style.add("ALIGN", (1, 1), (-1, -1), "RIGHT")
    table.setStyle(style)
    return table


def _footer(font: str, title: str):  # type: ignore[no-untyped-def]
    def draw(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(12 * mm, 7 * mm, title)
        canvas.drawRightString(doc.pagesize[0] - 12 * mm, 7 * mm, f"{doc.page} ページ")
        canvas.restoreState()

    return draw


def render_pdf(report: MonthlyReport, *, font: str | None = None) -> bytes:
    """Render the report as A4 landscape PDF; the complaint table breaks across pages."""
    font = font or resolve_font()
    title_style, heading, body, cell = _styles(font)
    r = report
    title = f"{r.municipality_name} 苦情・問い合わせ月次報告（{r.month.label}）"
    story: list[object] = [
        Paragraph(_escape(title), title_style),
        Paragraph(
            f"報告先: {_escape(r.report_to)}（{r.route_label}）<br/>"
            f"作成日時: {r.generated_at:%Y-%m-%d %H:%M}（日本時間）<br/>"
            f"対象: {r.month.label}に受け付けた案件 {r.total}件（統合された重複を除く。"
            f"状況は作成時点）　うち即時報告済み: {r.notices}件",
            body,
        ),
        Spacer(1, 3 * mm),
    ]
    counts = [
        _small_table(font, ["分類", "件数"], [[c, str(n)] for c, n in r.by_category]),
        _small_table(font, ["状況", "件数"], [[s, str(n)] for s, n in r.by_status]),
        _small_table(
            font,
            ["対応時間（営業時間）", "件数", "中央値", "平均", "最大"],
            [
                [
                    name,
                    str(s.count),
                    format_hours(s.median),
                    format_hours(s.mean),
                    format_hours(s.maximum),
                ]
                for name, s in (("初回対応", r.first_response), ("解決", r.resolution))
            ],
        ),
    ]
    side = Table([counts], hAlign="LEFT", style=[("VALIGN", (0, 0), (-1, -1), "TOP")])
    story += [Paragraph("件数と対応時間", heading), side]
    story.append(
        Paragraph(
            "対応時間は営業時間（平日9:00〜17:00、祝日・12/29〜1/3を除く）で数えています。",
            body,
        )
    )
    story.append(Paragraph("返礼品提供事業者別件数", heading))
    supplier_rows = [[Paragraph(_escape(s), cell), str(n), str(d)] for s, n, d in r.by_supplier]
    suppliers = LongTable(
        [["事業者", "件数", "うち完了"], *(supplier_rows or [["該当なし", "", ""]])],
        colWidths=[120 * mm, 20 * mm, 20 * mm],
        hAlign="LEFT",
        repeatRows=1,
    )
    suppliers.setStyle(_grid(font))
    story.append(suppliers)
    story.append(
        Paragraph("案件一覧（寄附者の氏名・住所・電話番号・メールアドレスは記載しません）", heading)
    )
    story += _complaints(r, font, cell)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=12 * mm,
        title=title,
        author="support",
    )
    footer = _footer(font, title)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


# Rows per table: reportlab re-measures the rest of a table at every page break, so one table
# of 10,000 rows costs quadratic time; chunks keep it linear (a chunk repeats the header).
CHUNK_ROWS = 250


def _complaints(r: MonthlyReport, font: str, cell: ParagraphStyle) -> list[LongTable]:
    header = ["番号", "受付日時", "分類", "状況", "事業者", "返礼品"]
    widths = [14, 24, 16, 14, 38, 40]
    if r.order_numbers:
        header.append("注文番号")
        widths.append(26)
    header += ["概要", "初回(h)", "解決(h)", "即時報告"]
    widths += [0, 13, 13, 13]
    widths[header.index("概要")] = 277 - sum(widths)
    lines: list[list[object]] = []
    for row in r.rows:
        line: list[object] = [
            str(row.ticket_id),
            f"{row.received_at:%m/%d %H:%M}",
            row.category,
            row.status,
            Paragraph(_escape(row.supplier), cell),
            Paragraph(_escape(row.item or ""), cell),
        ]
        if r.order_numbers:
            line.append(row.order_no or "")
        line += [
            Paragraph(_escape(row.summary), cell),
            format_hours(row.first_response_hours),
            format_hours(row.resolution_hours),
            "済" if row.notified else "",
        ]
        lines.append(line)
    if not lines:
        lines.append(["該当する案件はありません。", *[""] * (len(header) - 1)])
    style = _grid(font, 7)
    style.add("ALIGN", (-3, 1), (-2, -1), "RIGHT")
    tables = []
    for start in range(0, len(lines), CHUNK_ROWS):
        table = LongTable(
            [list(header), *lines[start : start + CHUNK_ROWS]],
            colWidths=[w * mm for w in widths],
            repeatRows=1,
        )
        table.setStyle(style)
        tables.append(table)
    return tables


def _escape(text: str) -> str:
    """Escape text for a reportlab Paragraph (it reads a small XML markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
