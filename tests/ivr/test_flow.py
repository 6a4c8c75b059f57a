"""The pure call flow and the Japanese readings, one small case at a time."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from support.calendar import JST
from support.ivr import flow, prompts
from support.ivr.flow import Answer, Delivery, Input, Outcome, State, Step
from support.ivr.speech import japanese_year, read_date, read_digits, read_moment, read_time

HOURS = flow.Context(in_hours=True, desk_name="窓口", hours_text="平日")
CLOSED = flow.Context(in_hours=False, desk_name="窓口", hours_text="平日、午前9時から午後5時まで")
DELIVERY = Delivery(7, "発送済", date(2025, 12, 14), "佐川急便")
ANSWERS = (Answer("faq-002", "12月31日までです。"), Answer("faq-023", "二つ目の答え。"))


def digits(value: str, **extra: object) -> Input:
    return Input("digits", digits=value, **extra)  # type: ignore[arg-type]


def text(reply: flow.Reply) -> str:
    return "".join(reply.say + reply.prompt)


def at(step: Step, **fields: object) -> State:
    return State(step=step, **fields)  # type: ignore[arg-type]


class TestReadings:
    @pytest.mark.parametrize(
        ("number", "spoken"),
        [
            ("2025000423", "に、ぜろ、に、ご、ぜろ、ぜろ、ぜろ、よん、に、さん"),
            ("ORD-79", "なな、きゅう"),
            ("１６８", "いち、ろく、はち"),
        ],
    )
    def test_reads_a_number_digit_by_digit(self, number: str, spoken: str) -> None:
        assert read_digits(number) == spoken

    @pytest.mark.parametrize(
        ("day", "era", "year"),
        [
            (date(2025, 12, 14), "reiwa", "令和7年"),
            (date(2019, 5, 1), "reiwa", "令和元年"),
            (date(2019, 4, 30), "reiwa", "平成31年"),
            (date(1989, 1, 8), "reiwa", "平成元年"),
            (date(2025, 12, 14), "western", "2025年"),
        ],
    )
    def test_names_the_year_in_the_configured_era(self, day: date, era: str, year: str) -> None:
        assert japanese_year(day, era) == year  # type: ignore[arg-type]

    def test_reads_a_date_with_its_weekday(self) -> None:
        assert read_date(date(2025, 12, 14), "reiwa", weekday=True) == "令和7年12月14日、日曜日"

    @pytest.mark.parametrize(
        ("clock", "spoken"),
        [(time(9, 0), "午前9時"), (time(17, 30), "午後5時30分"), (time(12, 0), "午後12時")],
    )
    def test_reads_clock_times_in_twelve_hours(self, clock: time, spoken: str) -> None:
        assert read_time(clock) == spoken

    def test_reads_a_moment_without_the_year(self) -> None:
        assert read_moment(datetime(2026, 12, 8, 10, 0, tzinfo=JST)) == "12月8日、火曜日の午前10時"


class TestStart:
    def test_greets_with_the_desk_and_offers_the_operator_in_hours(self) -> None:
        reply = flow.start(HOURS)
        assert reply.say[0] == prompts.GREETING.format(desk="窓口")
        assert prompts.MENU_OPERATOR in text(reply)
        assert reply.gather == flow.Gather(num_digits=1)

    def test_says_the_hours_and_offers_no_operator_when_closed(self) -> None:
        reply = flow.start(CLOSED)
        assert "ただいま受付時間外です" in text(reply)
        assert "午前9時から午後5時まで" in text(reply)
        assert prompts.MENU_OPERATOR not in text(reply)

    def test_greets_a_municipality_line_by_its_name(self) -> None:
        ctx = flow.Context(in_hours=True, desk_name="窓口", municipality_name="伊勢市")
        assert "伊勢市 ふるさと納税" in flow.start(ctx).say[0]

    def test_reads_the_seasonal_notices_after_the_greeting(self) -> None:
        ctx = flow.Context(in_hours=True, desk_name="窓口", seasonal=("一月十日必着です。",))
        assert flow.start(ctx).say[1] == "一月十日必着です。"


class TestMenu:
    def test_one_asks_for_the_order_number(self) -> None:
        reply = flow.step(State(), digits("1"), HOURS)
        assert reply.state.step is Step.ORDER_NO
        assert reply.gather is not None and reply.gather.finish_on_key == "#"

    def test_two_asks_for_a_spoken_question(self) -> None:
        reply = flow.step(State(), digits("2"), HOURS)
        assert reply.state.step is Step.QUESTION
        assert reply.gather is not None and reply.gather.speech and not reply.gather.digits

    def test_three_goes_to_voicemail(self) -> None:
        reply = flow.step(State(), digits("3"), HOURS)
        assert reply.state.step is Step.VM_SUMMARY
        assert reply.state.voicemail_reason == "menu"

    def test_zero_queues_for_an_operator_in_hours(self) -> None:
        reply = flow.step(State(), digits("0"), HOURS)
        assert reply.operator and reply.state.step is Step.OPERATOR
        assert prompts.OPERATOR_CONNECTING in reply.say

    def test_zero_out_of_hours_says_so_and_stays_in_the_menu(self) -> None:
        reply = flow.step(State(), digits("0"), CLOSED)
        assert not reply.operator and reply.state.step is Step.MENU
        assert prompts.OPERATOR_CLOSED in reply.say

    def test_nine_repeats_the_menu_without_counting_a_reprompt(self) -> None:
        reply = flow.step(State(reprompts=1), digits("9"), HOURS)
        assert reply.state.step is Step.MENU and reply.state.reprompts == 0

    @pytest.mark.parametrize("inp", [Input("silence"), digits("7"), Input("speech", speech="あ")])
    def test_no_input_or_nonsense_reprompts_twice_then_voicemail(self, inp: Input) -> None:
        first = flow.step(State(), inp, HOURS)
        assert first.state.step is Step.MENU and prompts.REPROMPT in first.say
        second = flow.step(first.state, inp, HOURS)
        assert second.state.step is Step.MENU and second.state.reprompts == 2
        third = flow.step(second.state, inp, HOURS)
        assert third.state.step is Step.VM_SUMMARY
        assert third.state.voicemail_reason == "no_input"

    def test_a_valid_choice_resets_the_reprompt_count(self) -> None:
        reply = flow.step(State(reprompts=2), digits("1"), HOURS)
        assert reply.state.reprompts == 0

    def test_delivery_status_is_not_offered_once_locked(self) -> None:
        locked = State(status_locked=True)
        assert prompts.MENU_STATUS not in text(flow.step(locked, digits("9"), HOURS))
        reply = flow.step(locked, digits("1"), HOURS)
        assert reply.state.step is Step.MENU and prompts.STATUS_LOCKED in reply.say


class TestDeliveryStatus:
    def test_any_number_leads_to_the_phone_digits(self) -> None:
        known = flow.step(at(Step.ORDER_NO), digits("2025000423", order_id=7), HOURS)
        unknown = flow.step(at(Step.ORDER_NO), digits("1111", order_id=None), HOURS)
        # The caller cannot tell a real number from a wrong one before the phone check.
        assert known.prompt == unknown.prompt
        assert known.say == (
            "ご入力の番号は、に、ぜろ、に、ご、ぜろ、ぜろ、ぜろ、よん、に、さん、です。",
        )
        assert unknown.say == ("ご入力の番号は、いち、いち、いち、いち、です。",)
        assert known.state.step is unknown.state.step is Step.PHONE_LAST4
        assert known.state.order_id == 7 and unknown.state.order_id is None

    def test_verified_caller_hears_status_ship_date_and_carrier(self) -> None:
        state = at(Step.PHONE_LAST4, order_id=7)
        reply = flow.step(state, digits("4225", delivery=DELIVERY), HOURS)
        said = text(reply)
        assert "現在、発送済です" in said
        assert "令和7年12月14日" in said and "佐川急便" in said
        assert reply.state.step is Step.ANYTHING_ELSE
        assert reply.state.outcome is Outcome.DELIVERY_STATUS
        assert reply.effects == (flow.DeliveryRead(7),)

    def test_the_date_follows_the_era_setting(self) -> None:
        ctx = flow.Context(in_hours=True, desk_name="窓口", era="western")
        reply = flow.step(at(Step.PHONE_LAST4, order_id=7), digits("4225", delivery=DELIVERY), ctx)
        assert "2025年12月14日" in text(reply)

    def test_an_order_not_yet_shipped_says_so(self) -> None:
        waiting = Delivery(7, "発送準備中", None, None)
        reply = flow.step(at(Step.PHONE_LAST4, order_id=7), digits("4225", delivery=waiting), HOURS)
        assert prompts.STATUS_NOT_SHIPPED in reply.say

    def test_an_unshipped_order_hears_its_municipality_s_deadline(self) -> None:
        waiting = Delivery(7, "発送準備中", None, None, ship_by=date(2025, 12, 30))
        reply = flow.step(at(Step.PHONE_LAST4, order_id=7), digits("4225", delivery=waiting), HOURS)
        assert "発送は、令和7年12月30日までの予定です。" in text(reply)

    def test_a_late_order_apologises_and_points_to_voicemail(self) -> None:
        late = Delivery(7, "入金確認済", None, None, ship_by=date(2025, 12, 30), late=True)
        reply = flow.step(at(Step.PHONE_LAST4, order_id=7), digits("4225", delivery=late), HOURS)
        assert prompts.STATUS_LATE in reply.say and "12月30日" not in text(reply)

    def test_wrong_digits_ask_again_from_the_number(self) -> None:
        reply = flow.step(at(Step.PHONE_LAST4, order_id=7), digits("0000"), HOURS)
        assert reply.state.step is Step.ORDER_NO and reply.state.wrong_tries == 1
        assert reply.effects == (flow.VerificationFailed(attempt=1, locked=False, order_id=7),)

    def test_facts_of_another_order_are_never_read(self) -> None:
        reply = flow.step(
            at(Step.PHONE_LAST4, order_id=8), digits("4225", delivery=DELIVERY), HOURS
        )
        assert reply.state.wrong_tries == 1 and "発送済" not in text(reply)

    def test_three_wrong_tries_end_the_attempt(self) -> None:
        state = at(Step.PHONE_LAST4, order_id=None, wrong_tries=2)
        reply = flow.step(state, digits("1234"), HOURS)
        assert reply.state.status_locked and reply.state.step is Step.MENU
        assert reply.state.outcome is Outcome.VERIFICATION_FAILED
        assert prompts.VERIFY_LOCKED in reply.say
        assert reply.effects == (flow.VerificationFailed(attempt=3, locked=True, order_id=None),)

    def test_silence_at_the_number_reprompts(self) -> None:
        reply = flow.step(at(Step.ORDER_NO), Input("silence"), HOURS)
        assert reply.state.step is Step.ORDER_NO and reply.state.reprompts == 1

    def test_after_the_status_silence_says_goodbye(self) -> None:
        reply = flow.step(at(Step.ANYTHING_ELSE), Input("silence"), HOURS)
        assert reply.hangup and reply.state.step is Step.ENDED

    def test_after_the_status_a_key_is_a_menu_choice(self) -> None:
        reply = flow.step(at(Step.ANYTHING_ELSE), digits("2"), HOURS)
        assert reply.state.step is Step.QUESTION


class TestQuestions:
    def test_reads_the_best_short_answer_and_asks_to_confirm(self) -> None:
        reply = flow.step(
            at(Step.QUESTION), Input("speech", speech="いつまで", answers=ANSWERS), HOURS
        )
        assert reply.say == ("ご案内します。12月31日までです。",)
        assert reply.state.step is Step.CONFIRM and reply.prompt == (prompts.CONFIRM,)

    @pytest.mark.parametrize(
        "yes",
        [
            digits("1"),
            Input("speech", speech="はい、解決しました"),
            Input("speech", speech="問題ないです"),
        ],
    )
    def test_a_yes_is_answered(self, yes: Input) -> None:
        state = at(Step.CONFIRM, candidates=ANSWERS, questions=1)
        reply = flow.step(state, yes, HOURS)
        assert reply.state.outcome is Outcome.FAQ_ANSWERED
        assert reply.effects == (flow.FaqAnswered("faq-002"),)

    @pytest.mark.parametrize(
        "no",
        [
            digits("2"),
            Input("speech", speech="いいえ、違います"),
            Input("speech", speech="大丈夫じゃないです"),
            Input("speech", speech="解決しません"),
        ],
    )
    def test_a_no_offers_the_next_answer(self, no: Input) -> None:
        state = at(Step.CONFIRM, candidates=ANSWERS, questions=1)
        reply = flow.step(state, no, HOURS)
        assert reply.say == ("こちらのご案内はいかがでしょうか。二つ目の答え。",)
        assert reply.state.offered == 1

    def test_unresolved_after_all_answers_asks_again(self) -> None:
        state = at(Step.CONFIRM, candidates=ANSWERS, offered=1, questions=1)
        reply = flow.step(state, digits("2"), HOURS)
        assert reply.state.step is Step.QUESTION and reply.prompt == (prompts.QUESTION_AGAIN,)

    def test_unresolved_questions_end_in_voicemail(self) -> None:
        state = at(Step.CONFIRM, candidates=ANSWERS[:1], questions=flow.MAX_QUESTIONS)
        reply = flow.step(state, digits("2"), HOURS)
        assert reply.state.step is Step.VM_SUMMARY
        assert reply.state.voicemail_reason == "unanswered"

    def test_a_question_without_answer_is_asked_again_then_voicemail(self) -> None:
        state = at(Step.QUESTION)
        for _ in range(flow.MAX_REPROMPTS):
            reply = flow.step(state, Input("speech", speech="ほげほげ"), HOURS)
            assert reply.state.step is Step.QUESTION and prompts.QUESTION_NO_ANSWER in reply.say
            state = reply.state
        reply = flow.step(state, Input("speech", speech="ほげほげ"), HOURS)
        assert reply.state.step is Step.VM_SUMMARY
        assert reply.state.voicemail_reason == "unanswered"

    def test_asking_for_a_person_while_confirming_goes_to_voicemail(self) -> None:
        state = at(Step.CONFIRM, candidates=ANSWERS)
        reply = flow.step(state, Input("speech", speech="担当の人に伝言したい"), HOURS)
        assert reply.state.step is Step.VM_SUMMARY


class TestVoicemail:
    def test_summary_then_record(self) -> None:
        reply = flow.step(at(Step.VM_SUMMARY), Input("speech", speech="返礼品が届かない"), HOURS)
        assert reply.state.summary == "返礼品が届かない" and reply.record is not None

    def test_a_recording_becomes_a_voicemail_with_a_callback(self) -> None:
        ctx = flow.Context(in_hours=False, desk_name="窓口", callback_text="12月8日ごろまでに")
        state = at(Step.VM_RECORD, summary="届かない", voicemail_reason="menu")
        inp = Input("recorded", recording_url="https://r/RE1", recording_seconds=12)
        reply = flow.step(state, inp, ctx)
        assert reply.hangup and reply.state.outcome is Outcome.VOICEMAIL
        assert "12月8日ごろまでに" in text(reply)
        assert reply.effects == (flow.VoicemailLeft("届かない", "https://r/RE1", 12, "menu"),)

    def test_nothing_said_and_nothing_recorded_leaves_no_voicemail(self) -> None:
        inp = Input("recorded", recording_url="https://r/RE1", recording_seconds=0)
        reply = flow.step(at(Step.VM_RECORD), inp, HOURS)
        assert reply.effects == () and reply.state.outcome is Outcome.VOICEMAIL_EMPTY


class TestOperator:
    def test_an_answered_call_ends_as_operator(self) -> None:
        reply = flow.step(at(Step.OPERATOR), Input("operator", bridged=True), HOURS)
        assert reply.hangup and reply.state.outcome is Outcome.OPERATOR

    def test_no_answer_continues_automated_without_offering_zero_again(self) -> None:
        reply = flow.step(at(Step.OPERATOR), Input("operator", bridged=False), HOURS)
        assert reply.state.step is Step.MENU and prompts.OPERATOR_MISSED in reply.say
        assert prompts.MENU_OPERATOR not in text(reply)


class TestHangup:
    def test_a_hang_up_mid_flow_is_abandoned(self) -> None:
        assert flow.hangup(at(Step.ORDER_NO)).state.outcome is Outcome.ABANDONED

    def test_a_hang_up_keeps_an_earlier_outcome(self) -> None:
        state = at(Step.ANYTHING_ELSE, outcome=Outcome.DELIVERY_STATUS)
        assert flow.hangup(state).state.outcome is Outcome.DELIVERY_STATUS

    def test_a_hang_up_while_recording_keeps_the_spoken_summary(self) -> None:
        reply = flow.hangup(at(Step.VM_RECORD, summary="届かない", voicemail_reason="menu"))
        assert reply.effects == (flow.VoicemailLeft("届かない", "", 0, "menu"),)

    def test_an_ended_call_stays_ended(self) -> None:
        reply = flow.step(at(Step.ENDED), digits("1"), HOURS)
        assert reply.hangup and reply.state.step is Step.ENDED


def test_state_survives_its_json_form() -> None:
    state = State(step=Step.CONFIRM, candidates=ANSWERS, offered=1, outcome=Outcome.DELIVERY_STATUS)
    assert State.from_json(state.to_json()) == state
