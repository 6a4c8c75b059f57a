"""Japanese readings for the voice: digits one by one, dates in 令和 or 西暦, clock times."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, time
from typing import Literal

Era = Literal["reiwa", "western"]

_DIGITS = {
    "0": "ぜろ",
    "1": "いち",
    "2": "に",
    "3": "さん",
    "4": "よん",
    "5": "ご",
    "6": "ろく",
    "7": "なな",
    "8": "はち",
    "9": "きゅう",
}
_WEEKDAYS = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
# (first day, name): the eras a delivery or donation date can fall in.
_ERAS = ((date(2019, 5, 1), "令和"), (date(1989, 1, 8), "平成"))


def only_digits(text: str) -> str:
    """Return the digits of a keyed or spoken number, full-width digits included."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch in _DIGITS)


def read_digits(text: str) -> str:
    """Spell a number digit by digit (an order number is read one digit at a time)."""
    return "、".join(_DIGITS[ch] for ch in only_digits(text))


def japanese_year(d: date, era: Era) -> str:
    """Return the year as 令和7年 (元年 for the first) or as 2025年."""
    if era == "western":
        return f"{d.year}年"
    for first, name in _ERAS:
        if d >= first:
            number = d.year - first.year + 1
            return f"{name}{'元' if number == 1 else number}年"
    return f"{d.year}年"


def read_date(d: date, era: Era, *, weekday: bool = False) -> str:
    """Return a date as it is read aloud: 令和7年12月14日 (日曜日)."""
    text = f"{japanese_year(d, era)}{d.month}月{d.day}日"
    return f"{text}、{_WEEKDAYS[d.weekday()]}" if weekday else text


def read_time(t: time) -> str:
    """Return a clock time read in the twelve-hour style: 午前9時, 午後5時30分."""
    half = "午前" if t.hour < 12 else "午後"
    hour = t.hour if t.hour <= 12 else t.hour - 12
    return f"{half}{hour}時{f'{t.minute}分' if t.minute else ''}"


def read_moment(at: datetime) -> str:
    """Return a local date and time read aloud, without the year: 12月8日、月曜日の午前9時."""
    # The year is left out: a callback is always within a few days.
    return f"{at.month}月{at.day}日、{_WEEKDAYS[at.weekday()]}の{read_time(at.time())}"
