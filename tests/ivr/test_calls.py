"""Scripted calls through the signed webhooks, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.adapters.fakes import InMemorySearchIndex
from support.auth.models import AuditEvent
from support.calendar import JST
from support.ivr import prompts
from support.ivr.models import IvrCall, IvrCallEvent
from support.ivr.script import ScriptedCall
from support.tickets.models import Order, Ticket, TicketEvent, TicketNote, TicketTag

from ..conftest import Database
from ..factories import load_demo_world
from .harness import (
    BASE,
    CALLER,
    EVENING,
    FRIDAY_NIGHT,
    HOLIDAY,
    ISE,
    TOKEN,
    YEAR_END,
    Clock,
    Phone,
    ivr_settings,
    open_phone,
    said,
)

ORDER_DIGITS = "2025000423"  # ORD-2025-000423 (伊勢市, 配達完了, 佐川急便, phone ...8796)
DONATION_DIGITS = "258416557"  # D25-8416557, the same order's donation
PHONE_LAST4 = "8796"
CHIYODA_DIGITS = "2025000817"  # ORD-2025-000817, a 千代田区 order


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def phone(database: Database, tmp_path: Path, clock: Clock) -> Iterator[Phone]:
    load_demo_world(database.factory)
    yield from open_phone(ivr_settings(database, tmp_path), InMemorySearchIndex(), clock)


def the_call(session: Session) -> IvrCall:
    return session.scalars(select(IvrCall)).one()


def events(session: Session, kind: str) -> list[IvrCallEvent]:
    return list(session.scalars(select(IvrCallEvent).where(IvrCallEvent.kind == kind)))


class TestHours:
    def test_in_hours_zero_queues_for_an_operator_with_a_wait_message(
        self, phone: Phone, session: Session
    ) -> None:
        steps = phone.call([{"digits": "0"}, {"operator": "bridged"}])
        assert prompts.MENU_OPERATOR in said(steps[:1])
        assert steps[1]["enqueue"] == {"queue": "support", "wait_url": "/ivr/queue-wait"}
        assert steps[2]["hangup"]
        call = the_call(session)
        assert call.outcome == "operator" and call.in_hours
        wait = phone.calls[0].post("/ivr/queue-wait", {"QueueTime": "30"})
        assert prompts.OPERATOR_WAIT in wait.text

    def test_nobody_answering_continues_the_automated_flow(self, phone: Phone) -> None:
        steps = phone.call([{"digits": "0"}, {"operator": "leave"}, {"digits": "2"}])
        assert prompts.OPERATOR_MISSED in steps[2]["say"]
        assert prompts.MENU_OPERATOR not in said(steps[2:3])
        assert steps[3]["gather"]["input"] == ["speech"]
        # The hold loop gives up after the configured wait, which sends the caller on.
        wait = phone.calls[0].post("/ivr/queue-wait", {"QueueTime": "120"})
        assert "<Leave />" in wait.text

    def test_dial_mode_rings_the_configured_number(
        self, database: Database, tmp_path: Path, clock: Clock
    ) -> None:
        load_demo_world(database.factory)
        settings = ivr_settings(
            database, tmp_path, ivr_operator_mode="dial", ivr_operator_number="+81300000999"
        )
        for phone in open_phone(settings, InMemorySearchIndex(), clock):
            steps = phone.call([{"digits": "0"}, {"operator": "no-answer"}])
            assert steps[1]["dial"] == {"numbers": ["+81300000999"], "action": "/ivr/operator"}
            assert prompts.OPERATOR_MISSED in steps[2]["say"]

    @pytest.mark.parametrize(
        "moment", [EVENING, HOLIDAY, YEAR_END], ids=["evening", "holiday", "year-end"]
    )
    def test_out_of_hours_says_the_hours_and_offers_no_operator(
        self, phone: Phone, clock: Clock, moment: datetime
    ) -> None:
        clock.now = moment
        steps = phone.call([{"digits": "0"}])
        first = said(steps[:1])
        assert "ただいま受付時間外です" in first
        assert "土日祝日と年末年始を除く平日、午前9時から午後5時まで" in first
        assert prompts.MENU_OPERATOR not in first
        assert prompts.OPERATOR_CLOSED in steps[1]["say"]
        assert steps[1]["enqueue"] is None

    def test_the_one_stop_deadline_is_read_in_december_and_early_january_only(
        self, phone: Phone, clock: Clock
    ) -> None:
        deadline = "1月10日必着"
        clock.now = datetime(2027, 1, 10, 12, 0, tzinfo=JST)
        assert deadline in said(phone.call([])[:1])
        clock.now = datetime(2027, 1, 11, 12, 0, tzinfo=JST)
        assert deadline not in said(phone.call([])[:1])

    def test_a_municipality_line_greets_with_its_name(self, phone: Phone) -> None:
        steps = phone.call([], number=ISE)
        assert "伊勢市 ふるさと納税 お問い合わせ窓口" in steps[0]["say"][0]


class TestDeliveryStatus:
    def test_a_verified_caller_hears_status_date_and_carrier_only(
        self, phone: Phone, session: Session
    ) -> None:
        steps = phone.call([{"digits": "1"}, {"digits": ORDER_DIGITS}, {"digits": PHONE_LAST4}])
        status = " ".join(steps[3]["say"])
        assert "現在、配達完了です" in status
        assert "発送日は、令和7年12月14日。配送業者は、佐川急便です。" in status
        # Nothing else personal: no name, item, address, tracking number or delivery date.
        for secret in ("伊勢うどん", "942345656899", "様", "12月17日"):
            assert secret not in said(steps)
        call = the_call(session)
        assert call.outcome == "delivery_status"
        read = session.scalars(select(AuditEvent).where(AuditEvent.action == "read")).one()
        assert (read.resource_type, read.actor_username, read.request_id) == (
            "order_status",
            "ivr",
            call.call_sid,
        )

    def test_an_order_past_the_municipality_s_deadline_is_said_to_be_late(
        self, phone: Phone, clock: Clock
    ) -> None:
        # ORD-2025-002166: 伊勢市 (ship within 7 days of the order), ordered 2025-12-23, unshipped.
        clock.now = datetime(2025, 12, 26, 10, 0, tzinfo=JST)
        keys = [{"digits": "1"}, {"digits": "2025002166"}, {"digits": "2282"}]
        assert "発送は、令和7年12月30日までの予定です。" in said(phone.call(keys))
        clock.now = datetime(2026, 1, 5, 10, 0, tzinfo=JST)
        assert prompts.STATUS_LATE in said(phone.call(keys))

    def test_a_donation_number_works_too(self, phone: Phone) -> None:
        steps = phone.call([{"digits": "1"}, {"digits": DONATION_DIGITS}, {"digits": PHONE_LAST4}])
        assert "佐川急便" in said(steps)

    def test_three_wrong_tries_end_the_attempt_and_are_logged(
        self, phone: Phone, session: Session
    ) -> None:
        wrong = [{"digits": ORDER_DIGITS}, {"digits": "0000"}]
        steps = phone.call([{"digits": "1"}, *wrong, *wrong, *wrong, {"digits": "1"}])
        assert said(steps).count(prompts.VERIFY_FAILED) == 3
        assert prompts.VERIFY_LOCKED in steps[7]["say"]
        assert prompts.STATUS_LOCKED in steps[8]["say"]
        assert "配達完了" not in said(steps)
        call = the_call(session)
        assert (call.outcome, call.wrong_tries) == ("verification_failed", 3)
        failed = events(session, "verification_failed")
        assert [e.detail["attempt"] for e in failed] == [1, 2, 3]
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "verify_failed"))
        assert len(list(audited)) == 3

    def test_an_unknown_number_sounds_like_a_wrong_phone(self, phone: Phone) -> None:
        unknown = phone.call([{"digits": "1"}, {"digits": "9999999999"}, {"digits": PHONE_LAST4}])
        wrong = phone.call([{"digits": "1"}, {"digits": ORDER_DIGITS}, {"digits": "0000"}])
        # Both read the keyed number back, then ask for the phone digits alike.
        assert unknown[2]["say"][0] == "ご入力の番号は、" + "、".join(["きゅう"] * 10) + "、です。"
        assert unknown[2]["say"][1:] == wrong[2]["say"][1:]
        assert unknown[3]["say"] == wrong[3]["say"]

    def test_a_municipality_line_does_not_read_another_municipality_s_order(
        self, phone: Phone, session: Session
    ) -> None:
        steps = phone.call(
            [{"digits": "1"}, {"digits": CHIYODA_DIGITS}, {"digits": "7546"}], number=ISE
        )
        assert prompts.VERIFY_FAILED in steps[3]["say"]
        order = session.scalars(select(Order).where(Order.order_no == "ORD-2025-000817")).one()
        assert order.municipality_id == "chiyoda"


class TestVoicemail:
    def test_silence_reprompts_twice_then_takes_a_voicemail_ticket(
        self, phone: Phone, session: Session
    ) -> None:
        steps = phone.call(
            [
                {"silence": True},
                {"silence": True},
                {"silence": True},
                {"speech": "返礼品がまだ届きません"},
                {"record": 25},
            ]
        )
        assert [prompts.REPROMPT in s["say"] for s in steps[1:3]] == [True, True]
        assert prompts.VOICEMAIL_INTRO in steps[3]["say"]
        assert steps[4]["record"] == {"max_length": 120, "action": "/ivr/step"}
        # In hours on Tuesday 10:00: the callback is due within the next opening hour.
        assert "12月8日、火曜日の午前11時ごろまでに" in said(steps[5:6])
        call = the_call(session)
        assert call.outcome == "voicemail" and call.ticket_id is not None
        ticket = session.get(Ticket, call.ticket_id)
        assert ticket is not None
        assert (ticket.channel, ticket.subject) == ("ivr", "電話のご伝言: 返礼品がまだ届きません")
        assert ticket.contact_phone == CALLER and ticket.external_ref == f"twilio:{call.call_sid}"
        notes = "\n".join(
            session.scalars(select(TicketNote.body).where(TicketNote.ticket_id == ticket.id))
        )
        assert "/Recordings/RE" in notes and "（25秒）" in notes
        assert "音声認識による要約: 返礼品がまだ届きません" in notes
        assert "入力が確認できず" in notes
        assert CALLER not in notes
        assert ticket.first_response_due_at is not None
        assert ticket.first_response_due_at <= datetime(2026, 12, 8, 11, 0, tzinfo=JST)
        tags = set(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket.id)))
        assert tags == {"折り返し依頼"}
        callback = session.scalars(
            select(TicketEvent).where(TicketEvent.kind == "callback_requested")
        ).one()
        assert callback.detail["due_at"] == "2026-12-08T11:00:00+09:00"

    def test_a_friday_night_voicemail_is_called_back_on_monday_morning(
        self, phone: Phone, clock: Clock, session: Session
    ) -> None:
        clock.now = FRIDAY_NIGHT
        steps = phone.call(
            [{"digits": "3"}, {"speech": "苦情があります"}, {"record": 40}], number=ISE
        )
        assert "12月14日、月曜日の午前10時ごろまでに" in said(steps)
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.municipality_id == "ise"

    def test_a_verified_caller_s_voicemail_is_linked_to_the_order(
        self, phone: Phone, session: Session
    ) -> None:
        phone.call(
            [
                {"digits": "1"},
                {"digits": ORDER_DIGITS},
                {"digits": PHONE_LAST4},
                {"digits": "3"},
                {"speech": "箱が潰れていました"},
                {"record": 30},
            ]
        )
        ticket = session.scalars(select(Ticket)).one()
        order = session.scalars(select(Order).where(Order.order_no == "ORD-2025-000423")).one()
        assert (ticket.order_id, ticket.donor_id) == (order.id, order.donor_id)

    def test_hanging_up_while_recording_still_keeps_the_spoken_summary(
        self, phone: Phone, session: Session
    ) -> None:
        phone.call([{"digits": "3"}, {"speech": "折り返しお願いします"}, {"hangup": True}])
        call = the_call(session)
        assert call.outcome == "voicemail" and call.ticket_id is not None

    def test_a_recording_arriving_after_the_hang_up_joins_the_ticket(
        self, phone: Phone, session: Session
    ) -> None:
        phone.call([{"digits": "3"}, {"speech": "折り返しお願いします"}, {"hangup": True}])
        late = {"RecordingUrl": "https://api.twilio.com/Recordings/RE9", "RecordingDuration": "8"}
        for _ in range(2):  # Twilio may retry: still one note
            assert phone.calls[0].post("/ivr/step", late).status_code == 200
        ticket_id = the_call(session).ticket_id
        notes = list(
            session.scalars(select(TicketNote.body).where(TicketNote.ticket_id == ticket_id))
        )
        assert sum("RE9（8秒）" in n for n in notes) == 1

    def test_saying_and_recording_nothing_opens_no_ticket(
        self, phone: Phone, session: Session
    ) -> None:
        phone.call([{"digits": "3"}, {"silence": True}, {"record": 0}])
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert the_call(session).outcome == "voicemail_empty"


class TestCallLog:
    def test_a_hang_up_mid_flow_is_logged_as_abandoned_with_its_duration(
        self, phone: Phone, session: Session
    ) -> None:
        placed = phone.call([{"digits": "1"}, {"hangup": True}])
        assert placed[-1]["request"]["path"] == "/ivr/status"
        call = the_call(session)
        assert call.outcome == "abandoned" and call.ended_at is not None
        assert call.duration_seconds == 20
        ended = events(session, "ended")[0]
        assert ended.detail == {
            "status": "completed",
            "outcome": "abandoned",
            "at_step": "order_no",
        }

    def test_a_retried_first_webhook_is_one_call(self, phone: Phone, session: Session) -> None:
        phone.call([])
        again = phone.calls[0].post("/ivr/voice", {"CallStatus": "ringing"})
        assert again.status_code == 200
        assert session.scalar(select(func.count()).select_from(IvrCall)) == 1

    def test_no_keyed_digits_or_caller_number_in_the_call_log(
        self, phone: Phone, session: Session
    ) -> None:
        phone.call([{"digits": "1"}, {"digits": ORDER_DIGITS}, {"digits": PHONE_LAST4}])
        details = json.dumps([e.detail for e in session.scalars(select(IvrCallEvent))])
        for secret in (ORDER_DIGITS, PHONE_LAST4, CALLER, CALLER[3:]):
            assert secret not in details


def describe_said(steps: list[dict[str, Any]]) -> list[str]:
    return [text for step in steps for text in step["say"]]


class _BrokenFaq:
    def answers(self, **_: Any) -> list[Any]:
        raise ConnectionError("search cluster unreachable")

    def vocabulary(self, **_: Any) -> list[str]:
        return []


def test_a_search_outage_ends_in_voicemail_not_in_silence(
    database: Database, tmp_path: Path
) -> None:
    load_demo_world(database.factory)
    settings = ivr_settings(database, tmp_path)
    for phone in open_phone(settings, InMemorySearchIndex(), Clock(), faq=_BrokenFaq()):
        question = {"speech": "寄附の期限はいつですか"}
        steps = phone.call([{"digits": "2"}, question, question, question, {"speech": "要件"}])
        assert prompts.QUESTION_NO_ANSWER in steps[2]["say"]
        assert prompts.VOICEMAIL_INTRO in steps[4]["say"]


def test_any_replica_serves_the_next_webhook(
    database: Database, tmp_path: Path, session: Session
) -> None:
    load_demo_world(database.factory)
    settings = ivr_settings(database, tmp_path)
    for first in open_phone(settings, InMemorySearchIndex(), Clock()):
        for second in open_phone(settings, InMemorySearchIndex(), Clock()):
            placed = ScriptedCall(
                first.http, base_url=BASE, token=TOKEN, to_number=ISE, from_number=CALLER
            )
            placed.start()
            for step, action in enumerate(
                [{"digits": "1"}, {"digits": ORDER_DIGITS}, {"digits": PHONE_LAST4}]
            ):
                placed.http = (second if step % 2 == 0 else first).http
                placed.act(action)
            placed.hang_up()
    assert "佐川急便" in said(placed.steps)
    assert the_call(session).outcome == "delivery_status"
