"""Today's load for staff: inbound by channel and hour (an SVG chart), open by state, SLA."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from support.console.web import ConsoleRoute, StaffActor, render
from support.db import utcnow
from support.deps import SessionDep
from support.mail import inbox
from support.tickets import overview, work
from support.tickets.status import STATUS_LABELS

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)

CHART_WIDTH = 860
CHART_HEIGHT = 240
LEFT = 36
BOTTOM = 24
TOP = 10


@dataclass(frozen=True)
class Bar:
    """One rectangle of the chart (SVG user units) and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A label on an axis."""

    x: float
    y: float
    text: str


def inbound_chart(hours: list[overview.InboundHour]) -> tuple[list[Bar], list[Tick], list[Tick]]:
    """Lay out stacked bars per hour (one colour per channel) with axis ticks."""
    peak = max((sum(h.by_channel.values()) for h in hours), default=0)
    scale_top = max(4, -(-peak // 4) * 4)
    plot_w = CHART_WIDTH - LEFT - 8
    plot_h = CHART_HEIGHT - BOTTOM - TOP
    slot = plot_w / 24
    bars: list[Bar] = []
    for hour in hours:
        base = 0
        for channel in overview.CHANNEL_LABELS:
            count = hour.by_channel.get(channel, 0)
            if not count:
                continue
            height = plot_h * count / scale_top
            y = TOP + plot_h - plot_h * (base + count) / scale_top
            label = overview.CHANNEL_LABELS[channel]
            bars.append(
                Bar(
                    x=round(LEFT + hour.hour * slot + slot * 0.15, 1),
                    y=round(y, 1),
                    width=round(slot * 0.7, 1),
                    height=round(height, 1),
                    css=f"c-{channel}",
                    title=f"{hour.hour}時台 {label} {count}件",
                )
            )
            base += count
    x_ticks = [
        Tick(x=round(LEFT + h * slot + slot / 2, 1), y=CHART_HEIGHT - 6, text=f"{h}")
        for h in range(0, 24, 3)
    ]
    y_ticks = [
        Tick(x=LEFT - 6, y=round(TOP + plot_h - plot_h * v / scale_top + 4, 1), text=str(v))
        for v in range(0, scale_top + 1, scale_top // 4)
    ]
    return bars, x_ticks, y_ticks


@router.get("/dashboard")
def dashboard(request: Request, actor: StaffActor, session: SessionDep) -> Response:
    """Show today's load: inbound per hour and channel, open tickets by state, SLA breaches."""
    now = utcnow()
    hours = overview.inbound_today(session=session, actor=actor, now=now)
    by_channel = {c: sum(h.by_channel.get(c, 0) for h in hours) for c in overview.CHANNEL_LABELS}
    statuses = overview.count_by_status(session=session, actor=actor, flt=work.TicketFilter())
    sla = overview.count_by_sla(
        session=session, actor=actor, now=now, states=("breached", "warning")
    )
    breached, _ = inbox.list_conversations(
        session=session,
        actor=actor,
        flt=work.TicketFilter(sla_state="breached"),
        text=None,
        limit=10,
        offset=0,
    )
    bars, x_ticks, y_ticks = inbound_chart(hours)
    return render(
        request,
        "dashboard.html.j2",
        {
            "title": "ダッシュボード",
            "today_total": sum(by_channel.values()),
            "by_channel": by_channel,
            "channels": overview.CHANNEL_LABELS,
            "statuses": statuses,
            "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
            "open_total": sum(v for k, v in statuses.items() if k not in ("replied", "closed")),
            "sla": sla,
            "breached": breached,
            "bars": bars,
            "x_ticks": x_ticks,
            "y_ticks": y_ticks,
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "plot_left": LEFT,
            "plot_bottom": CHART_HEIGHT - BOTTOM,
            "max_status": max(statuses.values(), default=0) or 1,
        },
    )
