"""Staff side of a complaint: timeline, verdict, liability, supplier notice, resolution.

The rules are the complaints domain's (tickets.complaint, tickets.supplier_notice); these pages
show them and send the operator's decisions back through the same services the API uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from support.auth.actor import Actor
from support.config import Settings
from support.console import views
from support.console.web import ConsoleRoute, StaffActor, checked_form, see_other
from support.deps import SessionDep, SettingsDep
from support.errors import BadInput
from support.tickets import complaint, supplier_notice, timeline, work
from support.tickets.policy import CATEGORIES, MunicipalityPolicy
from support.tickets.report_mail import ReportMailSettings

router = APIRouter(prefix="/console/complaints", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EVENT_LABELS = {
    "opened": "受付",
    "status": "状態の変更",
    "assigned": "担当者の変更",
    "tags": "タグの変更",
    "note": "メモの追加",
    "draft_saved": "返信の下書き保存",
    "reply_sent": "返信の送信",
    "first_response": "初回対応",
    "phone_response": "電話での対応",
    "category": "分類の変更",
    "priority": "優先度の変更",
    "liability": "費用負担の確定",
    "supplier_notice": "事業者への通知",
    "supplier_reply": "事業者からの返信",
    "resolved": "解決",
    "reopened": "再開",
    "merged_into": "統合（統合先）",
    "merged_from": "統合（統合元）",
    "split_to": "分割（分割先）",
    "split_from": "分割（分割元）",
    "sla_warning": "SLA 期限間近",
    "sla_breached": "SLA 期限超過",
    "recording_added": "録音の追加（通話終了後）",
}
BEARER_LABELS = {
    "supplier": "返礼品提供事業者",
    "carrier": "配送業者",
    "donor": "寄附者",
    "municipality": "自治体",
    "intermediary": "当窓口（中間事業者）",
    "none": "負担なし",
}
COVERS = ("回収", "代替品", "交換", "再配送", "日程変更")
NOTICE_REQUESTS = {
    "investigate": "調査の依頼",
    "redelivery": "再配送の依頼",
    "replacement": "代替品の手配",
    "collection": "回収の依頼",
}


def _policies(request: Request) -> Mapping[str, MunicipalityPolicy]:
    policies: Mapping[str, MunicipalityPolicy] = request.app.state.policies
    return policies


def staff_context(
    request: Request, session: Any, actor: Actor, ticket_id: int, settings: Settings
) -> dict[str, Any]:
    """Return what staff see beyond the facts: timeline, verdict, notices, the forms' choices."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    verdict = complaint.verdict_for(
        session=session, ticket=ticket, policies=_policies(request), desk_name=settings.desk_name
    )
    return {
        "events": timeline.events_of(session=session, ticket_id=ticket.id),
        "event_labels": EVENT_LABELS,
        "names": views.staff_names(session=session),
        "verdict": verdict,
        "notices": supplier_notice.notices_of(session=session, ticket_id=ticket.id),
        "categories": sorted(CATEGORIES),
        "bearers": BEARER_LABELS,
        "covers": COVERS,
        "notice_requests": NOTICE_REQUESTS,
        "liability": {
            "bearer": ticket.liability_bearer,
            "covers": list(ticket.liability_covers or []),
            "note": ticket.liability_note,
            "confirmed_at": ticket.liability_confirmed_at,
        },
    }


@router.post("/{ticket_id}/category")
async def change_category(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Change the category (the SLA dues follow)."""
    form = await checked_form(request, actor)
    complaint.set_category(
        session=session, actor=actor, ticket_id=ticket_id, category=form.get("category")
    )
    return see_other(f"/console/complaints/{ticket_id}")


@router.post("/{ticket_id}/liability")
async def confirm_liability(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Confirm who bears the costs (audited, on the timeline)."""
    form = await checked_form(request, actor)
    bearer = form.get("bearer")
    covers = form.all("covers")
    if bearer not in BEARER_LABELS or any(c not in COVERS for c in covers):
        raise BadInput("費用負担の指定が正しくありません")
    fault = form.get("carrier_at_fault")
    complaint.confirm_liability(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        bearer=bearer,
        covers=covers,
        carrier_at_fault={"yes": True, "no": False}.get(fault),
        note=form.raw("note").strip()[:2000] or None,
        policies=_policies(request),
    )
    return see_other(f"/console/complaints/{ticket_id}#liability")


@router.post("/{ticket_id}/supplier-notice")
async def notify_supplier(
    request: Request,
    ticket_id: TicketId,
    actor: StaffActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Queue the notice to the supplier (the worker sends it, at most once)."""
    form = await checked_form(request, actor)
    kind = form.get("request")
    via = form.get("via") or None
    if kind not in NOTICE_REQUESTS or via not in (None, "mail", "fax"):
        raise BadInput("通知の内容または方法の指定が正しくありません")
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    supplier_notice.request_notice(
        session=session,
        actor=actor,
        ticket=ticket,
        settings=supplier_notice.NoticeSettings(
            mail=ReportMailSettings(from_addr=settings.mail_from, desk_name=settings.desk_name),
            fax_gateway=settings.fax_gateway,
        ),
        request=kind,
        via=via,
        note=form.raw("note").strip()[:1000] or None,
    )
    return see_other(f"/console/complaints/{ticket_id}#notices")


@router.post("/{ticket_id}/resolve")
async def resolve(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Close the complaint as resolved, saying how."""
    form = await checked_form(request, actor)
    complaint.resolve(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        resolution=form.raw("resolution").strip()[:2000] or None,
    )
    request.app.state.console_counts.clear()
    return see_other(f"/console/complaints/{ticket_id}")
