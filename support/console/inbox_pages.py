"""The operator's pages: the queue, a conversation, and working it (notes, status, replies)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from support.console import approval_pages, compose, views
from support.console.web import (
    ConsoleRoute,
    StaffActor,
    check_json_csrf,
    checked_form,
    json_ok,
    render,
    see_other,
)
from support.db import utcnow
from support.deps import SearchDep, SessionDep, SettingsDep
from support.errors import BadInput
from support.kb import service as kb_service
from support.mail import approval, canned, inbox
from support.mail.outbound import OutboundConfig
from support.mail.parsing_html import sanitize_html
from support.mail.schemas import DraftWrite
from support.tickets import overview, sla_queue, work
from support.tickets import service as tickets_service
from support.tickets.status import TicketStatus

router = APIRouter(prefix="/console/inbox", route_class=ConsoleRoute, include_in_schema=False)
api = APIRouter(prefix="/console/api/inbox", include_in_schema=False)

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SETTABLE = [s for s in TicketStatus if s is not TicketStatus.AWAITING_APPROVAL]


@router.get("")
def queue(request: Request, actor: StaffActor, session: SessionDep) -> Response:
    """Show the queue: filters, counts per status, SLA dues, 50 per page."""
    query = views.QueueQuery.parse(request.query_params)
    # Without a search text the total is the status counts' (same filters): no second count.
    items, total = inbox.list_conversations(
        session=session,
        actor=actor,
        flt=query.ticket_filter(),
        text=query.q or None,
        limit=views.PAGE_SIZE,
        offset=(query.page - 1) * views.PAGE_SIZE,
        with_total=bool(query.q),
    )
    page = views.queue_page(
        session=session,
        actor=actor,
        query=query,
        items=items,
        total=total,
        cache=request.app.state.console_counts,
    )
    return render(
        request,
        "queue.html.j2",
        {
            "title": "受信箱",
            "page": page,
            "channels": overview.CHANNEL_LABELS,
            "sla_labels": sla_queue.SLA_LABELS,
        },
    )


def _conversation_context(
    request: Request, session: Any, actor: Any, index: Any, ticket_id: int, *, show_donor: bool
) -> dict[str, Any]:
    conversation = inbox.read_conversation(session=session, actor=actor, ticket_id=ticket_id)
    work.touch_presence(session=session, actor=actor, ticket_id=ticket_id, activity="viewing")
    names = views.staff_names(session=session)
    donor = orders = None
    if show_donor and conversation.donor_id:
        donor = tickets_service.read_donor(
            session=session, actor=actor, donor_id=conversation.donor_id
        )
        orders, _ = tickets_service.list_orders(
            session=session, actor=actor, limit=20, offset=0, donor_id=conversation.donor_id
        )
    sla = sla_queue.sla_views_by_ids(session=session, ticket_ids=[ticket_id], now=utcnow())
    inbound = [m for m in conversation.messages if m.direction == "inbound"]
    last = inbound[-1] if inbound else None
    subject = conversation.subject
    faq = kb_service.suggest(
        session=session,
        index=index,
        subject=subject,
        text=last.text if last else None,
        municipality=conversation.municipality_id,
    )
    reply_subject = subject if subject.startswith(("Re:", "RE:")) else f"Re: {subject}"
    if f"[#{conversation.id}]" not in reply_subject:
        reply_subject = f"{reply_subject} [#{conversation.id}]"
    return {
        "title": conversation.subject,
        "c": conversation,
        "frames": {m.id: sanitize_html(m.html) for m in conversation.messages if m.html},
        "names": names,
        "others": [p for p in conversation.presence if p["user_id"] != actor.user_id],
        "donor": donor,
        "orders": orders or [],
        "sla": sla.get(ticket_id),
        "statuses": SETTABLE,
        "city": views.municipality_names(session=session, actor=actor).get(
            conversation.municipality_id or ""
        ),
        "reply_to": (last.from_addr or "") if last else "",
        "reply_to_id": last.id if last else None,
        "reply_subject": reply_subject[:998],
        "templates": canned.list_canned(municipality_id=conversation.municipality_id),
        "faq": faq,
        "channels": overview.CHANNEL_LABELS,
        "flash": request.query_params.get("saved") == "1",
    }


@router.get("/{ticket_id}")
def conversation(
    request: Request,
    ticket_id: TicketId,
    actor: StaffActor,
    session: SessionDep,
    index: SearchDep,
    settings: SettingsDep,
) -> Response:
    """Show a conversation; opening the donor panel (?panel=donor) is an audited read."""
    show_donor = request.query_params.get("panel") == "donor"
    context = _conversation_context(
        request, session, actor, index, ticket_id, show_donor=show_donor
    )
    draft = request.query_params.get("draft", "")
    context["draft"] = None
    if draft:
        if not draft.isdigit() or len(draft) > 10:
            raise BadInput("下書きの指定が正しくありません")
        context["draft"] = approval_pages.draft_context(
            session=session,
            actor=actor,
            settings=settings,
            draft_id=int(draft),
            ticket_id=ticket_id,
        )
    return render(request, "conversation.html.j2", context)


@router.post("/{ticket_id}/notes")
async def add_note(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Add an internal note."""
    form = await checked_form(request, actor)
    body = form.raw("body").strip()
    if not body or len(body) > 20_000:
        raise BadInput("メモは1〜20000文字で入力してください")
    work.add_note(session=session, actor=actor, ticket_id=ticket_id, body=body)
    return see_other(f"/console/inbox/{ticket_id}#notes")


@router.post("/{ticket_id}/work")
async def change(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Change the status, the assignee label and the tags in one go."""
    form = await checked_form(request, actor)
    status = form.get("status")
    if status:
        try:
            chosen = TicketStatus(status)
        except ValueError as exc:
            raise BadInput("状態の指定が正しくありません") from exc
        work.set_status(session=session, actor=actor, ticket_id=ticket_id, status=chosen)
    if "assignee" in form.fields:
        assignee = form.get("assignee")
        if assignee == "me":
            work.assign(
                session=session, actor=actor, ticket_id=ticket_id, assignee_id=actor.user_id
            )
        else:
            work.assign(
                session=session, actor=actor, ticket_id=ticket_id, assignee_id=form.int("assignee")
            )
    if "tags" in form.fields:
        tags = [t for t in form.get("tags").replace("、", ",").split(",") if t.strip()]
        work.set_tags(session=session, actor=actor, ticket_id=ticket_id, tags=tags)
    request.app.state.console_counts.clear()
    return see_other(f"/console/inbox/{ticket_id}")


@router.post("/{ticket_id}/drafts")
async def save_draft(
    request: Request,
    ticket_id: TicketId,
    actor: StaffActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Save the reply (409 when a newer message or note came in); "submit" also asks approval."""
    form = await checked_form(request, actor)
    data = _draft_write(form.fields, form.int("seen_version"), form.int("in_reply_to_id"))
    draft = inbox.save_draft(
        session=session, actor=actor, ticket_id=ticket_id, data=data, draft_id=form.int("draft_id")
    )
    if form.get("action") == "submit":
        approval.submit(
            session=session,
            actor=actor,
            draft_id=draft.id,
            config=OutboundConfig.from_settings(settings),
        )
        return see_other(f"/console/inbox/{ticket_id}?draft={draft.id}#compose")
    return see_other(f"/console/inbox/{ticket_id}?draft={draft.id}&saved=1#compose")


def _draft_write(
    fields: dict[str, list[str]], seen_version: int | None, in_reply_to_id: int | None
) -> DraftWrite:
    one = {k: (v[0] if v else "") for k, v in fields.items()}
    draft = compose.draft_from(one)
    try:
        return DraftWrite(
            to=list(draft.to),
            cc=list(draft.cc),
            bcc=list(draft.bcc),
            subject=draft.subject,
            body=one.get("body", "").replace("\r\n", "\n"),
            in_reply_to_id=in_reply_to_id,
            seen_version=seen_version or 0,
        )
    except ValidationError as exc:
        raise BadInput("宛先のメールアドレスの形式が正しくありません") from exc


@router.post("/{ticket_id}/canned")
async def use_canned(
    request: Request,
    ticket_id: TicketId,
    actor: StaffActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Start the reply (or replace its text) from a canned reply addressed to the donor."""
    form = await checked_form(request, actor)
    key = form.get("template")
    if not key:
        raise BadInput("テンプレートを選んでください")
    draft = canned.draft_from_canned(
        session=session,
        actor=actor,
        ticket_id=ticket_id,
        key=key,
        seen_version=form.int("seen_version") or 0,
        desk_name=settings.desk_name,
        draft_id=form.int("draft_id"),
    )
    return see_other(f"/console/inbox/{ticket_id}?draft={draft.id}#compose")


@api.post("/{ticket_id}/check")
async def check(
    request: Request,
    ticket_id: TicketId,
    actor: StaffActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Return the send-guard findings of the draft being typed."""
    check_json_csrf(request, actor)
    data = await _json_body(request)
    return json_ok(
        compose.check(
            session=session, actor=actor, ticket_id=ticket_id, data=data, settings=settings
        )
    )


@api.put("/{ticket_id}/presence")
async def presence(
    request: Request, ticket_id: TicketId, actor: StaffActor, session: SessionDep
) -> Response:
    """Refresh the caller's presence and return who else is here."""
    check_json_csrf(request, actor)
    data = await _json_body(request)
    activity = str(data.get("activity", "viewing"))
    work.touch_presence(session=session, actor=actor, ticket_id=ticket_id, activity=activity)
    others = [
        p
        for p in work.presence_of(session=session, ticket_id=ticket_id)
        if p["user_id"] != actor.user_id
    ]
    return json_ok({"presence": [p["label"] for p in others]})


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise BadInput("JSON の形式が正しくありません") from exc
    if not isinstance(data, dict):
        raise BadInput("JSON オブジェクトを送ってください")
    return data


ROUTERS = (router, api)
