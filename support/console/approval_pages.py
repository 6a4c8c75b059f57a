"""Supervisor pages: the approval inbox (diff, findings, approve/reject/override), in-doubt sends;
and the author's side: submit a draft for approval, pull it back within the undo window."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response

from support.console import views
from support.console.web import (
    ConsoleRoute,
    StaffActor,
    SupervisorActor,
    checked_form,
    render,
    see_other,
)
from support.deps import SessionDep, SettingsDep
from support.errors import BadInput
from support.mail import approval, outbound_views
from support.mail.outbound import OutboundConfig

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)

DraftId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PAGE = 20


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """Split a unified diff into (kind, text) lines: add, remove, hunk or same."""
    lines: list[tuple[str, str]] = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "remove", "@": "hunk"}.get(line[:1], "same")
        lines.append((kind, line))
    return lines


@router.get("/approvals")
def approvals(request: Request, actor: SupervisorActor, session: SessionDep) -> Response:
    """List the drafts waiting for approval, oldest first, with diff and findings."""
    page_text = request.query_params.get("page", "1")
    if not page_text.isdigit() or not 1 <= int(page_text) <= views.MAX_PAGE:
        raise BadInput("ページ番号が正しくありません")
    page = int(page_text)
    items, total = outbound_views.approvals_inbox(
        session=session, supervisor=actor, limit=PAGE, offset=(page - 1) * PAGE
    )
    doubtful = outbound_views.in_doubt(session=session, supervisor=actor)
    return render(
        request,
        "approvals.html.j2",
        {
            "title": "承認待ちの返信",
            "items": items,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE)),
            "names": views.staff_names(session=session),
            "diffs": {i.approval.id: diff_lines(i.diff) for i in items},
            "in_doubt": doubtful,
        },
    )


@router.post("/approvals/{draft_id}/approve")
async def approve(
    request: Request,
    draft_id: DraftId,
    actor: SupervisorActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Approve the exact message reviewed (its hash); a block finding needs a reason."""
    form = await checked_form(request, actor)
    reason = form.raw("override_reason").strip() or None
    approval.approve(
        session=session,
        supervisor=actor,
        draft_id=draft_id,
        message_hash=form.get("message_hash"),
        config=OutboundConfig.from_settings(settings),
        comment=form.raw("comment").strip() or None,
        override_reason=reason,
    )
    return see_other("/console/approvals?done=approved")


@router.post("/approvals/{draft_id}/reject")
async def reject(
    request: Request, draft_id: DraftId, actor: SupervisorActor, session: SessionDep
) -> Response:
    """Send the draft back to its author with a comment."""
    form = await checked_form(request, actor)
    comment = form.raw("comment").strip()
    if not comment:
        raise BadInput("差し戻しの理由を入力してください")
    approval.reject(session=session, supervisor=actor, draft_id=draft_id, comment=comment)
    return see_other("/console/approvals?done=rejected")


@router.post("/approvals/{draft_id}/resolve")
async def resolve(
    request: Request, draft_id: DraftId, actor: SupervisorActor, session: SessionDep
) -> Response:
    """Settle an in-doubt send: it did arrive (sent), or send it again (resend)."""
    form = await checked_form(request, actor)
    outcomes: dict[str, Literal["sent", "resend"]] = {"sent": "sent", "resend": "resend"}
    outcome = outcomes.get(form.get("outcome"))
    if outcome is None:
        raise BadInput("確認結果は「送信済み」か「再送」を選んでください")
    approval.resolve_in_doubt(
        session=session,
        supervisor=actor,
        draft_id=draft_id,
        outcome=outcome,
        comment=form.raw("comment").strip() or None,
    )
    return see_other("/console/approvals?done=resolved")


@router.post("/drafts/{draft_id}/submit")
async def submit(
    request: Request,
    draft_id: DraftId,
    actor: StaffActor,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Ask for approval (or schedule at once when none is needed)."""
    await checked_form(request, actor)
    made = approval.submit(
        session=session,
        actor=actor,
        draft_id=draft_id,
        config=OutboundConfig.from_settings(settings),
    )
    return see_other(f"/console/inbox/{made.ticket_id}?draft={draft_id}#compose")


@router.post("/drafts/{draft_id}/pull-back")
async def pull_back(
    request: Request, draft_id: DraftId, actor: StaffActor, session: SessionDep
) -> Response:
    """Stop a scheduled mail within the undo window; it becomes an editable draft again."""
    await checked_form(request, actor)
    draft = approval.pull_back(session=session, actor=actor, draft_id=draft_id)
    return see_other(f"/console/inbox/{draft.ticket_id}?draft={draft_id}#compose")


def draft_context(
    *, session: Any, actor: Any, settings: Any, draft_id: int, ticket_id: int
) -> dict[str, Any]:
    """Return the state of a draft shown in the compose pane of its conversation."""
    state = outbound_views.draft_state(
        session=session,
        actor=actor,
        draft_id=draft_id,
        config=OutboundConfig.from_settings(settings),
    )
    if state.ticket_id != ticket_id:
        raise BadInput("この会話の下書きではありません")
    return {"state": state, "diff": diff_lines(state.diff)}
