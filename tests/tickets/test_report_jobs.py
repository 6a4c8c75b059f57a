"""Serious-complaint notices (once per ticket) and the monthly report schedule, via the worker."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support.adapters.fakes import InMemoryMailSender
from support.adapters.ports import SendError
from support.adapters.smtp import SmtpMailSender
from support.auth.models import RoleName
from support.calendar import JST
from support.config import Settings
from support.jobs import Job
from support.tickets.models import Donor, Order
from support.tickets.notices import SERIOUS_NOTICE
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.report_jobs import MONTHLY_GENERATE, schedule_monthly
from support.tickets.report_models import MunicipalityNotice, MunicipalityReport
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import load_demo_world, login_as, make_ticket
from tests.services.smtp_sink import SmtpSink

POLICIES = load_policies(default_policy_dir())


def _order(database: Database, municipality_id: str) -> Order:
    with database.factory() as s:
        return s.scalars(
            select(Order).where(Order.municipality_id == municipality_id).order_by(Order.id)
        ).first()  # type: ignore[return-value]


def _open(client: TestClient, headers: dict[str, str], order_id: int, category: str) -> int:
    response = client.post(
        "/api/tickets",
        headers=headers,
        json={
            "subject": "個人情報が記載された書類が別人に届いた",
            "category": category,
            "order_id": order_id,
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _jobs(database: Database, kind: str) -> int:
    with database.factory() as s:
        return int(s.scalar(select(func.count()).where(Job.kind == kind)) or 0)


class TestSeriousNotice:
    def test_a_ticket_opened_as_serious_notifies_its_municipality_once(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        order = _order(database, "yokohama")
        ticket_id = _open(client, operator, order.id, "個人情報")
        _open(client, operator, _order(database, "ise").id, "配送遅延")  # not serious
        assert _jobs(database, SERIOUS_NOTICE) == 1  # enqueued with the ticket

        sender = InMemoryMailSender()
        runner = build_runner(database.factory, settings, sender)
        runner.run_until_idle()
        assert len(sender.sent) == 1
        mail = sender.sent[0]
        assert list(mail.recipients) == ["furusato-kifu@city.yokohama.example.jp"]
        parsed = message_from_bytes(mail.data, policy=policy.default)
        body = parsed.get_body().get_content()  # type: ignore[union-attr]
        assert "重大な事案（個人情報）" in body
        assert f"受付番号: {ticket_id}" in body
        with database.factory() as s:
            donor = s.get_one(Donor, order.donor_id)
            notice = s.scalars(select(MunicipalityNotice)).one()
        for secret in (donor.email, donor.phone, donor.address, *donor.name.split()):
            assert secret and secret not in body
        assert notice.status == "sent" and notice.ticket_id == ticket_id

        # Another enqueue (a retried hook, the sweep) never sends a second notice.
        with database.factory() as s:
            from support.jobs import enqueue

            enqueue(s, SERIOUS_NOTICE, {"ticket_id": ticket_id})
            s.commit()
        runner.run_until_idle()
        assert len(sender.sent) == 1

    def test_an_injury_tag_on_a_quality_complaint_triggers_the_notice(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        ticket_id = _open(client, operator, _order(database, "chiyoda").id, "品質")
        assert _jobs(database, SERIOUS_NOTICE) == 0
        from support.auth.actor import Actor
        from support.tickets import work

        with database.factory() as s:
            actor = Actor(user_id=None, username="op", role=RoleName.OPERATOR)
            work.set_tags(session=s, actor=actor, ticket_id=ticket_id, tags=["けが"])
            s.commit()
        sender = InMemoryMailSender()
        build_runner(database.factory, settings, sender).run_until_idle()
        assert len(sender.sent) == 1
        body = message_from_bytes(sender.sent[0].data, policy=policy.default)
        text = body.get_body().get_content()  # type: ignore[union-attr]
        assert "負傷" in text and "中間事業者（当窓口）を通じて" in text  # 千代田区's route

    def test_the_sweep_catches_a_ticket_made_serious_without_the_hook(
        self, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        from support.tickets.notices import sweep

        with database.factory() as s:
            now = datetime.now(JST)
            make_ticket(s, municipality_id="ise", created_at=now, category="品質", tags=["食中毒"])
            make_ticket(s, municipality_id="ise", created_at=now, category="品質")
            s.commit()
            assert sweep(session=s, policies=POLICIES) == 1
            s.commit()
        sender = InMemoryMailSender()
        build_runner(database.factory, settings, sender).run_until_idle()
        assert len(sender.sent) == 1
        assert list(sender.sent[0].recipients) == ["furusato@city-ise.example.jp"]

    def test_a_failure_that_may_have_reached_the_server_is_never_resent(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        _open(client, operator, _order(database, "shizuoka").id, "個人情報")
        sender = InMemoryMailSender()
        sender.fail_with = SendError(
            "connection lost after DATA", permanent=False, reached_server=True
        )
        runner = build_runner(database.factory, settings, sender)
        runner.run_until_idle()
        sender.fail_with = None
        runner.run_until_idle()
        with database.factory() as s:
            assert s.scalars(select(MunicipalityNotice.status)).one() == "in_doubt"
        assert sender.sent == []


class TestMonthlySchedule:
    def test_nothing_before_the_first_business_day(self, database: Database) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            # 2026-01-02 is in the year-end closure; the first business day is 2026-01-05.
            assert (
                schedule_monthly(
                    session=s, policies=POLICIES, now=datetime(2026, 1, 2, 9, tzinfo=JST)
                )
                == []
            )

    def test_generates_stores_and_mails_last_month_once(
        self, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        with database.factory() as s:
            order = s.scalars(select(Order).where(Order.municipality_id == "ise")).first()
            assert order is not None
            make_ticket(
                s,
                municipality_id="ise",
                created_at=datetime(2025, 12, 5, 10, tzinfo=JST),
                order_id=order.id,
                supplier_id=order.supplier_id,
            )
            make_ticket(
                s, municipality_id="yokohama", created_at=datetime(2025, 12, 6, 10, tzinfo=JST)
            )
            queued = schedule_monthly(
                session=s, policies=POLICIES, now=datetime(2026, 1, 5, 9, tzinfo=JST)
            )
            s.commit()
        assert queued == ["chiyoda", "ise", "shizuoka", "yokohama"]
        sender = InMemoryMailSender()
        runner = build_runner(database.factory, settings, sender)
        runner.run_until_idle()
        assert len(sender.sent) == 4
        with database.factory() as s:
            rows = {r.municipality_id: r for r in s.scalars(select(MunicipalityReport))}
            assert rows["ise"].ticket_count == 1 and rows["yokohama"].ticket_count == 1
            assert rows["chiyoda"].ticket_count == 0
            assert all(r.mail_status == "sent" and r.month == "2025-12" for r in rows.values())
            assert rows["ise"].pdf.startswith(b"%PDF")
            # Nothing more to queue once stored; regenerating keeps one row and sends nothing.
            assert (
                schedule_monthly(
                    session=s, policies=POLICIES, now=datetime(2026, 1, 6, 9, tzinfo=JST)
                )
                == []
            )
            from support.jobs import enqueue

            enqueue(s, MONTHLY_GENERATE, {"municipality_id": "ise", "month": "2025-12"})
            s.commit()
        runner.run_until_idle()
        assert len(sender.sent) == 4
        with database.factory() as s:
            assert s.scalar(select(func.count()).select_from(MunicipalityReport)) == 4
        ise_mail = next(m for m in sender.sent if "city-ise" in m.recipients[0])
        parsed = message_from_bytes(ise_mail.data, policy=policy.default)
        names = sorted(p.get_filename() or "" for p in parsed.iter_attachments())  # type: ignore[attr-defined]
        assert names == ["report-ise-2025-12.csv", "report-ise-2025-12.pdf"]
        assert "2025年12月" in str(parsed["Subject"])


class TestAgainstRealSmtp:
    def test_notice_and_monthly_report_arrive_at_the_smtp_server(
        self, client: TestClient, database: Database, settings: Settings, tmp_path: Path
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        _open(client, operator, _order(database, "ise").id, "個人情報")
        with database.factory() as s:
            schedule_monthly(session=s, policies=POLICIES, now=datetime(2026, 1, 5, 9, tzinfo=JST))
            s.commit()
        with SmtpSink(tmp_path / "smtp") as sink:
            sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
            build_runner(database.factory, settings, sender).run_until_idle()
            received = sink.messages()
        assert len(received) == 5  # one notice, four monthly reports
        subjects = sorted(
            str(message_from_bytes(raw, policy=policy.default)["Subject"]) for _, raw in received
        )
        assert sum("重大事案" in s for s in subjects) == 1
        assert sum("月次報告" in s for s in subjects) == 4
        rcpts = sorted(r for envelope, _ in received for r in envelope["rcpt_tos"])
        assert rcpts.count("furusato@city-ise.example.jp") == 2

    def test_smtp_down_retries_the_notice_later(
        self, client: TestClient, database: Database, settings: Settings, tmp_path: Path
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        _open(client, operator, _order(database, "ise").id, "個人情報")
        sink = SmtpSink(tmp_path / "smtp")  # never started: nothing listens on its port
        sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=5)
        build_runner(database.factory, settings, sender).run_until_idle()
        with database.factory() as s:
            notice = s.scalars(select(MunicipalityNotice)).one()
            job = s.scalars(select(Job).where(Job.kind == SERIOUS_NOTICE)).one()
            assert notice.status == "queued" and job.status == "queued"
            job.run_at = datetime.now(JST)  # skip the backoff instead of waiting for it
            s.commit()
        with SmtpSink(tmp_path / "smtp", port=sink.port) as live:
            build_runner(database.factory, settings, sender).run_until_idle()
            assert len(live.messages()) == 1


class TestPreviewThenSchedule:
    def test_a_report_generated_early_by_hand_is_regenerated_and_mailed_when_due(
        self, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        from support.tickets.report_store import store_monthly
        from support.tickets.reports import ReportMonth

        with database.factory() as s:
            store_monthly(session=s, policy=POLICIES["ise"], month=ReportMonth(2025, 12))
            make_ticket(s, municipality_id="ise", created_at=datetime(2025, 12, 31, 9, tzinfo=JST))
            queued = schedule_monthly(
                session=s, policies=POLICIES, now=datetime(2026, 1, 5, 9, tzinfo=JST)
            )
            s.commit()
        assert "ise" in queued
        sender = InMemoryMailSender()
        build_runner(database.factory, settings, sender).run_until_idle()
        with database.factory() as s:
            row = s.scalars(
                select(MunicipalityReport).where(MunicipalityReport.municipality_id == "ise")
            ).one()
        assert row.ticket_count == 1 and row.mail_status == "sent"


class TestSweepRequeues:
    def test_a_notice_whose_job_gave_up_is_queued_again_and_sent_once(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        from support.tickets.notices import sweep

        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        _open(client, operator, _order(database, "ise").id, "個人情報")
        sender = InMemoryMailSender()
        sender.fail_with = SendError("connection refused", permanent=False)
        runner = build_runner(database.factory, settings, sender)
        runner.run_until_idle()
        with database.factory() as s:
            job = s.scalars(select(Job).where(Job.kind == SERIOUS_NOTICE)).one()
            assert job.status == "queued"  # waiting for its backoff
            assert sweep(session=s, policies=POLICIES) == 0  # already pending: no duplicate
            job.status = "failed"  # as if every attempt had failed
            s.commit()
            assert sweep(session=s, policies=POLICIES) == 1
            s.commit()
        sender.fail_with = None
        runner.run_until_idle()
        assert len(sender.sent) == 1
        with database.factory() as s:
            assert sweep(session=s, policies=POLICIES) == 0
