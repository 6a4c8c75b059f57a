"""Complaint tickets: one intake for every channel, the workflow, verdicts, SLA and queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.adapters.fakes import InMemoryMailSender
from support.auth.actor import Actor
from support.auth.models import AuditEvent, RoleName
from support.calendar import JST
from support.config import Settings
from support.errors import BadInput
from support.jobs import Job, enqueue
from support.tickets import complaint, complaint_jobs
from support.tickets.intake import TicketIntake, open_ticket
from support.tickets.models import Order, Ticket, TicketEvent, TicketNote, TicketOrder
from support.tickets.notices import SERIOUS_NOTICE
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_mail import ReportMailSettings
from support.worker import build_runner, schedule_maintenance
from tests.conftest import Database
from tests.factories import load_demo_world

POLICIES = load_policies(default_policy_dir())
STAFF = Actor(user_id=None, username="op", role=RoleName.OPERATOR)
# Monday 2025-12-15 10:00 JST: an ordinary business day.
MONDAY = datetime(2025, 12, 15, 10, 0, tzinfo=JST)


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _order(s: Session, order_no: str) -> Order:
    return s.scalars(select(Order).where(Order.order_no == order_no)).one()


def _kinds(s: Session, ticket_id: int) -> list[str]:
    return list(
        s.scalars(
            select(TicketEvent.kind)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.occurred_at, TicketEvent.id)
        )
    )


class TestOpenTicket:
    def test_a_voicemail_opens_a_ticket_with_its_callback_as_first_response_due(
        self, world: Database
    ) -> None:
        callback = MONDAY + timedelta(hours=2)
        with world.factory() as s:
            ticket = open_ticket(
                session=s,
                intake=TicketIntake(
                    channel="ivr",
                    subject="留守番電話: 返礼品が届かない",
                    municipality_id="ise",
                    category="不着",
                    caller_number="+81 90-1234-5678",
                    recording_url="https://api.example.invalid/Recordings/RE1",
                    transcript="注文した伊勢えびがまだ届きません。",
                    callback_due=callback,
                    external_ref="twilio:CA1",
                    opened_at=MONDAY,
                ),
            )
            s.commit()
            assert ticket.contact_phone == "+819012345678"
            # 不着 allows a business day; the promised callback two hours on comes first.
            assert ticket.first_response_due_at == callback
            assert ticket.sla_due_at == callback
            assert ticket.resolution_due_at == datetime(2025, 12, 22, 10, 0, tzinfo=JST)
            note = s.scalars(select(TicketNote).where(TicketNote.ticket_id == ticket.id)).one()
            assert "伊勢えび" in note.body and "RE1" in note.body
            event = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).one()
            assert event.kind == "opened"
            assert event.detail["recording_url"].endswith("RE1")

    def test_the_same_external_ref_returns_the_ticket_already_opened(self, world: Database) -> None:
        intake = TicketIntake(
            channel="ivr", subject="留守番電話", municipality_id="ise", external_ref="twilio:CA2"
        )
        with world.factory() as s:
            first = open_ticket(session=s, intake=intake)
            s.commit()
            again = open_ticket(session=s, intake=intake)
            assert again.id == first.id
            assert s.scalar(select(func.count()).select_from(Ticket)) == 1

    def test_orders_give_the_supplier_and_municipality_and_all_are_linked(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            a, b = _order(s, "ORD-2025-001057"), _order(s, "ORD-2025-024485")  # both don-042
            ticket = open_ticket(
                session=s,
                intake=TicketIntake(channel="web", subject="二件の注文", order_ids=[a.id, b.id]),
            )
            assert (ticket.municipality_id, ticket.supplier_id) == ("ise", a.supplier_id)
            assert ticket.donor_id == "don-042"
            assert ticket.order_id == a.id
            linked = s.scalars(
                select(TicketOrder.order_id).where(TicketOrder.ticket_id == ticket.id)
            )
            assert sorted(linked) == sorted([a.id, b.id])

    @pytest.mark.parametrize(
        "change",
        [
            {"category": "苦情"},
            {"priority": "asap"},
            {"channel": "fax"},
            {"municipality_id": "nowhere"},
            {"callback_due": datetime(2025, 12, 15, 10, 0)},  # noqa: DTZ001 - naive on purpose
        ],
    )
    def test_bad_intake_is_refused(self, world: Database, change: dict[str, object]) -> None:
        fields: dict[str, object] = {
            "channel": "phone",
            "subject": "電話",
            "municipality_id": "ise",
        }
        fields.update(change)
        with world.factory() as s, pytest.raises(BadInput):
            open_ticket(session=s, intake=TicketIntake(**fields))  # type: ignore[arg-type]

    def test_an_order_of_another_municipality_is_refused(self, world: Database) -> None:
        with world.factory() as s:
            order = _order(s, "ORD-2025-000423")  # ise
            with pytest.raises(BadInput):
                open_ticket(
                    session=s,
                    intake=TicketIntake(
                        channel="phone",
                        subject="x",
                        municipality_id="yokohama",
                        order_ids=[order.id],
                    ),
                )

    def test_a_serious_category_queues_the_municipality_notice(self, world: Database) -> None:
        with world.factory() as s:
            open_ticket(
                session=s,
                intake=TicketIntake(
                    channel="web", subject="漏えい", municipality_id="ise", category="個人情報"
                ),
            )
            assert s.scalar(select(func.count()).where(Job.kind == SERIOUS_NOTICE)) == 1


def _ticket(s: Session, order_no: str, category: str, at: datetime = MONDAY) -> Ticket:
    return open_ticket(
        session=s,
        intake=TicketIntake(
            channel="mail",
            subject="返礼品について",
            category=category,
            order_ids=[_order(s, order_no).id],
            opened_at=at,
        ),
    )


class TestWorkflow:
    def test_a_category_change_is_on_the_timeline_and_moves_the_dues(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "その他")
            assert ticket.first_response_due_at == MONDAY + timedelta(days=1)  # 8 business h
            complaint.set_category(session=s, actor=STAFF, ticket_id=ticket.id, category="品質")
            assert ticket.first_response_due_at == MONDAY + timedelta(hours=1)
            assert _kinds(s, ticket.id) == ["opened", "category"]

    def test_orders_link_and_unlink_with_the_primary_moving_on(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-001057", "破損")
            other = _order(s, "ORD-2025-024485")
            complaint.link_order(session=s, actor=STAFF, ticket_id=ticket.id, order_id=other.id)
            complaint.unlink_order(
                session=s, actor=STAFF, ticket_id=ticket.id, order_id=ticket.order_id or 0
            )
            assert ticket.order_id == other.id
            assert _kinds(s, ticket.id)[-2:] == ["order_linked", "order_unlinked"]

    def test_an_order_of_another_donor_cannot_be_linked(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "破損")
            stranger = s.scalars(
                select(Order).where(
                    Order.municipality_id == "ise", Order.donor_id != ticket.donor_id
                )
            ).first()
            assert stranger is not None
            with pytest.raises(BadInput):
                complaint.link_order(
                    session=s, actor=STAFF, ticket_id=ticket.id, order_id=stranger.id
                )

    def test_liability_confirmed_by_a_person_is_audited_and_on_the_timeline(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "破損")
            complaint.confirm_liability(
                session=s,
                actor=STAFF,
                ticket_id=ticket.id,
                bearer="supplier",
                covers=["代替品", "再配送"],
                carrier_at_fault=False,
                policies=POLICIES,
            )
            s.flush()
            assert ticket.liability_bearer == "supplier" and ticket.carrier_at_fault is False
            event = s.scalars(
                select(TicketEvent).where(TicketEvent.kind == "liability_confirmed")
            ).one()
            assert event.detail["suggested"] == "supplier" and event.detail["follows_suggestion"]
            audited = s.scalars(select(AuditEvent.action)).all()
            assert "confirm_liability" in audited

    def test_resolving_stops_the_clock_and_empties_the_queue_due(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "破損", at=datetime.now(UTC))
            complaint.resolve(session=s, actor=STAFF, ticket_id=ticket.id, resolution="再送済み")
            assert ticket.status == "closed" and ticket.resolved_at is not None
            assert ticket.sla_due_at is None and ticket.sla_state == "met"
            assert _kinds(s, ticket.id)[-2:] == ["status", "resolved"]


class TestVerdict:
    def test_a_late_shipment_in_ise_breaches_the_seven_day_deadline(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-001057", "配送遅延")  # ordered 10/19, shipped 10/24
            order = s.get_one(Order, ticket.order_id)
            order.shipped_on = order.ordered_on + timedelta(days=10)  # type: ignore[operator]
            verdict = complaint.verdict_for(session=s, ticket=ticket, policies=POLICIES)
            assert verdict is not None and verdict.deadline is not None
            assert verdict.deadline.breached and verdict.deadline.days_late == 3

    def test_an_unshipped_yokohama_order_past_fourteen_days_is_breached(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-090388", "配送遅延")  # ordered 11/27, not shipped
            today = datetime(2025, 12, 15, tzinfo=JST).date()
            verdict = complaint.verdict_for(
                session=s, ticket=ticket, policies=POLICIES, today=today
            )
            assert verdict is not None and verdict.deadline is not None
            assert verdict.deadline.breached and "未発送" in verdict.deadline.note

    def test_a_delivered_voucher_in_yokohama_proposes_the_refusal_template(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-023129", "利用券")  # delivered 12/18
            verdict = complaint.verdict_for(session=s, ticket=ticket, policies=POLICIES)
            assert verdict is not None and verdict.reissue is not None
            assert verdict.reissue.allowed is False
            reply = verdict.proposed_reply
            assert reply is not None and reply.template == "voucher_reissue_refusal"
            assert "再発行には応じられません" in reply.body and f"[#{ticket.id}]" in reply.subject

    def test_a_delivered_voucher_in_ise_may_be_reissued(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-038898", "利用券")  # ise, delivered
            verdict = complaint.verdict_for(session=s, ticket=ticket, policies=POLICIES)
            assert verdict is not None and verdict.reissue is not None
            assert verdict.reissue.allowed and verdict.proposed_reply is None

    def test_liability_is_suggested_from_the_policy(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "品質")
            verdict = complaint.verdict_for(session=s, ticket=ticket, policies=POLICIES)
            assert verdict is not None and verdict.liability is not None
            assert verdict.liability.needs_confirmation


class TestSlaCheck:
    def test_a_warning_then_one_breach_escalates_to_supervisors_once(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "品質")  # first response within 1 h
            s.commit()
            warn = MONDAY + timedelta(minutes=46)
            counts = complaint_jobs.check_sla(session=s, now=warn, escalate_to=["sv@x.example"])
            assert counts == {"warning": 1, "breached": 0, "adopted": 0}
            assert ticket.sla_state == "warning" and ticket.sla_alert_at == MONDAY + timedelta(
                hours=1
            )
            late = MONDAY + timedelta(hours=2)
            counts = complaint_jobs.check_sla(session=s, now=late, escalate_to=["sv@x.example"])
            assert counts == {"warning": 0, "breached": 1, "adopted": 0}
            again = complaint_jobs.check_sla(session=s, now=late, escalate_to=["sv@x.example"])
            assert again == {"warning": 0, "breached": 0, "adopted": 0}
            assert ticket.priority == "urgent" and ticket.sla_state == "breached"
            assert _kinds(s, ticket.id) == [
                "opened",
                "sla_warning",
                "sla_breached",
                "sla_escalated",
            ]
            s.commit()
            job = s.scalars(select(Job).where(Job.kind == complaint_jobs.SLA_ESCALATION_MAIL)).one()
            sender = InMemoryMailSender()
            settings = ReportMailSettings(from_addr="desk@furusato-desk.example.jp")
            for _ in range(2):
                complaint_jobs.send_escalation(
                    session=s,
                    event_id=int(job.payload["event_id"]),
                    recipients=["sv@x.example"],
                    sender=sender,
                    settings=settings,
                )
            assert len(sender.sent) == 1
            assert "SLA超過".encode() not in sender.sent[0].data  # encoded header
            assert b"sv@x.example" in sender.sent[0].data

    def test_the_worker_runs_the_check_and_mails_the_supervisors_once(
        self, world: Database, settings: Settings
    ) -> None:
        with world.factory() as s:
            _ticket(s, "ORD-2025-000423", "品質", at=datetime.now(UTC) - timedelta(days=7))
            s.commit()
        chosen = settings.model_copy(update={"sla_escalation_to": ["sv@furusato-desk.example.jp"]})
        sender = InMemoryMailSender()
        runner = build_runner(world.factory, chosen, sender)
        schedule_maintenance(world.factory)
        runner.run_until_idle()
        with world.factory() as s:
            enqueue(s, complaint_jobs.SLA_CHECK)
            s.commit()
        runner.run_until_idle()
        # The monthly reports of the schedule go out too; the escalation goes once.
        escalations = [m for m in sender.sent if "sv@furusato-desk.example.jp" in m.recipients]
        assert len(escalations) == 1
        with world.factory() as s:
            event = s.scalars(select(TicketEvent).where(TicketEvent.kind == "sla_escalated")).one()
            assert event.detail["mail"] == "sent"

    def test_a_ticket_opened_before_the_clock_existed_gets_one(self, world: Database) -> None:
        from tests.factories import make_ticket

        with world.factory() as s:
            old = make_ticket(s, municipality_id="ise", created_at=MONDAY, category="破損")
            s.commit()
            counts = complaint_jobs.check_sla(session=s, now=MONDAY + timedelta(hours=5))
            assert counts["adopted"] == 1 and counts["breached"] == 1
            assert old.first_response_due_at == MONDAY + timedelta(hours=4)

    def test_a_first_response_moves_the_clock_to_the_resolution_due(self, world: Database) -> None:
        from support.tickets.channels import record_event

        with world.factory() as s:
            ticket = _ticket(s, "ORD-2025-000423", "品質", at=datetime.now(UTC))
            record_event(session=s, ticket_id=ticket.id, kind="phone_response")
            assert ticket.first_response_at is not None
            assert ticket.sla_due_at == ticket.resolution_due_at

    def test_a_complaint_on_friday_evening_is_due_after_the_weekend(self, world: Database) -> None:
        with world.factory() as s:
            friday = datetime(2025, 12, 12, 16, 30, tzinfo=JST)
            ticket = _ticket(s, "ORD-2025-000423", "品質", at=friday)
            assert ticket.first_response_due_at == datetime(2025, 12, 15, 9, 30, tzinfo=JST)

    def test_a_complaint_before_a_public_holiday_skips_it(self, world: Database) -> None:
        with world.factory() as s:
            # Friday 2025-11-21 16:00; Monday 11-24 is the substitute holiday of 勤労感謝の日.
            ticket = _ticket(
                s, "ORD-2025-000423", "配送遅延", at=datetime(2025, 11, 21, 16, 0, tzinfo=JST)
            )
            assert ticket.first_response_due_at == datetime(2025, 11, 25, 16, 0, tzinfo=JST)

    def test_a_complaint_on_december_26_waits_out_the_year_end_closure(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            ticket = _ticket(
                s, "ORD-2025-000423", "破損", at=datetime(2025, 12, 26, 15, 0, tzinfo=JST)
            )
            # 2 business hours on 12/26, then 12/27-1/4 closed (weekend, closure, weekend).
            assert ticket.first_response_due_at == datetime(2026, 1, 5, 11, 0, tzinfo=JST)


class TestQueue:
    def test_the_queue_sorts_by_sla_due_and_filters_by_municipality_and_status(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            slow = _ticket(s, "ORD-2025-000423", "その他")
            fast = _ticket(s, "ORD-2025-000423", "品質")
            done = _ticket(s, "ORD-2025-000423", "破損")
            _ticket(s, "ORD-2025-023129", "品質")  # yokohama
            complaint.resolve(session=s, actor=STAFF, ticket_id=done.id)
            page = complaint.queue(session=s, actor=STAFF, municipality_id="ise")
            assert [t.id for t in page.items] == [fast.id, slow.id]
            closed = complaint.queue(session=s, actor=STAFF, municipality_id="ise", status="closed")
            assert [t.id for t in closed.items] == [done.id]

    def test_the_queue_pages_by_fifty(self, world: Database) -> None:
        with world.factory() as s:
            order = _order(s, "ORD-2025-000423")
            for _ in range(51):
                open_ticket(
                    session=s,
                    intake=TicketIntake(channel="web", subject="x", order_ids=[order.id]),
                )
            first = complaint.queue(session=s, actor=STAFF, municipality_id="ise")
            second = complaint.queue(session=s, actor=STAFF, municipality_id="ise", page=2)
            assert len(first.items) == 50 and first.has_more
            assert len(second.items) == 1 and not second.has_more
