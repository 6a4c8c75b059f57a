"""The index follows committed article changes, and recovers from a failed index write."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select

from support.adapters.fakes import InMemorySearchIndex
from support.adapters.ports import SearchDocument
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.errors import Forbidden
from support.jobs import Job
from support.kb import service
from support.kb.indexing import INDEX_JOB, catch_up
from support.kb.schemas import ArticleCreate, ImportRow
from support.worker import build_runner
from tests.conftest import Database

EDITOR = Actor(user_id=None, username="editor", role=RoleName.SUPERVISOR)


class BrokenIndex(InMemorySearchIndex):
    """An index whose writes fail, like an unreachable Elasticsearch."""

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        raise ConnectionError("index unreachable")


def new_article(article_id: str) -> ArticleCreate:
    return ArticleCreate(
        id=article_id,
        title="寄附金受領証明書が届きません",
        answer_short="寄附先の自治体から、入金確認後におおむね1か月で届きます。",
        body="受領証明書は入金の確認後に郵送されます。届かない場合は自治体へお問い合わせください。",
        status="published",
    )


def rows(*ids: str) -> list[ImportRow]:
    return [
        ImportRow(
            id=i,
            title=f"質問 {i} の控除について",
            answer_short="回答です。",
            body="本文です。",
        )
        for i in ids
    ]


def index_jobs(database: Database) -> list[str]:
    with database.factory() as session:
        return list(session.scalars(select(Job.status).where(Job.kind == INDEX_JOB)))


class TestIndexFollowsCommits:
    def test_a_rolled_back_change_never_reaches_the_index(self, database: Database) -> None:
        index = InMemorySearchIndex()
        with database.factory() as session:
            service.create_article(
                session=session, index=index, actor=EDITOR, data=new_article("faq-1")
            )
            session.rollback()
        assert index.search("受領証明書") == []
        assert index_jobs(database) == []

    def test_a_failed_index_write_leaves_the_job_queued_and_the_change_committed(
        self, database: Database
    ) -> None:
        with database.factory() as session:
            service.create_article(
                session=session, index=BrokenIndex(), actor=EDITOR, data=new_article("faq-2")
            )
            session.commit()
        assert index_jobs(database) == ["queued"]
        healthy = InMemorySearchIndex()
        build_runner(database.factory, search=healthy).run_until_idle()
        assert [h.id for h in healthy.search("受領証明書")] == ["faq-2"]
        assert index_jobs(database) == ["done"]

    def test_the_start_check_applies_pending_changes(self, database: Database) -> None:
        with database.factory() as session:
            service.create_article(
                session=session, index=BrokenIndex(), actor=EDITOR, data=new_article("faq-3")
            )
            session.commit()
        healthy = InMemorySearchIndex()
        with database.factory() as session:
            outcome = catch_up(session=session, index=healthy)
            session.commit()
        assert outcome.pending_jobs == 1
        assert [h.id for h in healthy.search("受領証明書")] == ["faq-3"]
        assert index_jobs(database) == ["done"]

    def test_the_start_check_rebuilds_an_index_that_lost_its_documents(
        self, database: Database
    ) -> None:
        with database.factory() as session:
            service.import_rows(
                session=session, index=InMemorySearchIndex(), actor=EDITOR, rows=rows("a", "b")
            )
            session.commit()
        empty = InMemorySearchIndex()
        with database.factory() as session:
            outcome = catch_up(session=session, index=empty)
            session.commit()
        assert outcome.reindexed == 2
        assert {h.id for h in empty.search("控除")} == {"a", "b"}
        with database.factory() as session:
            assert catch_up(session=session, index=empty).reindexed is None


class TestImport:
    def test_reimporting_the_same_file_changes_nothing(self, database: Database) -> None:
        index = InMemorySearchIndex()
        with database.factory() as session:
            first = service.import_rows(session=session, index=index, actor=EDITOR, rows=rows("a"))
            again = service.import_rows(session=session, index=index, actor=EDITOR, rows=rows("a"))
            session.commit()
        assert (first.created, again.unchanged) == (1, 1)

    def test_an_operator_may_not_import(self, database: Database) -> None:
        operator = Actor(user_id=None, username="op", role=RoleName.OPERATOR)
        with database.factory() as session, pytest.raises(Forbidden):
            service.import_rows(
                session=session, index=InMemorySearchIndex(), actor=operator, rows=rows("a")
            )


class TestSearchOutage:
    def test_an_unreachable_engine_is_a_503_not_a_crash(self, database: Database) -> None:
        class DownIndex(InMemorySearchIndex):
            def search(self, query: str, *, municipality: str | None = None, top: int = 5) -> list:  # type: ignore[type-arg]
                raise ConnectionError("down")

        with database.factory() as session, pytest.raises(service.SearchUnavailable) as raised:
            service.search(session=session, index=DownIndex(), query="控除")
        assert raised.value.status == 503
