"""The IVR's configuration: numbers, seasonal notices, keyed numbers, callback times."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from support.calendar import JST
from support.config import SeasonalMessage, Settings
from support.errors import BadInput
from support.ivr.setup import IvrSetup, normalise_number


def setup(**values: object) -> IvrSetup:
    return IvrSetup.from_settings(Settings(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+81 596-00-0101", "+81596000101"),
        ("0596-00-0101", "+81596000101"),
        ("＋８１１２", "+8112"),
    ],
)
def test_numbers_are_compared_in_e164(written: str, e164: str) -> None:
    assert normalise_number(written) == e164


def test_the_dialled_number_selects_the_municipality() -> None:
    ivr = setup(ivr_numbers={"0596-00-0101": "ise", "+81120000100": None})
    assert ivr.municipality_of("+81596000101") == "ise"
    assert ivr.municipality_of("+81120000100") is None
    assert ivr.municipality_of("+81999999999") is None
    assert ivr.general_number() == "+81120000100"
    assert ivr.number_of("ise") == "+81596000101"


def test_seasonal_notices_follow_their_date_range_across_the_new_year() -> None:
    ivr = setup(
        ivr_seasonal_messages=[
            SeasonalMessage(start="12-01", end="01-10", text="年末年始"),
            SeasonalMessage(start="03-01", end="03-15", text="申告"),
            SeasonalMessage(start="12-20", end="12-31", text="伊勢だけ", municipality="ise"),
        ]
    )
    assert ivr.seasonal_for(date(2026, 12, 25), "ise") == ("年末年始", "伊勢だけ")
    assert ivr.seasonal_for(date(2026, 12, 25), "yokohama") == ("年末年始",)
    assert ivr.seasonal_for(date(2027, 1, 10), None) == ("年末年始",)
    assert ivr.seasonal_for(date(2027, 1, 11), None) == ()
    assert ivr.seasonal_for(date(2027, 3, 15), None) == ("申告",)


def test_a_bad_seasonal_date_stops_the_start() -> None:
    with pytest.raises(BadInput):
        setup(ivr_seasonal_messages=[SeasonalMessage(start="02-30", end="03-01", text="x")])


def test_dial_mode_needs_a_number() -> None:
    with pytest.raises(BadInput):
        setup(ivr_operator_mode="dial")


def test_keyed_digits_map_to_the_configured_number_formats() -> None:
    ivr = setup()
    assert ivr.keyed_numbers("2025000423") == (["ORD-2025-000423"], [])
    assert ivr.keyed_numbers("258416557") == ([], ["D25-8416557"])
    assert ivr.keyed_numbers("12") == ([], [])


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2026, 12, 8, 10, 0, tzinfo=JST), datetime(2026, 12, 8, 11, 0, tzinfo=JST)),
        (datetime(2026, 12, 8, 16, 30, tzinfo=JST), datetime(2026, 12, 9, 9, 30, tzinfo=JST)),
        (datetime(2026, 12, 11, 21, 0, tzinfo=JST), datetime(2026, 12, 14, 10, 0, tzinfo=JST)),
        (datetime(2026, 12, 28, 18, 0, tzinfo=JST), datetime(2027, 1, 4, 10, 0, tzinfo=JST)),
    ],
    ids=["in-hours", "before-closing", "friday-night", "year-end"],
)
def test_the_callback_is_due_within_the_next_opening_hour(now: datetime, due: datetime) -> None:
    assert setup().callback_due(now) == due


def test_the_hours_are_read_in_japanese() -> None:
    ivr = setup(ivr_open_time="08:30", ivr_close_time="18:00")
    assert ivr.hours_text() == "土日祝日と年末年始を除く平日、午前8時30分から午後6時まで"
