"""SLA targets per category and the clock: dues, warning, breach, met and pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.calendar import BusinessCalendar
from support.tickets.sla import (
    DEFAULT_TARGETS,
    SlaClock,
    SlaTarget,
    clock_for,
    target_for,
    targets_from_dict,
)

JST = ZoneInfo("Asia/Tokyo")
CAL = BusinessCalendar()
H = timedelta(hours=1)
M = timedelta(minutes=1)
CATEGORIES = (
    "品質",
    "破損",
    "配送遅延",
    "誤配送",
    "不着",
    "利用券",
    "受領証明書",
    "ワンストップ",
    "個人情報",
    "その他",
)


def jst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


# Monday 2026-01-19 09:00 JST, an ordinary business week.
MONDAY = jst(2026, 1, 19, 9)
TARGET = SlaTarget(first_response=4 * H, resolution=16 * H)


def clock(**kwargs: object) -> SlaClock:
    return SlaClock(calendar=CAL, target=TARGET, opened_at=MONDAY, **kwargs)  # type: ignore[arg-type]


# Targets


def test_every_complaint_category_has_a_default_target() -> None:
    assert set(DEFAULT_TARGETS) == set(CATEGORIES)


def test_food_safety_and_personal_data_are_the_tightest_first_responses() -> None:
    tightest = min(t.first_response for t in DEFAULT_TARGETS.values())
    assert DEFAULT_TARGETS["品質"].first_response == tightest
    assert DEFAULT_TARGETS["個人情報"].first_response == tightest
    assert DEFAULT_TARGETS["その他"].first_response > tightest


def test_an_unknown_category_falls_back_to_other() -> None:
    assert target_for("返礼品の変更") == DEFAULT_TARGETS["その他"]


def test_targets_load_from_a_dict_of_business_hours() -> None:
    targets = targets_from_dict({"破損": {"first_response": 2, "resolution": 12.5}})
    assert targets["破損"] == SlaTarget(first_response=2 * H, resolution=timedelta(hours=12.5))
    assert targets["品質"] == DEFAULT_TARGETS["品質"]


def test_a_configured_category_may_override_only_one_target() -> None:
    targets = targets_from_dict({"不着": {"first_response": timedelta(hours=2)}})
    assert targets["不着"].first_response == 2 * H
    assert targets["不着"].resolution == DEFAULT_TARGETS["不着"].resolution


def test_a_new_category_needs_both_targets() -> None:
    with pytest.raises(ValueError, match="resolution is missing"):
        targets_from_dict({"寄附金の返金": {"first_response": 8}})
    added = targets_from_dict({"寄附金の返金": {"first_response": 8, "resolution": 40}})
    assert target_for("寄附金の返金", added).resolution == 40 * H


@pytest.mark.parametrize(
    "raw",
    [
        {"破損": {"first_response": "2h"}},
        {"破損": {"first_response": True}},
        {"破損": {"respond": 2}},
        {"破損": {"first_response": 0}},
        {"破損": {"first_response": 30, "resolution": 10}},
        {"": {"first_response": 1, "resolution": 2}},
    ],
)
def test_malformed_target_configuration_is_refused(raw: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValueError):
        targets_from_dict(raw)


def test_loading_targets_does_not_change_the_defaults() -> None:
    targets_from_dict({"品質": {"first_response": 3}})
    assert DEFAULT_TARGETS["品質"].first_response == H


# Dues


def test_first_response_due_counts_business_hours() -> None:
    assert clock().first_response_due == jst(2026, 1, 19, 13)


def test_resolution_due_after_two_business_days_is_tuesday_closing() -> None:
    assert clock().resolution_due == jst(2026, 1, 20, 17)


def test_a_food_safety_complaint_on_friday_evening_is_due_after_the_monday_holiday() -> None:
    sla = clock_for(CAL, "品質", jst(2026, 1, 9, 16, 30))
    # Half an hour on Friday, then 成人の日 (Mon 1/12) is skipped: due Tuesday 09:30.
    assert sla.first_response_due == jst(2026, 1, 13, 9, 30)


def test_a_complaint_just_before_the_year_end_closure_is_due_in_january() -> None:
    sla = SlaClock(
        calendar=CAL,
        target=SlaTarget(first_response=4 * H, resolution=8 * H),
        opened_at=jst(2025, 12, 26, 16),
    )
    assert sla.first_response_due == jst(2026, 1, 5, 12)
    assert sla.resolution_due == jst(2026, 1, 5, 16)


def test_a_utc_opening_time_gives_jst_dues() -> None:
    sla = SlaClock(calendar=CAL, target=TARGET, opened_at=datetime(2026, 1, 19, 0, tzinfo=UTC))
    assert sla.first_response_due == jst(2026, 1, 19, 13)
    assert sla.first_response_due.tzinfo == JST


# States


def test_a_fresh_ticket_is_ok() -> None:
    assert clock().state(MONDAY + H) == "ok"


def test_exactly_a_quarter_left_is_still_ok() -> None:
    assert clock().first_response_state(MONDAY + 3 * H) == "ok"


def test_less_than_a_quarter_left_is_a_warning() -> None:
    assert clock().state(MONDAY + 3 * H + M) == "warning"


def test_at_the_due_instant_it_is_a_warning_not_yet_a_breach() -> None:
    assert clock().state(jst(2026, 1, 19, 13)) == "warning"


def test_a_minute_past_the_due_instant_is_a_breach() -> None:
    sla = clock()
    assert sla.state(jst(2026, 1, 19, 13, 1)) == "breached"
    assert sla.remaining(jst(2026, 1, 19, 13, 1)) == -M


def test_the_warning_fraction_is_configurable() -> None:
    assert clock(warning_fraction=0.5).state(MONDAY + 2 * H + M) == "warning"
    assert clock().state(MONDAY + 2 * H + M) == "ok"


def test_a_response_due_friday_evening_is_breached_on_saturday_though_no_business_time_passed() -> (
    None
):
    sla = SlaClock(calendar=CAL, target=TARGET, opened_at=jst(2026, 1, 16, 13))
    assert sla.first_response_due == jst(2026, 1, 16, 17)
    assert sla.state(jst(2026, 1, 17, 10)) == "breached"
    assert sla.remaining(jst(2026, 1, 17, 10)) == timedelta(0)


def test_after_a_timely_first_response_the_resolution_clock_decides() -> None:
    sla = clock(first_response_at=MONDAY + H)
    assert sla.first_response_state(MONDAY + 2 * H) == "met"
    assert sla.state(MONDAY + 2 * H) == "ok"
    assert sla.remaining(MONDAY + 2 * H) == 14 * H


def test_the_resolution_clock_warns_in_its_last_quarter() -> None:
    sla = clock(first_response_at=MONDAY + H)
    assert sla.state(jst(2026, 1, 20, 13, 1)) == "warning"


def test_an_unresolved_ticket_past_its_resolution_due_is_breached() -> None:
    sla = clock(first_response_at=MONDAY + H)
    assert sla.state(jst(2026, 1, 21, 9, 30)) == "breached"
    assert sla.remaining(jst(2026, 1, 21, 9, 30)) == -30 * M


def test_a_ticket_resolved_in_time_is_met() -> None:
    sla = clock(first_response_at=MONDAY + H, resolved_at=jst(2026, 1, 20, 10))
    assert sla.state(jst(2026, 2, 1, 10)) == "met"
    assert sla.remaining(jst(2026, 2, 1, 10)) is None


def test_a_resolution_counts_as_the_first_response() -> None:
    sla = clock(resolved_at=MONDAY + 2 * H)
    assert sla.first_response_state(MONDAY + 3 * H) == "met"
    assert sla.state(MONDAY + 3 * H) == "met"


def test_a_late_first_response_keeps_the_ticket_breached_after_resolution() -> None:
    sla = clock(first_response_at=MONDAY + 5 * H, resolved_at=MONDAY + 6 * H)
    assert sla.resolution_state(MONDAY + 7 * H) == "met"
    assert sla.state(MONDAY + 7 * H) == "breached"


def test_a_late_resolution_is_breached_for_good() -> None:
    sla = clock(first_response_at=MONDAY + H, resolved_at=jst(2026, 1, 21, 10))
    assert sla.state(jst(2026, 3, 1, 10)) == "breached"


def test_a_later_response_does_not_count_when_looking_at_an_earlier_instant() -> None:
    sla = clock(first_response_at=MONDAY + 2 * H)
    assert sla.first_response_state(MONDAY + H) == "ok"
    assert sla.remaining(MONDAY + H) == 3 * H


# Pauses


def test_waiting_on_the_donor_moves_the_resolution_due_by_the_paused_business_time() -> None:
    # Paused Monday 10:00 to Tuesday 10:00: eight business hours.
    sla = clock(paused=((MONDAY + H, jst(2026, 1, 20, 10)),))
    assert sla.resolution_due == jst(2026, 1, 21, 17)


def test_a_pause_does_not_move_the_first_response_due() -> None:
    sla = clock(paused=((MONDAY + H, jst(2026, 1, 20, 10)),))
    assert sla.first_response_due == jst(2026, 1, 19, 13)


def test_an_open_pause_stops_the_resolution_clock() -> None:
    sla = clock(first_response_at=MONDAY + H, paused=((MONDAY + 2 * H, None),))
    assert sla.resolution_due is None
    assert sla.resolution_remaining(jst(2026, 2, 20, 10)) == 14 * H
    assert sla.state(jst(2026, 2, 20, 10)) == "ok"


def test_resolving_ends_an_open_pause_and_is_met() -> None:
    sla = clock(
        first_response_at=MONDAY + H,
        paused=((MONDAY + 2 * H, None),),
        resolved_at=jst(2026, 2, 20, 10),
    )
    assert sla.resolution_due is not None
    assert sla.state(jst(2026, 2, 20, 11)) == "met"


def test_overlapping_pauses_count_once() -> None:
    twice = clock(
        paused=(
            (MONDAY + H, MONDAY + 3 * H),
            (MONDAY + 2 * H, MONDAY + 4 * H),
            (MONDAY + 3 * H, MONDAY + 3 * H + 30 * M),
        )
    )
    assert twice.resolution_due == CAL.add_business_time(MONDAY, 19 * H)


def test_a_pause_before_opening_is_clipped() -> None:
    sla = clock(paused=((MONDAY - 48 * H, MONDAY + H),))
    assert sla.resolution_due == CAL.add_business_time(MONDAY, 17 * H)


def test_a_pause_after_the_due_does_not_undo_a_breach() -> None:
    sla = clock(first_response_at=MONDAY + H, paused=((jst(2026, 1, 21, 10), None),))
    assert sla.resolution_due == jst(2026, 1, 20, 17)
    assert sla.state(jst(2026, 1, 22, 10)) == "breached"


def test_a_paused_ticket_does_not_warn_while_its_clock_is_stopped() -> None:
    sla = clock(first_response_at=MONDAY + H, paused=((MONDAY + 2 * H, jst(2026, 1, 26, 9)),))
    assert sla.state(jst(2026, 1, 23, 16)) == "ok"


# Bad input


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opened_at": datetime(2026, 1, 19, 9)},  # noqa: DTZ001
        {"first_response_at": datetime(2026, 1, 19, 10)},  # noqa: DTZ001
        {"paused": ((datetime(2026, 1, 19, 10), None),)},  # noqa: DTZ001
    ],
)
def test_naive_datetimes_are_rejected(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"calendar": CAL, "target": TARGET, "opened_at": MONDAY}
    with pytest.raises(ValueError, match="naive"):
        SlaClock(**(base | kwargs))  # type: ignore[arg-type]


def test_a_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock().state(datetime(2026, 1, 19, 10))  # noqa: DTZ001


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_response_at": MONDAY - H},
        {"resolved_at": MONDAY - H},
        {"paused": ((MONDAY + 2 * H, MONDAY + H),)},
        {"warning_fraction": 1.5},
    ],
)
def test_impossible_clocks_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        clock(**kwargs)


def test_zero_or_inverted_targets_are_refused() -> None:
    with pytest.raises(ValueError):
        SlaTarget(first_response=timedelta(0), resolution=H)
    with pytest.raises(ValueError):
        SlaTarget(first_response=2 * H, resolution=H)


# Properties

OFFSETS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
PAUSES = st.lists(st.tuples(OFFSETS, st.timedeltas(min_value=M, max_value=timedelta(days=5))))


@settings(max_examples=150, deadline=None)
@given(pauses=PAUSES)
def test_pauses_never_bring_the_resolution_due_forward_and_it_uses_up_the_target(
    pauses: list[tuple[timedelta, timedelta]],
) -> None:
    sla = clock(paused=tuple((MONDAY + a, MONDAY + a + length) for a, length in pauses))
    due = sla.resolution_due
    assert due is not None
    assert due >= clock().resolution_due  # type: ignore[operator]
    assert sla.resolution_remaining(due) == timedelta(0)
    assert sla.resolution_state(due) != "breached"
    assert sla.resolution_state(due + timedelta(microseconds=1)) == "breached"


@settings(max_examples=150, deadline=None)
@given(offset=OFFSETS)
def test_an_untouched_ticket_is_never_met(offset: timedelta) -> None:
    assert clock().state(MONDAY + offset) in {"ok", "warning", "breached"}
