"""The IVR call log for staff: calls with masked numbers, outcomes, tickets and recordings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from support.auth import audit
from support.console import views
from support.console.web import ConsoleRoute, StaffActor, render
from support.deps import SessionDep
from support.errors import BadInput
from support.ivr import calllog

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)


@dataclass(frozen=True)
class CallQuery:
    """The call log's filters as typed in the URL (validated)."""

    municipality: str = ""
    outcome: str = ""
    day: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str], cities: Mapping[str, str]) -> CallQuery:
        """Validate the query string; anything unknown is bad input (422)."""
        municipality = params.get("municipality", "").strip()
        if municipality and municipality not in cities:
            raise BadInput("自治体の指定が正しくありません")
        outcome = params.get("outcome", "")
        if outcome and outcome not in calllog.OUTCOME_LABELS:
            raise BadInput("結果の指定が正しくありません")
        day = params.get("date", "").strip()
        if day:
            try:
                date.fromisoformat(day)
            except ValueError as exc:
                raise BadInput("日付は YYYY-MM-DD の形式で指定してください") from exc
        page_text = params.get("page", "1") or "1"
        if not page_text.isdigit() or not 1 <= int(page_text) <= views.MAX_PAGE:
            raise BadInput("ページ番号が正しくありません")
        return cls(municipality, outcome, day, int(page_text))

    def call_filter(self) -> calllog.CallFilter:
        """Return the filter of the IVR domain."""
        return calllog.CallFilter(
            municipality_id=self.municipality or None,
            outcome=self.outcome or None,
            day=date.fromisoformat(self.day) if self.day else None,
        )

    def url(self, **change: Any) -> str:
        """Return the call log URL with some filters changed (page back to 1 unless given)."""
        values: dict[str, Any] = {
            "municipality": self.municipality,
            "outcome": self.outcome,
            "date": self.day,
            "page": 1,
        }
        values.update(change)
        kept = {k: v for k, v in values.items() if v not in ("", None) and (k, v) != ("page", 1)}
        return "/console/ivr" + ("?" + urlencode(kept) if kept else "")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}分{rest:02d}秒" if minutes else f"{rest}秒"


@router.get("/ivr")
def call_log(request: Request, actor: StaffActor, session: SessionDep) -> Response:
    """Show the IVR calls newest first, filtered by municipality, outcome and day."""
    cities = views.municipality_names(session=session, actor=actor)
    query = CallQuery.parse(request.query_params, cities)
    rows, total = calllog.list_calls(
        session=session,
        actor=actor,
        flt=query.call_filter(),
        limit=views.PAGE_SIZE,
        offset=(query.page - 1) * views.PAGE_SIZE,
    )
    recordings = [r.ticket_id for r in rows if r.recording_url]
    if recordings:
        # A recording link opens the caller's voice: listing them is an access to personal data.
        audit.record(
            session,
            actor,
            action="list",
            resource_type="ivr_recording",
            detail={"ticket_ids": recordings},
        )
    return render(
        request,
        "ivr.html.j2",
        {
            "title": "IVR 通話履歴",
            "query": query,
            "rows": rows,
            "total": total,
            "pages": max(1, -(-total // views.PAGE_SIZE)),
            "cities": cities,
            "outcomes": calllog.OUTCOME_LABELS,
            "duration": _duration,
        },
    )
