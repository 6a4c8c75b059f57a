"""Knowledge-base use cases: write articles with their history, import/export, and search.

`search` and `suggest` (from support.kb.search) are the public entry points other domains
use; they are re-exported here so that callers import `support.kb.service` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import SearchIndex
from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.db import utcnow
from support.errors import Conflict, Forbidden, NotFound
from support.kb.indexing import queue_index
from support.kb.models import Article, ArticleRevision, ArticleStatus
from support.kb.schemas import ArticleCreate, ArticleUpdate, ImportResult, ImportRow
from support.kb.search import ArticleHit, SearchUnavailable, search, suggest, suggestion_query

__all__ = [
    "ArticleHit",
    "SearchUnavailable",
    "archive_article",
    "create_article",
    "export_rows",
    "get_article",
    "import_rows",
    "list_articles",
    "list_revisions",
    "search",
    "set_status",
    "suggest",
    "suggestion_query",
    "update_article",
]

# Editors: supervisors and admins write and publish; operators, who answer the questions
# and see what is missing, may write drafts that a supervisor reviews and publishes.
PUBLISHERS = frozenset({RoleName.SUPERVISOR, RoleName.ADMIN})
DRAFTERS = PUBLISHERS | {RoleName.OPERATOR}
_CONTENT = ("title", "answer_short", "body", "category", "tags", "municipality_id")


def _snapshot(article: Article) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(article, name) for name in _CONTENT}
    data["tags"] = list(article.tags)
    data["status"] = article.status
    return data


def _record(session: Session, actor: Actor, article: Article, action: str) -> None:
    """Write the revision row and the audit event of one change."""
    session.add(
        ArticleRevision(
            article_id=article.id,
            version=article.version,
            action=action,
            snapshot=_snapshot(article),
            actor_user_id=actor.user_id,
            actor_username=actor.username,
            actor_role=str(actor.role),
            changed_at=article.updated_at,
        )
    )
    audit.record(
        session,
        actor,
        action=f"kb.{action}",
        resource_type="kb_article",
        resource_id=article.id,
        municipality_id=article.municipality_id,
        detail={"version": article.version},
    )


def _visible(actor: Actor, article: Article) -> bool:
    if actor.is_staff:
        return True
    if actor.role == RoleName.MUNICIPALITY:
        # A municipality reads the general articles that are published, and all of its own.
        if article.municipality_id == actor.municipality_id:
            return article.status != ArticleStatus.ARCHIVED
        return article.municipality_id is None and article.status == ArticleStatus.PUBLISHED
    return False


def _check_can_read(actor: Actor) -> None:
    if not (actor.is_staff or actor.role == RoleName.MUNICIPALITY):
        raise Forbidden()


def _check_can_write(actor: Actor, *, status: str, current: str | None = None) -> None:
    if actor.role in PUBLISHERS:
        return
    if actor.role in DRAFTERS:
        if status != ArticleStatus.DRAFT or current not in (None, ArticleStatus.DRAFT):
            raise Forbidden("公開中の記事の変更と公開は、スーパーバイザーか管理者が行います")
        return
    raise Forbidden()


_PUBLISHERS_ONLY = "記事の公開・非公開・アーカイブは、スーパーバイザーか管理者が行います"


def _check_is_editor(actor: Actor, roles: frozenset[RoleName], detail: str | None = None) -> None:
    # Before the lookup: a role that may not edit gets 403 whichever article it names.
    if actor.role not in roles:
        raise Forbidden(detail)


def _load(session: Session, actor: Actor, article_id: str, *, lock: bool = False) -> Article:
    query = select(Article).where(Article.id == article_id)
    if lock:
        query = query.with_for_update()
    article = session.scalar(query)
    if article is None or not _visible(actor, article):
        raise NotFound("記事が見つかりません")
    return article


def _check_version(article: Article, expected: int) -> None:
    if article.version != expected:
        raise Conflict(
            "記事は他の人によって更新されています。最新の内容を読み込んでから編集してください",
            current_version=article.version,
        )


def get_article(*, session: Session, actor: Actor, article_id: str) -> Article:
    """Return one article the actor may read."""
    _check_can_read(actor)
    return _load(session, actor, article_id)


def list_articles(
    *,
    session: Session,
    actor: Actor,
    status: str | None = None,
    municipality_id: str | None = None,
    category: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Article]:
    """Return the articles the actor may read, by id."""
    _check_can_read(actor)
    query = select(Article).order_by(Article.id)
    if status:
        query = query.where(Article.status == status)
    if municipality_id:
        query = query.where(Article.municipality_id == municipality_id)
    if category:
        query = query.where(Article.category == category)
    if actor.role == RoleName.MUNICIPALITY:
        query = query.where(
            (Article.municipality_id == actor.municipality_id)
            | (Article.municipality_id.is_(None) & (Article.status == ArticleStatus.PUBLISHED))
        )
    rows = session.scalars(query.limit(limit).offset(offset)).all()
    return [a for a in rows if _visible(actor, a)]


def list_revisions(*, session: Session, actor: Actor, article_id: str) -> list[ArticleRevision]:
    """Return an article's history, newest first."""
    _check_can_read(actor)
    _load(session, actor, article_id)
    return list(
        session.scalars(
            select(ArticleRevision)
            .where(ArticleRevision.article_id == article_id)
            .order_by(ArticleRevision.version.desc())
        )
    )


def create_article(
    *, session: Session, index: SearchIndex, actor: Actor, data: ArticleCreate
) -> Article:
    """Create an article (a draft unless a publisher publishes it at once)."""
    _check_can_write(actor, status=data.status)
    article_id = data.id or f"kb-{uuid.uuid4().hex[:12]}"
    if session.get(Article, article_id) is not None:
        raise Conflict("同じ ID の記事がすでにあります", article_id=article_id)
    now = utcnow()
    article = Article(
        id=article_id,
        title=data.title,
        answer_short=data.answer_short,
        body=data.body,
        category=data.category,
        tags=list(dict.fromkeys(data.tags)),
        municipality_id=data.municipality_id,
        status=data.status,
        version=1,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
        updated_by=actor.username,
        published_at=now if data.status == "published" else None,
    )
    session.add(article)
    session.flush()
    _record(session, actor, article, "created")
    queue_index(session, index, [article.id])
    session.flush()
    return article


def update_article(
    *,
    session: Session,
    index: SearchIndex,
    actor: Actor,
    article_id: str,
    data: ArticleUpdate,
) -> Article:
    """Change an article's content; 409 when someone changed it since `data.version`."""
    _check_is_editor(actor, DRAFTERS)
    article = _load(session, actor, article_id, lock=True)
    _check_can_write(actor, status=article.status, current=article.status)
    _check_version(article, data.version)
    changes = data.changes()
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    changed = {k: v for k, v in changes.items() if getattr(article, k) != v}
    if not changed:
        return article
    for name, value in changed.items():
        setattr(article, name, value)
    _bump(article, actor)
    _record(session, actor, article, "updated")
    queue_index(session, index, [article.id])
    session.flush()
    return article


def set_status(
    *,
    session: Session,
    index: SearchIndex,
    actor: Actor,
    article_id: str,
    status: str,
    version: int,
) -> Article:
    """Publish, withdraw to draft, or archive an article (publishers only)."""
    _check_is_editor(actor, PUBLISHERS, _PUBLISHERS_ONLY)
    article = _load(session, actor, article_id, lock=True)
    _check_version(article, version)
    if article.status == status:
        return article
    article.status = status
    if status == ArticleStatus.PUBLISHED:
        article.published_at = utcnow()
    _bump(article, actor)
    action = {"published": "published", "draft": "unpublished", "archived": "archived"}[status]
    _record(session, actor, article, action)
    queue_index(session, index, [article.id])
    session.flush()
    return article


def archive_article(
    *, session: Session, index: SearchIndex, actor: Actor, article_id: str
) -> Article:
    """Take an article out of use for good (DELETE); its history stays."""
    _check_is_editor(actor, PUBLISHERS, _PUBLISHERS_ONLY)
    current = _load(session, actor, article_id)
    return set_status(
        session=session,
        index=index,
        actor=actor,
        article_id=article_id,
        status=ArticleStatus.ARCHIVED,
        version=current.version,
    )


def _bump(article: Article, actor: Actor) -> None:
    article.version += 1
    article.updated_at = utcnow()
    article.updated_by = actor.username


def import_rows(
    *, session: Session, index: SearchIndex, actor: Actor, rows: Sequence[ImportRow]
) -> ImportResult:
    """Create or update articles from FAQ lines; an unchanged article gets no revision."""
    if actor.role not in PUBLISHERS:
        raise Forbidden()
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise Conflict(f"ID {duplicate} が二度出てきます", article_id=duplicate)
    existing = {
        a.id: a
        for chunk in _chunks(ids, 500)
        for a in session.scalars(select(Article).where(Article.id.in_(chunk)))
    }
    result = ImportResult()
    now = utcnow()
    touched: list[str] = []
    for row in rows:
        wanted: dict[str, Any] = {
            "title": row.title,
            "answer_short": row.answer_short,
            "body": row.body,
            "category": row.category,
            "tags": list(dict.fromkeys(row.tags)),
            "municipality_id": row.resolved_municipality(),
            "status": row.resolved_status(),
        }
        article = existing.get(row.id)
        if article is None:
            article = Article(
                id=row.id,
                version=1,
                created_at=now,
                created_by=actor.username,
                updated_at=now,
                updated_by=actor.username,
                **wanted,
            )
            if article.status == ArticleStatus.PUBLISHED:
                article.published_at = now
            session.add(article)
            result.created += 1
            action = "imported"
        else:
            changed = {k: v for k, v in wanted.items() if getattr(article, k) != v}
            if not changed:
                result.unchanged += 1
                continue
            for name, value in changed.items():
                setattr(article, name, value)
            if changed.get("status") == ArticleStatus.PUBLISHED:
                article.published_at = now
            _bump(article, actor)
            result.updated += 1
            action = "reimported"
        session.flush()
        _record(session, actor, article, action)
        touched.append(article.id)
    queue_index(session, index, touched)
    session.flush()
    return result


def export_rows(*, session: Session, include_drafts: bool = False) -> Iterator[dict[str, Any]]:
    """Yield every article as one faq.jsonl line (published only unless drafts are asked for)."""
    query = select(Article).order_by(Article.id)
    if include_drafts:
        query = query.where(Article.status != ArticleStatus.ARCHIVED)
    else:
        query = query.where(Article.status == ArticleStatus.PUBLISHED)
    for article in session.scalars(query.execution_options(yield_per=500)):
        line: dict[str, Any] = {
            "id": article.id,
            "municipality": article.municipality_id,
            "category": article.category,
            "title": article.title,
            "answer_short": article.answer_short,
            "body": article.body,
            "tags": list(article.tags),
        }
        if include_drafts:
            line["status"] = article.status
        yield line


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
