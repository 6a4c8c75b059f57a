"""The PDF report renders Japanese: page 1 as PNG is not blank, the font is there, tables break."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from support.calendar import JST
from support.tickets.report_pdf import CID_FONT, render_pdf, resolve_font
from support.tickets.reports import (
    LeadTimeStats,
    MonthlyReport,
    ReportMonth,
    ReportRow,
)
from tests.services.debian import DebianPackageMissing, ensure_installed

IPA_GOTHIC = Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf")

POPPLER_JAPAN1 = Path("/usr/share/poppler/cMap/Adobe-Japan1")


@pytest.fixture(scope="module")
def poppler() -> None:
    """Make sure poppler-utils, its CJK maps (poppler-data) and an IPA font are installed."""
    try:
        ensure_installed("poppler-utils", "pdftoppm")
        # Without poppler-data, poppler cannot map the Adobe-Japan1 CID font to glyphs and
        # the CID fallback reads as an empty page.
        ensure_installed("poppler-data", POPPLER_JAPAN1)
        ensure_installed("fonts-ipafont-gothic", IPA_GOTHIC)
    except DebianPackageMissing as exc:
        pytest.skip(str(exc))


def _report(rows: int, japanese: bool = True) -> MonthlyReport:
    at = datetime(2025, 12, 3, 10, tzinfo=JST)
    return MonthlyReport(
        municipality_id="ise",
        municipality_name="伊勢市",
        month=ReportMonth(2025, 12),
        generated_at=at,
        route="direct",
        report_to="伊勢市 情報戦略局企画調整課",
        by_category=[("品質", rows), ("破損", 0)],
        by_status=[("完了", rows)],
        by_supplier=[("株式会社五十鈴川ファーム", rows, rows)],
        first_response=LeadTimeStats.of([1.5] * rows),
        resolution=LeadTimeStats.of([12.0] * rows),
        notices=0,
        rows=[
            ReportRow(
                ticket_id=i + 1,
                received_at=at,
                category="品質" if japanese else "",
                status="完了" if japanese else "",
                supplier="株式会社五十鈴川ファーム" if japanese else "",
                item="伊勢うどん 6食セット（たれ付き）" if japanese else "",
                order_no=f"ORD-2025-{i:06d}",
                summary="届いたうどんの賞味期限が切れていました" if japanese else "",
                first_response_hours=1.5,
                resolution_hours=12.0,
                notified=False,
            )
            for i in range(rows)
        ],
        order_numbers=True,
    )


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


def _ink(pgm: Path) -> float:
    """Return the share of dark pixels in a binary PGM (P5) written by pdftoppm -gray."""
    data = pgm.read_bytes()
    # Header: P5\n<w> <h>\n<max>\n then one byte per pixel.
    parts = data.split(b"\n", 3)
    pixels = parts[3]
    return sum(1 for b in pixels if b < 128) / len(pixels)


def _page1(pdf: Path, out: Path, fmt: str = "-gray") -> Path:
    _run("pdftoppm", fmt, "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(out))
    return out.with_suffix(".pgm" if fmt == "-gray" else ".png")


class TestPdfWithEmbeddedFont:
    def test_page_one_shows_japanese_with_the_embedded_ipa_font(
        self, poppler: None, tmp_path: Path
    ) -> None:
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(render_pdf(_report(8), font=resolve_font(IPA_GOTHIC)))
        fonts = _run("pdffonts", str(pdf))
        ipa = [line.split() for line in fonts.splitlines() if "IPAGothic" in line]
        assert ipa, fonts
        assert ipa[0][-5] == "yes"  # the emb column: the font travels with the PDF
        text = _run("pdftotext", "-f", "1", "-l", "1", str(pdf), "-")
        assert "伊勢市 苦情・問い合わせ月次報告" in text
        assert "賞味期限が切れていました" in text
        ink = _ink(_page1(pdf, tmp_path / "page"))
        # The same page with the rows' Japanese text left out has clearly less ink: the
        # glyphs are drawn, not skipped.
        blank_pdf = tmp_path / "empty.pdf"
        blank_pdf.write_bytes(render_pdf(_report(8, False), font=resolve_font(IPA_GOTHIC)))
        assert ink > 0.01
        assert ink > _ink(_page1(blank_pdf, tmp_path / "empty")) * 1.1
        # A PNG of page 1, kept in the test's directory for a person to look at.
        assert _page1(pdf, tmp_path / "look", fmt="-png").stat().st_size > 1000

    def test_long_tables_break_across_pages_with_the_header_repeated(
        self, poppler: None, tmp_path: Path
    ) -> None:
        pdf = tmp_path / "long.pdf"
        pdf.write_bytes(render_pdf(_report(150), font=resolve_font(IPA_GOTHIC)))
        info = _run("pdfinfo", str(pdf))
        pages = int(
            next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1]
        )
        assert pages >= 3
        last = _run("pdftotext", "-f", str(pages), "-l", str(pages), str(pdf), "-")
        assert "受付日時" in last  # the header row repeats on every page
        assert "ORD-2025-000149" in last
        assert f"{pages} ページ" in last


class TestPdfDefaultFont:
    def test_without_any_font_file_uses_the_standard_japanese_cid_font(
        self, poppler: None, tmp_path: Path
    ) -> None:
        pdf = tmp_path / "cid.pdf"
        pdf.write_bytes(render_pdf(_report(2), font=resolve_font(None, system=False)))
        assert CID_FONT in _run("pdffonts", str(pdf))
        text = _run("pdftotext", "-f", "1", "-l", "1", str(pdf), "-")
        assert "伊勢市" in text
        # Poppler substitutes an installed Japanese font for the CID font: ink shows.
        assert _ink(_page1(pdf, tmp_path / "cid")) > 0.01


def test_poppler_is_found_after_the_fixture(poppler: None) -> None:
    assert shutil.which("pdftoppm") is not None


class TestPdfMarkup:
    def test_names_with_markup_characters_are_printed_as_written(
        self, poppler: None, tmp_path: Path
    ) -> None:
        from dataclasses import replace

        report = _report(1)
        odd = "A&B <食品> 商店"
        report = replace(
            report,
            rows=[replace(report.rows[0], supplier=odd, summary="<b>太字</b> & 記号")],
            by_supplier=[(odd, 1, 1)],
        )
        pdf = tmp_path / "markup.pdf"
        pdf.write_bytes(render_pdf(report, font=resolve_font(IPA_GOTHIC)))
        text = _run("pdftotext", "-f", "1", "-l", "1", str(pdf), "-")
        assert "A&B <食品> 商店" in text
        assert "<b>太字</b> & 記号" in text
