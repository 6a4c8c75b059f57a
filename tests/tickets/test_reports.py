"""Monthly reports: only the municipality's own tickets, counts, lead times, no contact data."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.calendar import JST
from support.errors import BadInput
from support.tickets.models import Donor, Order, Ticket
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_redact import redact
from support.tickets.report_render import render_csv, render_html
from support.tickets.reports import ReportMonth, build_monthly_report
from tests.conftest import Database
from tests.factories import add_event, load_demo_world, make_ticket

POLICIES = load_policies(default_policy_dir())


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)  # type: ignore[misc]


def _order(session: Session, municipality_id: str) -> Order:
    return session.scalars(
        select(Order).where(Order.municipality_id == municipality_id).order_by(Order.id)
    ).first()  # type: ignore[return-value]


def _ticket_for(session: Session, municipality_id: str, at: datetime, **kw: object) -> int:
    order = _order(session, municipality_id)
    ticket = make_ticket(
        session,
        municipality_id=municipality_id,
        created_at=at,
        order_id=order.id,
        supplier_id=order.supplier_id,
        donor_id=order.donor_id,
        **kw,  # type: ignore[arg-type]
    )
    return ticket.id


class TestMonth:
    @pytest.mark.parametrize("text", ["2025-13", "2025-1", "25-12", "2025/12", "", "1999-12"])
    def test_refuses_a_malformed_month(self, text: str) -> None:
        with pytest.raises(BadInput):
            ReportMonth.parse(text)

    def test_month_bounds_are_japan_time(self) -> None:
        start, end = ReportMonth.parse("2025-12").bounds()
        assert start == jst(2025, 12, 1)
        assert end == jst(2026, 1, 1)

    def test_previous_month_wraps_the_year(self) -> None:
        assert str(ReportMonth.previous(jst(2026, 1, 5, 9))) == "2025-12"
        # 2026-02-01 00:30 JST is still January in UTC; Japan time decides.
        assert str(ReportMonth.previous(jst(2026, 2, 1, 0, 30))) == "2026-01"


class TestRedaction:
    def test_removes_known_name_and_contact_patterns(self) -> None:
        text = (
            "山田太郎です。電話０３−１２３４−５６７８ taro@example.jp "
            "〒154-7018 東京都世田谷区日の出町2丁目"
        )
        cleaned = redact(text, ["山田 太郎", "taro@example.jp", "03-1234-5678"])
        for leaked in ("山田", "太郎", "1234", "taro@", "154-7018", "世田谷区"):
            assert leaked not in cleaned
        assert "です" in cleaned


class TestMonthlyReport:
    def test_contains_only_the_municipalitys_tickets_of_the_month(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            ise = [
                _ticket_for(s, "ise", jst(2025, 12, 1, 0, 0), category="品質"),
                _ticket_for(s, "ise", jst(2025, 12, 31, 23, 59), category="不着"),
            ]
            others = [
                _ticket_for(s, "yokohama", jst(2025, 12, 10, 10), category="利用券"),
                _ticket_for(s, "chiyoda", jst(2025, 12, 10, 10), category="破損"),
                _ticket_for(s, "shizuoka", jst(2025, 12, 10, 10), category="品質"),
                # Same city, but the month before and after (JST boundaries).
                _ticket_for(s, "ise", jst(2025, 11, 30, 23, 59), category="品質"),
                _ticket_for(s, "ise", jst(2026, 1, 1, 0, 0), category="品質"),
            ]
            s.commit()
            report = build_monthly_report(
                session=s, policy=POLICIES["ise"], month=ReportMonth.parse("2025-12")
            )
        ids = [r.ticket_id for r in report.rows]
        assert ids == ise
        assert not set(ids) & set(others)
        assert dict(report.by_category)["品質"] == 1
        assert dict(report.by_category)["不着"] == 1
        assert dict(report.by_category)["破損"] == 0
        assert dict(report.by_status)["未対応"] == 2
        assert sum(n for _, n, _ in report.by_supplier) == 2

    def test_leaves_out_merged_duplicates(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            keep = _ticket_for(s, "ise", jst(2025, 12, 3, 10))
            dup = make_ticket(s, municipality_id="ise", created_at=jst(2025, 12, 3, 11))
            dup.merged_into_id = keep
            s.commit()
            report = build_monthly_report(
                session=s, policy=POLICIES["ise"], month=ReportMonth.parse("2025-12")
            )
        assert [r.ticket_id for r in report.rows] == [keep]

    def test_lead_times_are_business_hours(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            # Friday 2025-12-05 16:00 JST; reply Monday 10:00 (2 business hours: 16-17, 9-10);
            # closed Tuesday 2025-12-09 10:00 (1 + 8 + 1 = 10 business hours).
            tid = _ticket_for(s, "ise", jst(2025, 12, 5, 16), status="closed")
            t = s.get_one(Ticket, tid)
            add_event(s, t, "reply_sent", jst(2025, 12, 8, 10))
            add_event(s, t, "status", jst(2025, 12, 8, 10), to="replied")
            add_event(s, t, "status", jst(2025, 12, 9, 10), to="closed")
            # Closed without a recorded reply: the resolution is also the first response.
            tid2 = _ticket_for(s, "ise", jst(2025, 12, 10, 9), status="closed")
            t2 = s.get_one(Ticket, tid2)
            add_event(s, t2, "status", jst(2025, 12, 10, 13), to="closed")
            # Still open: no lead time.
            _ticket_for(s, "ise", jst(2025, 12, 11, 9))
            s.commit()
            report = build_monthly_report(
                session=s, policy=POLICIES["ise"], month=ReportMonth.parse("2025-12")
            )
        by_id = {r.ticket_id: r for r in report.rows}
        assert by_id[tid].first_response_hours == 2.0
        assert by_id[tid].resolution_hours == 10.0
        assert by_id[tid2].first_response_hours == 4.0
        assert by_id[tid2].resolution_hours == 4.0
        assert report.first_response.count == 2
        assert report.first_response.median == 3.0
        assert report.resolution.maximum == 10.0
        assert dict(report.by_status)["完了"] == 2

    def test_summaries_and_outputs_carry_no_donor_contact_details(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            order = _order(s, "ise")
            donor = s.get_one(Donor, order.donor_id)
            subject = f"{donor.name}です 連絡先 {donor.phone} {donor.email} 賞味期限切れ"
            _ticket_for(s, "ise", jst(2025, 12, 12, 10), subject=subject)
            s.commit()
            report = build_monthly_report(
                session=s, policy=POLICIES["ise"], month=ReportMonth.parse("2025-12")
            )
            secrets_ = [donor.email, donor.phone, donor.address, *donor.name.split()]
        html = render_html(report)
        text = render_csv(report).decode("utf-8-sig")
        assert "賞味期限切れ" in html and "賞味期限切れ" in text
        assert order.order_no in html  # order numbers are kept (policy default)
        for secret in secrets_:
            assert secret and secret not in html and secret not in text, secret

    def test_order_numbers_can_be_left_out_by_policy(self, database: Database) -> None:
        load_demo_world(database.factory)
        reporting = POLICIES["ise"].reporting.model_copy(update={"order_numbers_in_report": False})
        policy = POLICIES["ise"].model_copy(update={"reporting": reporting})
        with database.factory() as s:
            _ticket_for(s, "ise", jst(2025, 12, 12, 10))
            order_no = _order(s, "ise").order_no
            s.commit()
            report = build_monthly_report(
                session=s, policy=policy, month=ReportMonth.parse("2025-12")
            )
        assert order_no not in render_html(report)
        assert order_no not in render_csv(report).decode("utf-8-sig")

    def test_csv_has_a_bom_crlf_and_neutralised_formulas(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            _ticket_for(s, "ise", jst(2025, 12, 12, 10), subject='=HYPERLINK("x")')
            s.commit()
            report = build_monthly_report(
                session=s, policy=POLICIES["ise"], month=ReportMonth.parse("2025-12")
            )
        data = render_csv(report)
        assert data.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in data
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0][0] == "受付番号"
        assert rows[1][7].startswith("'=")
        assert len(rows) == 2
