"""The erasure certificate (消去証明書): what was erased, in counts, never contents, as PDF."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from support.lifecycle.erase import EraseResult
from support.tickets.report_pdf import resolve_font

JST = ZoneInfo("Asia/Tokyo")
# Japanese names of the tables a municipality reads on its certificate; others keep theirs.
TABLE_LABELS = {
    "municipalities": "自治体",
    "suppliers": "返礼品提供事業者",
    "gift_items": "返礼品",
    "donors": "寄附者",
    "donations": "寄附",
    "orders": "注文",
    "tickets": "問い合わせ・苦情",
    "ticket_orders": "問い合わせと注文の関連",
    "ticket_tags": "タグ",
    "ticket_notes": "内部メモ",
    "ticket_events": "対応履歴",
    "ticket_presence": "閲覧中表示",
    "mail_messages": "メール",
    "mail_raw": "メール原本",
    "mail_attachments": "添付ファイル",
    "mail_drafts": "返信下書き",
    "users": "利用者アカウント",
    "auth_sessions": "ログインセッション",
    "audit_events": "監査記録",
    "jobs": "処理待ちジョブ",
    "municipality_notices": "自治体への通知",
    "municipality_reports": "月次報告書",
}


def render_certificate(
    result: EraseResult,
    *,
    municipality_name: str,
    erased_at: datetime,
    export_manifest_sha256: str | None,
    font_path: Path | None = None,
) -> bytes:
    """Return the erasure certificate as PDF bytes."""
    font = resolve_font(font_path)
    title = ParagraphStyle("t", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    body = ParagraphStyle("b", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
    small = ParagraphStyle("s", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
    when = erased_at.astimezone(JST).strftime("%Y年%m月%d日 %H:%M (日本時間)")
    story = [
        Paragraph("個人情報等の消去証明書", title),
        Paragraph(
            escape(
                f"{municipality_name} 御中 (自治体ID: {result.municipality_id})。"
                f"委託契約の終了に伴い、貴自治体から取扱いを委託された個人情報等を含む"
                f"すべての記録を、{when} に当システムから消去したことを証明します。"
                "下表は消去した記録の件数であり、内容は記載していません。"
            ),
            body,
        ),
        Spacer(1, 5 * mm),
    ]
    rows = [["記録の種類", "テーブル", "消去件数"]]
    for table, count in result.counts.items():
        rows.append([TABLE_LABELS.get(table, table), table, f"{count:,}"])
    rows.append(["検索索引の文書", "search index", f"{result.index_documents:,}"])
    cell = [[Paragraph(escape(str(v)), small) for v in row] for row in rows]
    grid = Table(cell, colWidths=[60 * mm, 60 * mm, 30 * mm], repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("ALIGN", (2, 1), (2, -1), "RIGHT"),
            ]
        )
    )
    story += [grid, Spacer(1, 5 * mm)]
    notes = []
    kept = result.kept_context.get("donors", 0)
    if kept:
        notes.append(
            f"他の自治体との契約に基づき当システムが引き続き取り扱う寄附者 {kept} 名については、"
            "寄附者の基本情報のみ保持し、貴自治体に関する寄附・注文・問い合わせ・メールはすべて消去しました。"
        )
    if result.nullified:
        total = sum(result.nullified.values())
        notes.append(f"他の記録から貴自治体の利用者アカウントへの参照 {total} 件を解除しました。")
    notes.append(
        "消去の方法: " + "、".join(result.steps) + "。データベースの空き領域・先行書き込みログ"
        "(WAL)・検索索引のセグメントにも残らないよう書き換えました。"
    )
    notes.append(
        "この消去が及ばない範囲: 消去前に取得済みのバックアップ・スナップショット、"
        "アーカイブ済みの WAL (PostgreSQL)、記憶装置が未上書きの物理ブロック。"
        "これらは保存期間の満了により消滅します。"
    )
    if export_manifest_sha256:
        notes.append(
            f"消去前に返却したエクスポートの manifest.json の SHA-256: {export_manifest_sha256}"
        )
    story += [Paragraph(escape(n), body) for n in notes]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title="個人情報等の消去証明書",
        invariant=True,
    )
    doc.build(story)
    return buffer.getvalue()
