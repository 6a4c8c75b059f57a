"""The queue's SLA states: the SQL filter agrees with the per-row view on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from support.calendar import JST, BusinessCalendar
from support.tickets import sla_queue
from support.tickets.models import Municipality, Ticket
from tests.conftest import Database

NOW = datetime(2026, 3, 4, 11, 0, tzinfo=JST)  # a Wednesday, open hours


class TestBusinessStartBefore:
    def test_walks_back_over_nights_and_weekends(self) -> None:
        calendar = BusinessCalendar()
        monday = datetime(2026, 3, 2, 10, 0, tzinfo=JST)
        start = sla_queue.business_start_before(calendar, monday, timedelta(hours=3))
        assert start == datetime(2026, 2, 27, 15, 0, tzinfo=JST).astimezone(UTC)
        assert calendar.business_time_between(start, monday) == timedelta(hours=3)


class TestSlaStates:
    def test_filter_and_row_view_agree(self, database: Database) -> None:
        with database.factory() as s:
            s.add(
                Municipality(id="ise", name="伊勢市", prefecture="三重県", contact_email="a@b.jp")
            )
            specs = [
                # (category, business hours ago, responded, stored due offset, status)
                ("品質", 0.1, False, None, "open"),
                ("品質", 0.9, False, None, "open"),  # 90 % of 1 h: warning
                ("品質", 3, False, None, "in_progress"),  # breached
                ("その他", 2, False, None, "open"),
                ("その他", 7, False, None, "open"),  # 7 of 8 h: warning
                ("不着", 30, True, None, "in_progress"),  # responded, 30 of 40 h
                ("未知の分類", 9, False, None, "open"),  # falls back to その他: breached
                ("破損", 1, False, -1, "open"),  # stored due passed (a callback promise)
                ("破損", 1, False, None, "replied"),
                ("破損", 1, False, None, "closed"),
            ]
            calendar = BusinessCalendar()
            for i, (category, hours, responded, due_offset, status) in enumerate(specs):
                created = sla_queue.business_start_before(calendar, NOW, timedelta(hours=hours))
                s.add(
                    Ticket(
                        subject=f"t{i}",
                        category=category,
                        status=status,
                        municipality_id="ise",
                        created_at=created,
                        last_activity_at=created,
                        first_response_at=created if responded else None,
                        sla_due_at=NOW + timedelta(hours=due_offset) if due_offset else None,
                    )
                )
            s.commit()
            tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
            views = sla_queue.sla_views(tickets=tickets, now=NOW)
            states = [views[t.id].state for t in tickets]
            assert states == [
                "ok",
                "warning",
                "breached",
                "ok",
                "warning",
                "warning",
                "breached",
                "breached",
                "paused",
                "none",
            ]
            for state in sla_queue.SLA_STATES:
                found = set(
                    s.scalars(select(Ticket.id).where(sla_queue.sla_condition(state, now=NOW)))
                )
                assert found == {t.id for t in tickets if views[t.id].state == state}, state
