"""SLA targets per complaint category and the clock that tells a ticket's dues and state."""

# Every duration here is business time: hours the contact center is open (BusinessCalendar),
# so with the default 9:00-17:00 calendar one business day is 8 hours.

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from support.calendar import BusinessCalendar

SlaState = Literal["ok", "warning", "breached", "met"]

HOUR = timedelta(hours=1)
DAY = 8 * HOUR  # one business day of the default 9:00-17:00 calendar
FALLBACK_CATEGORY = "その他"
DEFAULT_WARNING_FRACTION = 0.25


@dataclass(frozen=True)
class SlaTarget:
    """How much business time a ticket gets until its first response and its resolution."""

    first_response: timedelta
    resolution: timedelta

    def __post_init__(self) -> None:
        """Reject targets that cannot be met or that end before the first response is due."""
        if self.first_response <= timedelta(0) or self.resolution <= timedelta(0):
            raise ValueError("SLA targets must be positive")
        if self.resolution < self.first_response:
            raise ValueError("resolution target must not be shorter than first response")


# Why each target is what it is:
# - 品質 (quality, incl. food safety) and 個人情報 (personal data) are the tightest: a donor may
#   have eaten spoiled food, and other shipments of the same lot may need stopping; a leak may
#   oblige the municipality to report to the PPC promptly (APPI). Reply within 1 hour.
# - 破損 and 誤配送 usually involve perishables waiting at the donor's door, so the reply comes
#   in half a day and the reshipment or pickup is arranged within 3 days. 誤配送 also exposes
#   another donor's name and address on the label.
# - 利用券 (experience vouchers) are often needed for an imminent trip or booking.
# - ワンストップ has a hard legal deadline (application by 1/10), so its resolution is 3 days.
# - 不着, 配送遅延 and 受領証明書 wait on a carrier trace or the municipality's paperwork: a
#   reply within a day, 5 days to resolve.
# - その他 is the catch-all and the fallback for unknown categories.
DEFAULT_TARGETS: Mapping[str, SlaTarget] = {
    "品質": SlaTarget(first_response=1 * HOUR, resolution=2 * DAY),
    "個人情報": SlaTarget(first_response=1 * HOUR, resolution=2 * DAY),
    "破損": SlaTarget(first_response=4 * HOUR, resolution=3 * DAY),
    "誤配送": SlaTarget(first_response=4 * HOUR, resolution=3 * DAY),
    "利用券": SlaTarget(first_response=4 * HOUR, resolution=3 * DAY),
    "ワンストップ": SlaTarget(first_response=1 * DAY, resolution=3 * DAY),
    "不着": SlaTarget(first_response=1 * DAY, resolution=5 * DAY),
    "配送遅延": SlaTarget(first_response=1 * DAY, resolution=5 * DAY),
    "受領証明書": SlaTarget(first_response=1 * DAY, resolution=5 * DAY),
    "その他": SlaTarget(first_response=1 * DAY, resolution=10 * DAY),
}


def _duration(value: object, where: str) -> timedelta:
    """Read a timedelta, or a number of business hours (bool is not a number here)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(hours=value)
    raise ValueError(f"{where}: expected business hours or a timedelta, got {value!r}")


def targets_from_dict(
    raw: Mapping[str, Mapping[str, object]],
    *,
    base: Mapping[str, SlaTarget] = DEFAULT_TARGETS,
) -> dict[str, SlaTarget]:
    """Return base overridden by raw: {category: {"first_response": h, "resolution": h}}."""
    # Values are business hours (int or float) or timedeltas, so a YAML or JSON file works.
    # A category already in base may override only one of its two targets.
    targets = dict(base)
    for category, spec in raw.items():
        if not category:
            raise ValueError("empty category name")
        unknown = set(spec) - {"first_response", "resolution"}
        if unknown:
            raise ValueError(f"{category}: unknown keys {sorted(unknown)}")
        old = targets.get(category)
        fields: dict[str, timedelta] = {}
        for key in ("first_response", "resolution"):
            if key in spec:
                fields[key] = _duration(spec[key], f"{category}.{key}")
            elif old is not None:
                fields[key] = getattr(old, key)
            else:
                raise ValueError(f"{category}: {key} is missing")
        targets[category] = SlaTarget(**fields)
    return targets


def target_for(category: str, targets: Mapping[str, SlaTarget] = DEFAULT_TARGETS) -> SlaTarget:
    """Return the category's target, or その他's for a category nobody configured."""
    found = targets.get(category)
    if found is not None:
        return found
    return targets[FALLBACK_CATEGORY]


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime: give a time zone")
    return at


Pause = tuple[datetime, datetime | None]

_SEVERITY: dict[SlaState, int] = {"met": 0, "ok": 1, "warning": 2, "breached": 3}


@dataclass(frozen=True)
class SlaClock:
    """A ticket's SLA: when responses are due and how the ticket stands at a given instant."""

    # Pauses (waiting on the donor) stop only the resolution clock: the first response is ours
    # to give before we can wait on anyone. A pause with no end is still running; resolution
    # ends it. A resolution also counts as the first response when none was recorded.

    calendar: BusinessCalendar
    target: SlaTarget
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    paused: tuple[Pause, ...] = ()
    warning_fraction: float = DEFAULT_WARNING_FRACTION
    _pauses: tuple[tuple[datetime, datetime | None], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Check the instants and merge the pauses into sorted, disjoint intervals."""
        _aware(self.opened_at, "opened_at")
        for name in ("first_response_at", "resolved_at"):
            at = getattr(self, name)
            if at is not None and _aware(at, name) < self.opened_at:
                raise ValueError(f"{name} is before opened_at")
        if not 0.0 <= self.warning_fraction <= 1.0:
            raise ValueError("warning_fraction must be between 0 and 1")
        object.__setattr__(self, "_pauses", self._merge_pauses())

    def _merge_pauses(self) -> tuple[tuple[datetime, datetime | None], ...]:
        """Clip pauses to [opened_at, resolved_at] and merge overlaps so none counts twice."""
        clipped: list[tuple[datetime, datetime | None]] = []
        for start, end in self.paused:
            _aware(start, "pause start")
            if end is not None and _aware(end, "pause end") < start:
                raise ValueError("a pause ends before it starts")
            if self.resolved_at is not None and (end is None or end > self.resolved_at):
                end = self.resolved_at
            start = max(start, self.opened_at)
            if end is not None and end <= start:
                continue
            clipped.append((start, end))
        clipped.sort(key=lambda p: p[0])
        merged: list[tuple[datetime, datetime | None]] = []
        for start, end in clipped:
            if merged:
                last_start, last_end = merged[-1]
                if last_end is None:
                    break  # an open pause swallows every later one
                if start <= last_end:
                    new_end = None if end is None else max(last_end, end)
                    merged[-1] = (last_start, new_end)
                    continue
            merged.append((start, end))
        return tuple(merged)

    # Dues

    @property
    def first_response_due(self) -> datetime:
        """Return when the first response is due."""
        return self.calendar.add_business_time(self.opened_at, self.target.first_response)

    @property
    def resolution_due(self) -> datetime | None:
        """Return when resolution is due, or None while an open pause holds the clock."""
        cursor, left = self.opened_at, self.target.resolution
        for start, end in self._pauses:
            running = self.calendar.business_time_between(cursor, start)
            if left <= running:
                break
            left -= running
            if end is None:
                return None
            cursor = end
        return self.calendar.add_business_time(cursor, left)

    # Standing at an instant

    def _resolution_elapsed(self, now: datetime) -> timedelta:
        """Return the unpaused business time from opening to now."""
        elapsed = self.calendar.business_time_between(self.opened_at, now)
        for start, end in self._pauses:
            if start >= now:
                break
            stop = now if end is None else min(end, now)
            elapsed -= self.calendar.business_time_between(start, stop)
        return elapsed

    def _responded_at(self) -> datetime | None:
        return self.first_response_at if self.first_response_at is not None else self.resolved_at

    def first_response_remaining(self, now: datetime) -> timedelta:
        """Return business time left for the first response (negative when overdue)."""
        _aware(now, "now")
        elapsed = self.calendar.business_time_between(self.opened_at, now)
        return self.target.first_response - elapsed

    def resolution_remaining(self, now: datetime) -> timedelta:
        """Return unpaused business time left for the resolution (negative when overdue)."""
        _aware(now, "now")
        return self.target.resolution - self._resolution_elapsed(now)

    def _state(
        self,
        now: datetime,
        done_at: datetime | None,
        due: datetime | None,
        remaining: timedelta,
        target: timedelta,
    ) -> SlaState:
        # Judge lateness by the due instant, not by remaining business time: a ticket due
        # Friday 17:00 is already late on Saturday though no business time has passed since.
        if done_at is not None and done_at <= now:
            return "met" if due is None or done_at <= due else "breached"
        if due is not None and now > due:
            return "breached"
        return "warning" if remaining < target * self.warning_fraction else "ok"

    def first_response_state(self, now: datetime) -> SlaState:
        """Return how the first response stands at now."""
        _aware(now, "now")
        return self._state(
            now,
            self._responded_at(),
            self.first_response_due,
            self.first_response_remaining(now),
            self.target.first_response,
        )

    def resolution_state(self, now: datetime) -> SlaState:
        """Return how the resolution stands at now."""
        _aware(now, "now")
        return self._state(
            now,
            self.resolved_at,
            self.resolution_due,
            self.resolution_remaining(now),
            self.target.resolution,
        )

    def state(self, now: datetime) -> SlaState:
        """Return the worse of both clocks: breached, warning, ok, or met once both are met."""
        first, resolution = self.first_response_state(now), self.resolution_state(now)
        return max(first, resolution, key=_SEVERITY.__getitem__)

    def remaining(self, now: datetime) -> timedelta | None:
        """Return business time left on the clock that runs out first; None once both stopped."""
        _aware(now, "now")
        left: list[timedelta] = []
        responded = self._responded_at()
        if responded is None or responded > now:
            left.append(self.first_response_remaining(now))
        if self.resolved_at is None or self.resolved_at > now:
            left.append(self.resolution_remaining(now))
        return min(left) if left else None


def clock_for(
    calendar: BusinessCalendar,
    category: str,
    opened_at: datetime,
    *,
    targets: Mapping[str, SlaTarget] = DEFAULT_TARGETS,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    paused: tuple[Pause, ...] = (),
    warning_fraction: float = DEFAULT_WARNING_FRACTION,
) -> SlaClock:
    """Build the clock of a ticket of this category from the configured targets."""
    return SlaClock(
        calendar=calendar,
        target=target_for(category, targets),
        opened_at=opened_at,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
        paused=paused,
        warning_fraction=warning_fraction,
    )
