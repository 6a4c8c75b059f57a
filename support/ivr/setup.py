"""The IVR's configuration, read once from the settings: numbers, hours, notices, voice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from support.calendar import JST, BusinessCalendar
from support.config import SeasonalMessage, Settings
from support.errors import BadInput
from support.ivr import prompts
from support.ivr.speech import Era, only_digits, read_moment, read_time
from support.tickets.policy import MunicipalityPolicy, shipping_deadline_verdict

# How soon after the voicemail the callback is due, counted in opening hours.
CALLBACK_WITHIN = timedelta(hours=1)


def _clock(value: str, name: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise BadInput(f"{name} は HH:MM で指定してください") from exc


def _month_day(value: str) -> tuple[int, int]:
    month, day = (int(part) for part in value.split("-"))
    date(2000, month, day)  # raises on 13-01 or 02-30
    return month, day


def normalise_number(number: str) -> str:
    """Return a phone number as +digits (E.164 as Twilio sends it), full-width digits folded."""
    digits = only_digits(number)
    if number.strip().startswith(("+", "＋")):
        return f"+{digits}"
    if digits.startswith("0"):
        return f"+81{digits[1:]}"
    return f"+{digits}" if digits else ""


@dataclass(frozen=True)
class IvrSetup:
    """Everything the IVR reads from the settings."""

    numbers: dict[str, str | None]
    calendar: BusinessCalendar
    seasonal: tuple[SeasonalMessage, ...]
    era: Era
    desk_name: str
    voice: str
    operator_mode: str
    operator_queue: str
    operator_number: str
    operator_wait_seconds: int
    order_formats: tuple[str, ...]
    donation_formats: tuple[str, ...]
    # Municipality rules (support/tickets/policies): the shipping deadline read to callers.
    policies: Mapping[str, MunicipalityPolicy] = field(default_factory=dict)
    # Filled as calls come in: municipality id -> name, for the greeting.
    municipality_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Settings, policies: Mapping[str, MunicipalityPolicy] | None = None
    ) -> IvrSetup:
        """Validate and keep the IVR settings; a bad value stops the app at start."""
        opens = _clock(settings.ivr_open_time, "SUPPORT_IVR_OPEN_TIME")
        closes = _clock(settings.ivr_close_time, "SUPPORT_IVR_CLOSE_TIME")
        for message in settings.ivr_seasonal_messages:
            try:
                _month_day(message.start)
                _month_day(message.end)
            except ValueError as exc:
                raise BadInput(
                    f"季節のご案内の日付が不正です: {message.start}〜{message.end}"
                ) from exc
        if settings.ivr_operator_mode == "dial" and not settings.ivr_operator_number:
            raise BadInput("SUPPORT_IVR_OPERATOR_NUMBER を指定してください (dial モード)")
        return cls(
            numbers={normalise_number(k): v for k, v in settings.ivr_numbers.items()},
            calendar=BusinessCalendar(open_time=opens, close_time=closes),
            seasonal=tuple(settings.ivr_seasonal_messages),
            era=settings.ivr_era,
            desk_name=settings.desk_name,
            voice=settings.ivr_voice,
            operator_mode=settings.ivr_operator_mode,
            operator_queue=settings.ivr_operator_queue,
            operator_number=settings.ivr_operator_number,
            operator_wait_seconds=settings.ivr_operator_wait_seconds,
            order_formats=tuple(settings.ivr_order_number_formats),
            donation_formats=tuple(settings.ivr_donation_number_formats),
            policies=dict(policies or {}),
        )

    def municipality_of(self, dialled: str) -> str | None:
        """Return the municipality a dialled number serves (None: the general line)."""
        return self.numbers.get(normalise_number(dialled))

    def general_number(self) -> str | None:
        """Return the general line, the first number that serves no municipality."""
        return next((n for n, m in self.numbers.items() if m is None), None)

    def number_of(self, municipality_id: str) -> str | None:
        """Return the line of one municipality."""
        return next((n for n, m in self.numbers.items() if m == municipality_id), None)

    def hours_text(self) -> str:
        """Say the opening hours: 土日祝日と年末年始を除く平日、午前9時から午後5時まで."""
        cal = self.calendar
        return (
            f"土日祝日と年末年始を除く平日、{read_time(cal.open_time)}から"
            f"{read_time(cal.close_time)}まで"
        )

    def seasonal_for(self, today: date, municipality_id: str | None) -> tuple[str, ...]:
        """Return the notices of the day, general ones first."""
        key = (today.month, today.day)
        found = []
        for message in self.seasonal:
            if message.municipality not in (None, municipality_id):
                continue
            start, end = _month_day(message.start), _month_day(message.end)
            inside = start <= key <= end if start <= end else (key >= start or key <= end)
            if inside:
                found.append((message.municipality is not None, message.text))
        return tuple(text for _, text in sorted(found, key=lambda item: item[0]))

    def callback_due(self, now: datetime) -> datetime:
        """Return when a voicemail's callback is due: within the next opening hour."""
        return self.calendar.add_business_time(now, CALLBACK_WITHIN)

    def callback_text(self, now: datetime) -> str:
        """Say when the callback will come: 12月8日、月曜日の午前10時ごろまでに."""
        due = self.callback_due(now).astimezone(JST)
        return f"{read_moment(due)}ごろまでに"

    def fallback_lines(self) -> tuple[str, ...]:
        """Return what the static fallback document says."""
        return (
            prompts.FALLBACK_APOLOGY,
            prompts.FALLBACK_HOURS.format(hours=self.hours_text()),
            prompts.FALLBACK_ONE_STOP,
            prompts.FALLBACK_END,
        )

    def shipping_deadline(
        self, municipality_id: str, ordered_on: date | None, today: date
    ) -> tuple[date | None, bool]:
        """Return an unshipped order's deadline by its municipality's rules, and if it passed."""
        policy = self.policies.get(municipality_id)
        if policy is None or ordered_on is None:
            return None, False
        verdict = shipping_deadline_verdict(policy, ordered_on, None, today)
        return verdict.deadline, verdict.breached

    def keyed_numbers(self, digits: str) -> tuple[list[str], list[str]]:
        """Return the order numbers and donation numbers that keyed digits may stand for."""
        return _fill(self.order_formats, digits), _fill(self.donation_formats, digits)


def _fill(formats: tuple[str, ...], digits: str) -> list[str]:
    found = []
    for fmt in formats:
        if fmt.count("#") != len(digits):
            continue
        it = iter(digits)
        found.append("".join(next(it) if ch == "#" else ch for ch in fmt))
    return found
