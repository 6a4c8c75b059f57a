"""The IVR call log for staff: calls newest first, caller numbers masked, with their recordings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.auth.models import RoleName
from support.calendar import JST
from support.ivr.flow import Outcome
from support.ivr.models import IvrCall, IvrCallEvent
from support.ivr.speech import only_digits
from support.tickets import caller

OUTCOME_LABELS = {
    Outcome.FAQ_ANSWERED.value: "自動応答で解決（よくある質問）",
    Outcome.DELIVERY_STATUS.value: "自動応答で解決（配送状況）",
    Outcome.VERIFICATION_FAILED.value: "本人確認できず",
    Outcome.VOICEMAIL.value: "留守電（伝言あり）",
    Outcome.VOICEMAIL_EMPTY.value: "留守電（録音なし）",
    Outcome.OPERATOR.value: "オペレーター接続",
    Outcome.ABANDONED.value: "途中切断",
}
T = TypeVar("T")
IN_PROGRESS_LABEL = "通話中・未確定"
# The call log's entries as steps of the caller's way through the menu.
STEP_LABELS = {
    "verification_failed": "本人確認失敗",
    "delivery_read": "配送状況の案内",
    "faq_answered": "よくある質問の回答",
    "voicemail": "伝言の録音",
    "late_recording": "録音の後着",
    "operator_result": "オペレーターへ転送",
}


@dataclass(frozen=True)
class CallFilter:
    """Which calls to list: a municipality, an outcome, a day (JST); None means any."""

    municipality_id: str | None = None
    outcome: str | None = None
    day: date | None = None


@dataclass(frozen=True)
class CallRow:
    """One call as the log shows it (the caller's number only masked)."""

    id: int
    started_at: datetime
    municipality_id: str | None
    caller_masked: str
    outcome: str | None
    outcome_label: str
    duration_seconds: int | None
    menu_path: tuple[str, ...]
    wrong_tries: int
    ticket_id: int | None
    recording_url: str | None


def mask_caller(number: str | None) -> str:
    """Return a caller number with its middle hidden: +819012345678 -> 090-****-5678."""
    digits = only_digits(number or "")
    if len(digits) < 4:
        return "非通知"
    national = "0" + digits[2:] if digits.startswith("81") else digits
    if len(national) == 11 and national.startswith("0"):
        return f"{national[:3]}-****-{national[-4:]}"
    return f"***-****-{national[-4:]}"


def _scoped(query: Select[T], actor: Actor, flt: CallFilter) -> Select[T]:
    if actor.role is RoleName.SUPPLIER:
        return query.where(IvrCall.id.is_(None))
    if actor.role is RoleName.MUNICIPALITY:
        query = query.where(IvrCall.municipality_id == actor.municipality_id)
    if flt.municipality_id is not None:
        query = query.where(IvrCall.municipality_id == flt.municipality_id)
    if flt.outcome is not None:
        query = query.where(IvrCall.outcome == flt.outcome)
    if flt.day is not None:
        start = datetime.combine(flt.day, time(0), tzinfo=JST)
        query = query.where(
            IvrCall.started_at >= start, IvrCall.started_at < start + timedelta(days=1)
        )
    return query


def _paths(session: Session, call_ids: list[int]) -> dict[int, tuple[str, ...]]:
    rows = session.execute(
        select(IvrCallEvent.call_id, IvrCallEvent.kind)
        .where(IvrCallEvent.call_id.in_(call_ids))
        .order_by(IvrCallEvent.call_id, IvrCallEvent.occurred_at, IvrCallEvent.id)
    )
    paths: dict[int, list[str]] = defaultdict(list)
    for call_id, kind in rows:
        label = STEP_LABELS.get(kind)
        if label is not None and (not paths[call_id] or paths[call_id][-1] != label):
            paths[call_id].append(label)
    return {k: tuple(v) for k, v in paths.items()}


def list_calls(
    *, session: Session, actor: Actor, flt: CallFilter, limit: int, offset: int
) -> tuple[list[CallRow], int]:
    """Return a page of calls in the actor's scope (newest first) and how many match."""
    total = session.scalar(_scoped(select(func.count(IvrCall.id)), actor, flt)) or 0
    calls = list(
        session.scalars(
            _scoped(select(IvrCall), actor, flt)
            .order_by(IvrCall.started_at.desc(), IvrCall.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    paths = _paths(session, [c.id for c in calls]) if calls else {}
    recordings = caller.voicemail_recordings(
        session=session, ticket_ids=[c.ticket_id for c in calls if c.ticket_id is not None]
    )
    rows = [
        CallRow(
            id=c.id,
            started_at=c.started_at,
            municipality_id=c.municipality_id,
            caller_masked=mask_caller(c.from_number),
            outcome=c.outcome,
            outcome_label=OUTCOME_LABELS.get(c.outcome or "", IN_PROGRESS_LABEL),
            duration_seconds=c.duration_seconds,
            menu_path=paths.get(c.id, ()),
            wrong_tries=c.wrong_tries or 0,
            ticket_id=c.ticket_id,
            recording_url=recordings.get(c.ticket_id) if c.ticket_id is not None else None,
        )
        for c in calls
    ]
    return rows, total
