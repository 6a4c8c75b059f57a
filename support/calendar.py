"""Business days and opening hours: Japanese public holidays, the year-end closure, SLA time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from holidays.countries.japan import Japan

JST = ZoneInfo("Asia/Tokyo")
# The library's Japanese data runs from 1949 to 2099; outside that it silently returns no
# holidays, which would make every weekday a business day, so we refuse those years instead.
HOLIDAY_YEARS = range(Japan.start_year, Japan.end_year + 1)
# A calendar with no business day in this many days is misconfigured; stop rather than loop.
_MAX_SEARCH_DAYS = 3660

MonthDay = tuple[int, int]


@lru_cache(maxsize=256)
def japanese_holidays(year: int) -> frozenset[date]:
    """Return Japan's public holidays of one year, substitute and citizens' holidays included."""
    if year not in HOLIDAY_YEARS:
        raise ValueError(f"no Japanese holiday data for {year}")
    return frozenset(Japan(years=year))


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give a time zone")


def _month_day(value: MonthDay) -> MonthDay:
    month, day = value
    date(2000, month, day)  # a leap year, so 2/29 is accepted; raises on 2/30 or month 13
    return (month, day)


class BusinessCalendar:
    """Opening hours on business days: weekdays that are neither holidays nor closure days."""

    def __init__(
        self,
        *,
        open_time: time = time(9, 0),
        close_time: time = time(17, 0),
        weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4}),
        closure: tuple[MonthDay, MonthDay] | None = ((12, 29), (1, 3)),
        tz: ZoneInfo = JST,
        extra_closed: Iterable[date] = (),
        extra_open: Iterable[date] = (),
    ) -> None:
        """Validate and keep the opening hours, working weekdays and exceptions."""
        if open_time.tzinfo is not None or close_time.tzinfo is not None:
            raise ValueError("open_time and close_time are wall-clock times in tz: no tzinfo")
        # One window per day keeps the arithmetic simple; overnight shifts are not needed.
        if not open_time < close_time:
            raise ValueError("open_time must be before close_time")
        if not weekdays or not set(weekdays) <= set(range(7)):
            raise ValueError("weekdays must be a non-empty subset of 0 (Monday) .. 6 (Sunday)")
        self.open_time = open_time
        self.close_time = close_time
        self.weekdays = frozenset(weekdays)
        self.closure = None if closure is None else (_month_day(closure[0]), _month_day(closure[1]))
        self.tz = tz
        self.extra_closed = frozenset(extra_closed)
        self.extra_open = frozenset(extra_open)
        both = self.extra_closed & self.extra_open
        if both:
            raise ValueError(f"dates both extra_closed and extra_open: {sorted(both)}")

    def __repr__(self) -> str:
        """Show the settings that decide the hours."""
        return (
            f"BusinessCalendar(open_time={self.open_time!r}, close_time={self.close_time!r}, "
            f"weekdays={sorted(self.weekdays)!r}, closure={self.closure!r}, tz={self.tz!r})"
        )

    # Days

    def in_closure(self, d: date) -> bool:
        """Tell whether the date falls in the yearly closure (which may wrap the new year)."""
        if self.closure is None:
            return False
        start, end = self.closure
        key = (d.month, d.day)
        if start <= end:
            return start <= key <= end
        return key >= start or key <= end

    def is_holiday(self, d: date) -> bool:
        """Tell whether the date is a Japanese public holiday."""
        return d in japanese_holidays(d.year)

    def is_business_day(self, d: date) -> bool:
        """Tell whether the contact center works on this date."""
        # Explicit exceptions win: e.g. opening on 12/29 for the year-end donation rush.
        if d in self.extra_open:
            return True
        if d in self.extra_closed or d.weekday() not in self.weekdays:
            return False
        return not self.in_closure(d) and not self.is_holiday(d)

    def _business_days_from(self, d: date, step: int) -> Iterator[date]:
        """Yield business days from d (inclusive) in the direction of step."""
        idle = 0
        while True:
            if self.is_business_day(d):
                idle = 0
                yield d
            else:
                idle += 1
                if idle > _MAX_SEARCH_DAYS:
                    raise ValueError(f"no business day within {_MAX_SEARCH_DAYS} days of {d}")
            d += timedelta(days=step)

    def add_business_days(self, d: date, n: int) -> date:
        """Return the n-th business day after d (before it if n < 0); d itself when n == 0."""
        if n == 0:
            return d
        step = 1 if n > 0 else -1
        days = self._business_days_from(d + timedelta(days=step), step)
        for _ in range(abs(n) - 1):
            next(days)
        return next(days)

    # Instants

    def _window(self, d: date) -> tuple[datetime, datetime]:
        """Return the day's opening window in UTC (aware arithmetic in one zone ignores DST)."""
        start = datetime.combine(d, self.open_time, tzinfo=self.tz).astimezone(UTC)
        end = datetime.combine(d, self.close_time, tzinfo=self.tz).astimezone(UTC)
        return start, end

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def is_open(self, at: datetime) -> bool:
        """Tell whether the contact center is open at this instant (closing time excluded)."""
        _require_aware(at)
        d = self._local_date(at)
        if not self.is_business_day(d):
            return False
        start, end = self._window(d)
        return start <= at < end

    def next_opening(self, at: datetime) -> datetime:
        """Return `at` if open, else the next instant the contact center opens."""
        _require_aware(at)
        for d in self._business_days_from(self._local_date(at), 1):
            start, end = self._window(d)
            if at < end:
                return max(start, at.astimezone(UTC)).astimezone(self.tz)
        raise AssertionError("unreachable: the generator raises or yields forever")

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """Return the earliest instant by which `duration` of open time has passed since start."""
        # A deadline that uses up a day exactly falls on that day's closing time, not on the
        # next opening, so "due today" stays today.
        _require_aware(start)
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        cursor = start.astimezone(UTC)
        if not duration:
            return cursor.astimezone(self.tz)
        left = duration
        for d in self._business_days_from(self._local_date(start), 1):
            open_at, close_at = self._window(d)
            begin = max(open_at, cursor)
            if begin >= close_at:
                continue
            if left <= close_at - begin:
                return (begin + left).astimezone(self.tz)
            left -= close_at - begin
        raise AssertionError("unreachable: the generator raises or yields forever")

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the open time between two instants (negative when end is before start)."""
        _require_aware(start)
        _require_aware(end)
        if end < start:
            return -self.business_time_between(end, start)
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        d, last = self._local_date(start), self._local_date(end)
        while d <= last:
            if self.is_business_day(d):
                open_at, close_at = self._window(d)
                overlap = min(close_at, hi) - max(open_at, lo)
                if overlap > timedelta(0):
                    total += overlap
            d += timedelta(days=1)
        return total
