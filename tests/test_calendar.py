"""The business calendar: Japanese holidays, the year-end closure and counting open hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.calendar import BusinessCalendar, japanese_holidays

JST = ZoneInfo("Asia/Tokyo")
CAL = BusinessCalendar()
H = timedelta(hours=1)


def jst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


# Business days


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 1, 12), "成人の日"),
        (date(2025, 11, 3), "文化の日"),
        (date(2025, 11, 24), "振替休日 for 勤労感謝の日 on a Sunday"),
        (date(2026, 9, 22), "国民の休日 between 敬老の日 and 秋分の日"),
        (date(2026, 5, 6), "振替休日 for 憲法記念日 on a Sunday"),
        (date(2025, 12, 29), "first day of the year-end closure"),
        (date(2025, 12, 31), "大晦日 in the closure"),
        (date(2026, 1, 2), "a Friday in the closure"),
        (date(2026, 1, 3), "last day of the closure"),
        (date(2026, 1, 17), "a Saturday"),
        (date(2026, 1, 18), "a Sunday"),
    ],
)
def test_holidays_closure_days_and_weekends_are_not_business_days(day: date, why: str) -> None:
    assert not CAL.is_business_day(day), why


@pytest.mark.parametrize(
    "day", [date(2026, 1, 13), date(2025, 12, 26), date(2026, 1, 5), date(2025, 11, 25)]
)
def test_ordinary_weekdays_are_business_days(day: date) -> None:
    assert CAL.is_business_day(day)


def test_a_calendar_without_closure_works_on_december_29() -> None:
    assert BusinessCalendar(closure=None).is_business_day(date(2025, 12, 29))


def test_a_closure_that_does_not_wrap_the_year_closes_only_its_days() -> None:
    obon = BusinessCalendar(closure=((8, 13), (8, 16)))
    assert not obon.is_business_day(date(2027, 8, 13))
    assert obon.is_business_day(date(2027, 8, 12))
    assert obon.is_business_day(date(2027, 12, 29))


def test_extra_open_days_open_even_in_the_closure_and_on_weekends() -> None:
    rush = BusinessCalendar(extra_open=[date(2025, 12, 29), date(2025, 12, 27)])
    assert rush.is_business_day(date(2025, 12, 29))
    assert rush.is_business_day(date(2025, 12, 27))
    assert rush.is_open(jst(2025, 12, 27, 10))


def test_extra_closed_days_close_an_ordinary_weekday() -> None:
    assert not BusinessCalendar(extra_closed=[date(2026, 1, 14)]).is_business_day(date(2026, 1, 14))


def test_a_day_both_extra_open_and_extra_closed_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        BusinessCalendar(extra_open=[date(2026, 1, 14)], extra_closed=[date(2026, 1, 14)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"open_time": time(17, 0), "close_time": time(9, 0)},
        {"open_time": time(9, 0), "close_time": time(9, 0)},
        {"weekdays": frozenset()},
        {"weekdays": frozenset({7})},
        {"closure": ((2, 30), (3, 1))},
        {"open_time": time(9, 0, tzinfo=UTC)},
    ],
)
def test_impossible_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_years_without_holiday_data_are_refused_rather_than_treated_as_holiday_free() -> None:
    with pytest.raises(ValueError, match="2100"):
        CAL.is_business_day(date(2100, 1, 4))


def test_holiday_lookups_are_cached_per_year() -> None:
    japanese_holidays.cache_clear()
    for day in range(1, 29):
        CAL.is_business_day(date(2026, 2, day))
    assert japanese_holidays.cache_info().misses == 1


def test_adding_one_business_day_to_a_friday_gives_monday() -> None:
    assert CAL.add_business_days(date(2026, 1, 16), 1) == date(2026, 1, 19)


def test_adding_one_business_day_skips_a_monday_holiday() -> None:
    assert CAL.add_business_days(date(2026, 1, 9), 1) == date(2026, 1, 13)


def test_adding_business_days_skips_a_run_of_holidays_in_silver_week() -> None:
    assert CAL.add_business_days(date(2026, 9, 18), 1) == date(2026, 9, 24)


def test_adding_one_business_day_jumps_the_year_end_closure() -> None:
    assert CAL.add_business_days(date(2025, 12, 26), 1) == date(2026, 1, 5)


def test_subtracting_a_business_day_goes_back_over_the_closure() -> None:
    assert CAL.add_business_days(date(2026, 1, 5), -1) == date(2025, 12, 26)


def test_adding_zero_business_days_keeps_the_date_even_on_a_weekend() -> None:
    assert CAL.add_business_days(date(2026, 1, 17), 0) == date(2026, 1, 17)


def test_adding_one_business_day_to_a_saturday_gives_monday() -> None:
    assert CAL.add_business_days(date(2026, 1, 17), 1) == date(2026, 1, 19)


# Opening hours


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (jst(2026, 1, 13, 9, 0), True),
        (jst(2026, 1, 13, 16, 59), True),
        (jst(2026, 1, 13, 17, 0), False),
        (jst(2026, 1, 13, 8, 59), False),
        (jst(2026, 1, 12, 10, 0), False),
        (jst(2026, 1, 17, 10, 0), False),
        (jst(2025, 12, 30, 10, 0), False),
    ],
)
def test_open_only_during_hours_on_business_days(at: datetime, expected: bool) -> None:
    assert CAL.is_open(at) is expected


def test_utc_input_is_judged_in_jst() -> None:
    # 00:30 UTC on Tuesday is 09:30 JST; 23:30 UTC on Monday is 08:30 JST on Tuesday.
    assert CAL.is_open(datetime(2026, 1, 13, 0, 30, tzinfo=UTC))
    assert not CAL.is_open(datetime(2026, 1, 12, 23, 30, tzinfo=UTC))


def test_jst_has_no_daylight_saving_so_summer_and_winter_hours_match_in_utc() -> None:
    assert CAL.is_open(datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    assert CAL.is_open(datetime(2026, 1, 14, 0, 0, tzinfo=UTC))
    assert not CAL.is_open(datetime(2026, 7, 1, 8, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.is_open(datetime(2026, 1, 13, 10)),  # noqa: DTZ001
        lambda: CAL.next_opening(datetime(2026, 1, 13, 10)),  # noqa: DTZ001
        lambda: CAL.add_business_time(datetime(2026, 1, 13, 10), H),  # noqa: DTZ001
        lambda: CAL.business_time_between(datetime(2026, 1, 13, 10), jst(2026, 1, 14)),  # noqa: DTZ001
        lambda: CAL.business_time_between(jst(2026, 1, 13), datetime(2026, 1, 14, 10)),  # noqa: DTZ001
    ],
)
def test_naive_datetimes_are_rejected(call: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        call()  # type: ignore[operator]


def test_next_opening_is_now_when_open() -> None:
    assert CAL.next_opening(jst(2026, 1, 13, 11, 15)) == jst(2026, 1, 13, 11, 15)


def test_next_opening_before_hours_is_nine_the_same_day() -> None:
    assert CAL.next_opening(jst(2026, 1, 13, 7, 0)) == jst(2026, 1, 13, 9, 0)


def test_next_opening_after_friday_closing_is_monday_morning() -> None:
    assert CAL.next_opening(jst(2026, 1, 16, 17, 0)) == jst(2026, 1, 19, 9, 0)


def test_next_opening_in_the_closure_is_after_new_year() -> None:
    assert CAL.next_opening(jst(2025, 12, 26, 17, 30)) == jst(2026, 1, 5, 9, 0)


def test_next_opening_is_returned_in_jst_for_a_utc_input() -> None:
    result = CAL.next_opening(datetime(2026, 1, 13, 3, 0, tzinfo=UTC))
    assert result == jst(2026, 1, 13, 12, 0)
    assert result.tzinfo == JST
    assert result.hour == 12


# Counting business time


def test_eight_business_hours_from_friday_afternoon_end_on_monday_afternoon() -> None:
    # Friday 16:00-17:00 is one hour; the other seven run Monday 9:00-16:00.
    assert CAL.add_business_time(jst(2026, 1, 16, 16), 8 * H) == jst(2026, 1, 19, 16)


def test_eight_business_hours_from_friday_skip_a_monday_holiday() -> None:
    assert CAL.add_business_time(jst(2026, 1, 9, 16), 8 * H) == jst(2026, 1, 13, 16)


def test_business_time_skips_culture_day() -> None:
    assert CAL.add_business_time(jst(2025, 10, 31, 15), 4 * H) == jst(2025, 11, 4, 11)


def test_business_time_skips_a_substitute_holiday() -> None:
    assert CAL.add_business_time(jst(2025, 11, 21, 16), 2 * H) == jst(2025, 11, 25, 10)


def test_four_business_hours_from_december_26_end_on_january_5_at_noon() -> None:
    assert CAL.add_business_time(jst(2025, 12, 26, 16), 4 * H) == jst(2026, 1, 5, 12)


def test_business_time_from_a_closed_moment_starts_at_the_next_opening() -> None:
    assert CAL.add_business_time(jst(2026, 1, 17, 12), 90 * timedelta(minutes=1)) == jst(
        2026, 1, 19, 10, 30
    )


def test_a_deadline_that_uses_up_the_day_falls_on_its_closing_time() -> None:
    assert CAL.add_business_time(jst(2026, 1, 16, 16), H) == jst(2026, 1, 16, 17)


def test_zero_business_time_returns_the_start_itself() -> None:
    assert CAL.add_business_time(jst(2026, 1, 17, 12), timedelta(0)) == jst(2026, 1, 17, 12)


def test_negative_business_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_business_time(jst(2026, 1, 13, 10), -H)


def test_utc_start_gives_a_jst_result() -> None:
    # 07:00 UTC on Friday 2026-01-16 is 16:00 JST.
    result = CAL.add_business_time(datetime(2026, 1, 16, 7, 0, tzinfo=UTC), 8 * H)
    assert result == jst(2026, 1, 19, 16)
    assert result.tzinfo == JST


def test_business_time_between_two_hours_of_a_day() -> None:
    assert CAL.business_time_between(jst(2026, 1, 13, 10), jst(2026, 1, 13, 12)) == 2 * H


def test_business_time_between_counts_nothing_over_the_weekend() -> None:
    assert CAL.business_time_between(jst(2026, 1, 16, 16), jst(2026, 1, 19, 10)) == 2 * H


def test_business_time_between_counts_nothing_in_the_closure() -> None:
    assert CAL.business_time_between(jst(2025, 12, 26, 9), jst(2026, 1, 5, 17)) == 16 * H


def test_business_time_between_counts_nothing_on_a_holiday() -> None:
    assert CAL.business_time_between(jst(2026, 1, 9, 17), jst(2026, 1, 13, 9)) == timedelta(0)


def test_business_time_between_is_negative_backwards() -> None:
    assert CAL.business_time_between(jst(2026, 1, 13, 12), jst(2026, 1, 13, 10)) == -2 * H


def test_business_time_between_mixed_time_zones() -> None:
    start = datetime(2026, 1, 13, 0, 0, tzinfo=UTC)  # 09:00 JST
    assert CAL.business_time_between(start, jst(2026, 1, 13, 17)) == 8 * H


def test_a_calendar_in_a_daylight_saving_zone_counts_real_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = BusinessCalendar(tz=berlin)
    # Summer time starts on Sunday 2026-03-29; Friday and Monday both still have 8 hours.
    friday, monday = (
        datetime(2026, 3, 27, 9, tzinfo=berlin),
        datetime(2026, 3, 30, 17, tzinfo=berlin),
    )
    assert cal.business_time_between(friday, monday) == 16 * H
    assert cal.add_business_time(friday, 9 * H) == datetime(2026, 3, 30, 10, tzinfo=berlin)


# Properties

ZONES = st.sampled_from([JST, UTC, ZoneInfo("America/New_York")])
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=ZONES,
)
DURATIONS = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(hours=400))


@settings(max_examples=200, deadline=None)
@given(start=INSTANTS, duration=DURATIONS)
def test_adding_business_time_then_measuring_it_round_trips(
    start: datetime, duration: timedelta
) -> None:
    end = CAL.add_business_time(start, duration)
    assert CAL.business_time_between(start, end) == duration


@settings(max_examples=200, deadline=None)
@given(start=INSTANTS, duration=DURATIONS)
def test_added_business_time_always_ends_within_opening_hours(
    start: datetime, duration: timedelta
) -> None:
    end = CAL.add_business_time(start, duration)
    assert end.tzinfo == JST
    assert CAL.is_business_day(end.date())
    assert time(9, 0) < end.time() <= time(17, 0)
    assert CAL.is_open(end - timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(at=INSTANTS)
def test_next_opening_is_open_and_not_before_the_given_instant(at: datetime) -> None:
    opening = CAL.next_opening(at)
    assert opening >= at
    assert CAL.is_open(opening)
    assert CAL.business_time_between(at, opening) == timedelta(0)


@settings(max_examples=100, deadline=None)
@given(day=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)), n=st.integers(1, 60))
def test_adding_then_subtracting_business_days_returns_to_a_business_day(day: date, n: int) -> None:
    later = CAL.add_business_days(day, n)
    assert CAL.is_business_day(later)
    # From a closed day, going back lands on the business day before it.
    expected = day if CAL.is_business_day(day) else CAL.add_business_days(day, -1)
    assert CAL.add_business_days(later, -n) == expected
