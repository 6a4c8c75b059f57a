"""Knowledge-base pages: search, read, write drafts, publish (the rules are the kb domain's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from support.console.web import ConsoleActor, ConsoleRoute, Form, checked_form, render, see_other
from support.deps import SearchDep, SessionDep
from support.errors import BadInput
from support.kb import service as kb_service
from support.kb.schemas import ARTICLE_ID, ArticleCreate, ArticleUpdate

router = APIRouter(prefix="/console/kb", route_class=ConsoleRoute, include_in_schema=False)
ROUTERS = (router,)

ArticleId = Annotated[str, Path(pattern=ARTICLE_ID)]
STATUS_LABELS = {"draft": "下書き", "published": "公開中", "archived": "アーカイブ"}


def _fields(form: Form) -> dict[str, Any]:
    tags = [t.strip() for t in form.get("tags").replace("、", ",").split(",") if t.strip()]
    return {
        "title": form.get("title"),
        "answer_short": form.get("answer_short"),
        "body": form.raw("body").strip(),
        "category": form.get("category"),
        "tags": tags,
        "municipality_id": form.get("municipality_id") or None,
    }


def _invalid(exc: ValidationError) -> BadInput:
    # The kb schema's own Japanese messages (e.g. what a voice cannot read) are the detail.
    messages = [str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors()]
    return BadInput("記事の内容に誤りがあります：" + " / ".join(messages[:3]))


@router.get("")
def search(
    request: Request, actor: ConsoleActor, session: SessionDep, index: SearchDep
) -> Response:
    """Search published articles, or list articles by status."""
    q = request.query_params.get("q", "").strip()[:500]
    status = request.query_params.get("status", "")
    if status and status not in STATUS_LABELS:
        raise BadInput("状態の指定が正しくありません")
    hits = (
        kb_service.search(
            session=session, index=index, query=q, municipality=actor.municipality_id, top=20
        )
        if q
        else []
    )
    articles = (
        []
        if q
        else kb_service.list_articles(
            session=session, actor=actor, status=status or None, limit=200
        )
    )
    return render(
        request,
        "kb.html.j2",
        {
            "title": "ナレッジベース",
            "q": q,
            "status": status,
            "hits": hits,
            "articles": articles,
            "status_labels": STATUS_LABELS,
        },
    )


@router.get("/new")
def new(request: Request, actor: ConsoleActor) -> Response:
    """Show an empty article form (the kb service decides on submit who may write)."""
    return render(
        request, "kb_article.html.j2", {"title": "記事を作成", "a": None, "revisions": []}
    )


@router.post("/new")
async def create(
    request: Request, actor: ConsoleActor, session: SessionDep, index: SearchDep
) -> Response:
    """Create a draft (publishers may publish at once)."""
    form = await checked_form(request, actor)
    status = "published" if form.get("publish") == "1" else "draft"
    try:
        data = ArticleCreate(**_fields(form), status=status)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    article = kb_service.create_article(session=session, index=index, actor=actor, data=data)
    return see_other(f"/console/kb/{article.id}")


@router.get("/{article_id}")
def article(
    request: Request, article_id: ArticleId, actor: ConsoleActor, session: SessionDep
) -> Response:
    """Show an article with its form and history."""
    found = kb_service.get_article(session=session, actor=actor, article_id=article_id)
    revisions = kb_service.list_revisions(session=session, actor=actor, article_id=article_id)
    return render(
        request,
        "kb_article.html.j2",
        {
            "title": found.title,
            "a": found,
            "revisions": revisions,
            "status_labels": STATUS_LABELS,
        },
    )


@router.post("/{article_id}")
async def update(
    request: Request,
    article_id: ArticleId,
    actor: ConsoleActor,
    session: SessionDep,
    index: SearchDep,
) -> Response:
    """Save changes (409 when someone else saved first), or change the status."""
    form = await checked_form(request, actor)
    version = form.int("version")
    if version is None:
        raise BadInput("版数がありません。画面を再読み込みしてください")
    status = form.get("status")
    if status:
        if status not in STATUS_LABELS:
            raise BadInput("状態の指定が正しくありません")
        kb_service.set_status(
            session=session,
            index=index,
            actor=actor,
            article_id=article_id,
            status=status,
            version=version,
        )
        return see_other(f"/console/kb/{article_id}")
    fields = _fields(form)
    clear = fields["municipality_id"] is None
    try:
        data = ArticleUpdate(version=version, clear_municipality=clear, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    kb_service.update_article(
        session=session, index=index, actor=actor, article_id=article_id, data=data
    )
    return see_other(f"/console/kb/{article_id}")
