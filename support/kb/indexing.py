"""Keep the search index in step with the articles, only ever from committed state.

Every change queues a `kb.index` job in the same transaction as the change: the job is the
outbox, so a crash after the commit loses nothing. When the transaction commits, an
after-commit hook indexes the changed articles at once (reading them back as committed, in a
fresh session) and marks the job done; a rollback discards the hook's work and the job with
it. If the index write fails (Elasticsearch down, disk full), the job stays queued and the
worker retries it with backoff; `catch_up` does the same at start, and repairs an index that
has lost documents (a deleted embedded index file, a new Elasticsearch cluster).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from support.adapters.ports import SearchDocument, SearchIndex
from support.db import utcnow
from support.jobs import Job, enqueue
from support.kb.models import Article, ArticleStatus

log = logging.getLogger(__name__)

INDEX_JOB = "kb.index"
_PENDING = "kb_index_pending"
_HOOKED = "kb_index_hooked"
_BATCH = 500
_PROBES = 3


@runtime_checkable
class FullReindex(Protocol):
    """An index that can rebuild itself from scratch without ever showing an empty index."""

    def reindex(self, docs: Iterable[SearchDocument]) -> None:
        """Replace every document."""
        ...


@dataclass
class _Pending:
    index: SearchIndex
    ids: set[str]
    jobs: list[int]


def to_document(article: Article) -> SearchDocument:
    """Flatten an article for the search index."""
    return SearchDocument(
        id=article.id,
        title=article.title,
        body=article.body,
        answer_short=article.answer_short,
        category=article.category,
        tags=tuple(article.tags),
        municipality=article.municipality_id,
        published=article.status == ArticleStatus.PUBLISHED,
    )


def queue_index(session: Session, index: SearchIndex, ids: Sequence[str]) -> None:
    """Queue the re-indexing of articles with the caller's transaction."""
    if not ids:
        return
    job = enqueue(session, INDEX_JOB, {"ids": sorted(set(ids))}, max_attempts=10)
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or pending.index is not index:
        pending = _Pending(index=index, ids=set(), jobs=[])
        session.info[_PENDING] = pending
    pending.ids.update(ids)
    pending.jobs.append(job.id)
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _after_commit(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None:
        return
    # The committed session cannot run SQL any more; a fresh one on the same engine reads
    # what was committed (not what was captured earlier, which a savepoint may have undone).
    try:
        with Session(bind=session.get_bind()) as fresh:
            sync(session=fresh, index=pending.index, ids=sorted(pending.ids))
            _mark_done(fresh, pending.jobs)
            fresh.commit()
    except Exception:  # noqa: BLE001 - the queued job retries; the change itself is committed
        log.warning(
            "search index update failed; the worker will retry it",
            extra={"articles": len(pending.ids), "jobs": pending.jobs},
            exc_info=True,
        )


def _mark_done(session: Session, job_ids: Sequence[int]) -> None:
    if job_ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(list(job_ids)), Job.status == "queued")
            .values(status="done", finished_at=utcnow())
        )


def sync(*, session: Session, index: SearchIndex, ids: Sequence[str]) -> None:
    """Make the index say what the database says about these articles."""
    for start in range(0, len(ids), _BATCH):
        chunk = list(ids[start : start + _BATCH])
        articles = session.scalars(select(Article).where(Article.id.in_(chunk))).all()
        published = [a for a in articles if a.status == ArticleStatus.PUBLISHED]
        if published:
            index.upsert([to_document(a) for a in published])
        shown = {a.id for a in published}
        hidden = [i for i in chunk if i not in shown]
        if hidden:
            index.delete(hidden)


def run_job(session: Session, payload: dict[str, Any], index: SearchIndex) -> None:
    """Handle a `kb.index` job: index the articles it names, as they are now."""
    sync(session=session, index=index, ids=[str(i) for i in payload.get("ids", [])])


def reindex_all(*, session: Session, index: SearchIndex) -> int:
    """Rebuild the index from every published article; return how many were indexed."""
    query = (
        select(Article)
        .where(Article.status == ArticleStatus.PUBLISHED)
        .order_by(Article.id)
        .execution_options(yield_per=_BATCH)
    )
    count = 0
    if isinstance(index, FullReindex):
        docs = [to_document(a) for a in session.scalars(query)]
        index.reindex(docs)
        return len(docs)
    batch: list[SearchDocument] = []
    for article in session.scalars(query):
        batch.append(to_document(article))
        if len(batch) == _BATCH:
            index.upsert(batch)
            count += len(batch)
            batch = []
    if batch:
        index.upsert(batch)
        count += len(batch)
    hidden = list(
        session.scalars(select(Article.id).where(Article.status != ArticleStatus.PUBLISHED))
    )
    if hidden:
        index.delete(hidden)
    return count


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What the start-up check did."""

    pending_jobs: int
    reindexed: int | None  # None: the index was whole


def catch_up(*, session: Session, index: SearchIndex) -> CatchUp:
    """Apply index changes left pending, and rebuild an index that lost documents."""
    jobs = session.scalars(
        select(Job).where(Job.kind == INDEX_JOB, Job.status.in_(("queued", "failed")))
    ).all()
    ids = sorted({str(i) for job in jobs for i in job.payload.get("ids", [])})
    if ids:
        sync(session=session, index=index, ids=ids)
        for job in jobs:
            job.status = "done"
            job.finished_at = utcnow()
        session.flush()
    reindexed = None
    if not _index_is_whole(session, index):
        reindexed = reindex_all(session=session, index=index)
        log.info("search index rebuilt from the database", extra={"articles": reindexed})
    return CatchUp(pending_jobs=len(jobs), reindexed=reindexed)


def _index_is_whole(session: Session, index: SearchIndex) -> bool:
    # A few recently changed articles must be found by their own title; an index that lost
    # its file or was pointed at a new cluster finds none of them.
    probes = session.scalars(
        select(Article)
        .where(Article.status == ArticleStatus.PUBLISHED)
        .order_by(Article.updated_at.desc(), Article.id)
        .limit(_PROBES)
    ).all()
    for article in probes:
        found = index.search(article.title, municipality=article.municipality_id, top=20)
        if article.id not in {hit.id for hit in found}:
            return False
    return True
