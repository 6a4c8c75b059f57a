"""Render monthly reports and notices as text: HTML and mail bodies (Jinja2) and CSV."""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from support.tickets.reports import LeadTimeStats, MonthlyReport

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CSV_HEADER = (
    "受付番号",
    "受付日時",
    "分類",
    "状況",
    "返礼品提供事業者",
    "返礼品",
    "注文番号",
    "概要",
    "初回対応(営業時間)",
    "解決(営業時間)",
    "即時報告",
)
# A cell starting with one of these is a formula to Excel: a donor's text must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@cache
def environment(root: Path = TEMPLATES) -> Environment:
    """Return the template environment (HTML autoescaped, text not)."""
    env = Environment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        keep_trailing_newline=True,
    )
    env.filters["hours"] = format_hours
    return env


def format_hours(value: float | None) -> str:
    """Return business hours as text, or a dash when there is none."""
    return "—" if value is None else f"{value:.1f}"


def _stats_rows(report: MonthlyReport) -> list[tuple[str, LeadTimeStats]]:
    return [("初回対応", report.first_response), ("解決", report.resolution)]


def render_text(name: str, context: dict[str, Any], root: Path = TEMPLATES) -> str:
    """Render a template under templates/reports/."""
    return environment(root).get_template(f"reports/{name}").render(**context)


def mail_template(name: str, municipality: str | None, root: Path = TEMPLATES) -> Template:
    """Return templates/mail/<municipality>/<name> when it exists, else mail/<name>."""
    candidates = [f"mail/{municipality}/{name}"] if municipality else []
    return environment(root).select_template([*candidates, f"mail/{name}"])


def render_html(report: MonthlyReport, root: Path = TEMPLATES) -> str:
    """Render the report as a standalone HTML page."""
    return render_text("monthly.html.j2", {"r": report, "stats": _stats_rows(report)}, root)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(report: MonthlyReport) -> bytes:
    """Render the complaint list as CSV: UTF-8 with a BOM (so Excel reads it), CRLF lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        writer.writerow(
            _cell(v)
            for v in (
                row.ticket_id,
                row.received_at.strftime("%Y-%m-%d %H:%M"),
                row.category,
                row.status,
                row.supplier,
                row.item,
                row.order_no,
                row.summary,
                format_hours(row.first_response_hours).replace("—", ""),
                format_hours(row.resolution_hours).replace("—", ""),
                "済" if row.notified else "",
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
