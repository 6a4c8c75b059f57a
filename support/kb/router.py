"""HTTP routes of the knowledge base: editing for staff, search for everyone."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from support.auth.models import RoleName
from support.deps import CurrentUser, SearchDep, SessionDep, SettingsDep, StaffUser, client_ip
from support.errors import RateLimited
from support.kb import service
from support.kb.schemas import (
    ARTICLE_ID,
    AnyStatus,
    ArticleCreate,
    ArticleRead,
    ArticleUpdate,
    HitRead,
    MunicipalityId,
    RevisionRead,
    SearchRequest,
    SearchResponse,
    StatusChange,
    SuggestRequest,
)
from support.kb.search import ArticleHit
from support.ratelimit import TokenBucketLimiter, retry_after_header

router = APIRouter(prefix="/api/kb", tags=["knowledge base"])

ArticleId = Annotated[str, Path(pattern=ARTICLE_ID)]
_limiter_lock = threading.Lock()


def _limiter(request: Request, rate_per_minute: int, burst: int) -> TokenBucketLimiter:
    limiter: TokenBucketLimiter | None = getattr(request.app.state, "kb_public_limiter", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(request.app.state, "kb_public_limiter", None)
            if limiter is None:
                limiter = TokenBucketLimiter(rate_per_second=rate_per_minute / 60, burst=burst)
                request.app.state.kb_public_limiter = limiter
    return limiter


async def public_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Refuse a client IP that searches faster than its token bucket allows."""
    limiter = _limiter(request, settings.kb_public_rate_per_minute, settings.kb_public_burst)
    wait = limiter.acquire(client_ip(request, settings) or "unknown")
    if wait > 0:
        raise RateLimited(
            "検索の回数が多すぎます。しばらく待ってから再度お試しください",
            retry_after=int(retry_after_header(wait)),
        )


def _response(hits: list[ArticleHit]) -> SearchResponse:
    return SearchResponse(
        hits=[
            HitRead(
                id=h.id,
                title=h.title,
                answer_short=h.answer_short,
                score=h.score,
                category=h.category,
                municipality_id=h.municipality_id,
            )
            for h in hits
        ]
    )


@router.post(
    "/public/search",
    response_model=SearchResponse,
    dependencies=[Depends(public_rate_limit)],
)
def public_search(body: SearchRequest, session: SessionDep, index: SearchDep) -> SearchResponse:
    """Search the published FAQ without logging in (rate-limited per client)."""
    hits = service.search(
        session=session, index=index, query=body.q, municipality=body.municipality, top=body.top
    )
    return _response(hits)


@router.post("/search", response_model=SearchResponse)
def staff_search(
    body: SearchRequest, actor: CurrentUser, session: SessionDep, index: SearchDep
) -> SearchResponse:
    """Search the published FAQ as a logged-in user (a municipality user within its own)."""
    municipality = body.municipality
    if actor.role == RoleName.MUNICIPALITY:
        municipality = actor.municipality_id
    elif not actor.is_staff:
        return SearchResponse(hits=[])
    hits = service.search(
        session=session, index=index, query=body.q, municipality=municipality, top=body.top
    )
    return _response(hits)


@router.post("/suggestions", response_model=SearchResponse)
def suggestions(
    body: SuggestRequest, actor: StaffUser, session: SessionDep, index: SearchDep
) -> SearchResponse:
    """Return the best articles for a ticket's or mail's subject and text."""
    hits = service.suggest(
        session=session,
        index=index,
        subject=body.subject,
        text=body.text,
        municipality=body.municipality,
        top=body.top,
    )
    return _response(hits)


@router.get("/articles", response_model=list[ArticleRead])
def list_articles(
    actor: CurrentUser,
    session: SessionDep,
    status: Annotated[AnyStatus | None, Query()] = None,
    municipality_id: Annotated[MunicipalityId | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ArticleRead]:
    """List articles, by id."""
    rows = service.list_articles(
        session=session,
        actor=actor,
        status=status,
        municipality_id=municipality_id,
        category=category,
        limit=limit,
        offset=offset,
    )
    return [ArticleRead.model_validate(a) for a in rows]


@router.post("/articles", response_model=ArticleRead, status_code=201)
def create_article(
    body: ArticleCreate, actor: CurrentUser, session: SessionDep, index: SearchDep
) -> ArticleRead:
    """Write a new article (operators write drafts)."""
    article = service.create_article(session=session, index=index, actor=actor, data=body)
    return ArticleRead.model_validate(article)


@router.get("/articles/{article_id}", response_model=ArticleRead)
def read_article(article_id: ArticleId, actor: CurrentUser, session: SessionDep) -> ArticleRead:
    """Return one article."""
    article = service.get_article(session=session, actor=actor, article_id=article_id)
    return ArticleRead.model_validate(article)


@router.patch("/articles/{article_id}", response_model=ArticleRead)
def update_article(
    article_id: ArticleId,
    body: ArticleUpdate,
    actor: CurrentUser,
    session: SessionDep,
    index: SearchDep,
) -> ArticleRead:
    """Change an article; 409 when it changed since the version read."""
    article = service.update_article(
        session=session, index=index, actor=actor, article_id=article_id, data=body
    )
    return ArticleRead.model_validate(article)


@router.put("/articles/{article_id}/status", response_model=ArticleRead)
def change_status(
    article_id: ArticleId,
    body: StatusChange,
    actor: CurrentUser,
    session: SessionDep,
    index: SearchDep,
) -> ArticleRead:
    """Publish, withdraw or archive an article."""
    article = service.set_status(
        session=session,
        index=index,
        actor=actor,
        article_id=article_id,
        status=body.status,
        version=body.version,
    )
    return ArticleRead.model_validate(article)


@router.delete("/articles/{article_id}", status_code=204)
def archive_article(
    article_id: ArticleId, actor: CurrentUser, session: SessionDep, index: SearchDep
) -> Response:
    """Archive an article (it leaves search; its history stays)."""
    service.archive_article(session=session, index=index, actor=actor, article_id=article_id)
    return Response(status_code=204)


@router.get("/articles/{article_id}/revisions", response_model=list[RevisionRead])
def list_revisions(
    article_id: ArticleId, actor: CurrentUser, session: SessionDep
) -> list[RevisionRead]:
    """Return an article's history, newest first."""
    rows = service.list_revisions(session=session, actor=actor, article_id=article_id)
    return [RevisionRead.model_validate(r) for r in rows]
