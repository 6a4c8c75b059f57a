"""Editing FAQ articles over HTTP: roles, versions, history, audit, and the index following."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.adapters.fakes import InMemorySearchIndex
from support.auth.models import AuditEvent, RoleName
from support.jobs import Job
from support.kb.indexing import INDEX_JOB
from tests.conftest import Database
from tests.factories import load_demo_world, login_as

API = "/api/kb/articles"


def article(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "返礼品の到着日を指定できますか？",
        "answer_short": "お申し込みの際に、配送希望日をご指定いただけます。",
        "body": "配送希望日はお申し込み画面で選べます。繁忙期はご希望に沿えない場合があります。",
        "category": "返礼品の配送",
        "tags": ["配送日", "指定"],
    }
    body.update(fields)
    return body


@pytest.fixture
def supervisor(app_client: TestClient, database: Database) -> dict[str, str]:
    return login_as(app_client, database.factory, RoleName.SUPERVISOR)


@pytest.fixture
def operator(app_client: TestClient, database: Database) -> dict[str, str]:
    return login_as(app_client, database.factory, RoleName.OPERATOR)


def create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post(API, json=article(**fields), headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def public_ids(client: TestClient, q: str, **extra: Any) -> list[str]:
    response = client.post("/api/kb/public/search", json={"q": q, **extra})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


class TestCreateArticle:
    def test_a_published_article_is_searchable_once_committed(
        self, app_client: TestClient, supervisor: dict[str, str], search: InMemorySearchIndex
    ) -> None:
        created = create(app_client, supervisor, id="faq-900", status="published")
        assert created["version"] == 1 and created["status"] == "published"
        assert created["published_at"] is not None
        assert public_ids(app_client, "配送希望日") == ["faq-900"]

    def test_an_operator_writes_drafts_that_the_public_does_not_see(
        self, app_client: TestClient, operator: dict[str, str]
    ) -> None:
        created = create(app_client, operator, id="faq-901")
        assert created["status"] == "draft"
        assert public_ids(app_client, "配送希望日") == []

    def test_an_operator_may_not_publish(
        self, app_client: TestClient, operator: dict[str, str]
    ) -> None:
        response = app_client.post(API, json=article(status="published"), headers=operator)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_a_taken_id_is_a_conflict(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        create(app_client, supervisor, id="faq-902")
        response = app_client.post(API, json=article(id="faq-902"), headers=supervisor)
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"

    @pytest.mark.parametrize(
        "fields",
        [
            {"answer_short": "詳しくは https://example.jp をご覧ください"},
            {"answer_short": "一行目\n二行目"},
            {"title": ""},
            {"municipality_id": "Ise City"},
            {"id": "../etc"},
            {"unknown": 1},
        ],
    )
    def test_bad_fields_get_a_problem_422(
        self, app_client: TestClient, supervisor: dict[str, str], fields: dict[str, Any]
    ) -> None:
        response = app_client.post(API, json=article(**fields), headers=supervisor)
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"

    def test_without_login_nobody_writes(self, app_client: TestClient) -> None:
        assert app_client.post(API, json=article()).status_code == 401

    def test_a_supplier_neither_reads_nor_writes(
        self, app_client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        headers = login_as(app_client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        assert app_client.post(API, json=article(), headers=headers).status_code == 403
        assert app_client.get(API, headers=headers).status_code == 403


class TestUpdateArticle:
    def test_a_change_bumps_the_version_and_adds_a_revision(
        self, app_client: TestClient, supervisor: dict[str, str], database: Database
    ) -> None:
        create(app_client, supervisor, id="faq-910", status="published")
        response = app_client.patch(
            f"{API}/faq-910",
            json={"version": 1, "title": "配送日を指定したいです"},
            headers=supervisor,
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2
        history = app_client.get(f"{API}/faq-910/revisions", headers=supervisor).json()
        assert [(r["version"], r["action"]) for r in history] == [(2, "updated"), (1, "created")]
        assert history[0]["snapshot"]["title"] == "配送日を指定したいです"
        with database.factory() as session:
            actions = session.scalars(
                select(AuditEvent.action).where(AuditEvent.resource_id == "faq-910")
            ).all()
        assert sorted(actions) == ["kb.created", "kb.updated"]

    def test_a_stale_version_is_a_conflict_and_changes_nothing(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        create(app_client, supervisor, id="faq-911")
        first = {"version": 1, "title": "一人目の変更"}
        assert app_client.patch(f"{API}/faq-911", json=first, headers=supervisor).is_success
        second = {"version": 1, "title": "二人目の変更"}
        response = app_client.patch(f"{API}/faq-911", json=second, headers=supervisor)
        assert response.status_code == 409
        assert response.json()["current_version"] == 2
        current = app_client.get(f"{API}/faq-911", headers=supervisor).json()
        assert current["title"] == "一人目の変更"

    def test_the_same_content_again_is_no_new_revision(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        created = create(app_client, supervisor, id="faq-912")
        again = {"version": 1, "title": created["title"]}
        assert (
            app_client.patch(f"{API}/faq-912", json=again, headers=supervisor).json()["version"]
            == 1
        )

    def test_an_operator_edits_drafts_but_not_published_articles(
        self, app_client: TestClient, supervisor: dict[str, str], operator: dict[str, str]
    ) -> None:
        create(app_client, operator, id="faq-913")
        change = {"version": 1, "body": "下書きを書き直しました。"}
        assert app_client.patch(f"{API}/faq-913", json=change, headers=operator).is_success
        create(app_client, supervisor, id="faq-914", status="published")
        response = app_client.patch(f"{API}/faq-914", json=change, headers=operator)
        assert response.status_code == 403

    def test_an_unknown_article_is_404(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        response = app_client.patch(f"{API}/faq-404", json={"version": 1}, headers=supervisor)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_the_index_follows_a_published_change(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        create(app_client, supervisor, id="faq-915", status="published")
        change = {"version": 1, "body": "冷凍便の到着日はお選びいただけません。"}
        app_client.patch(f"{API}/faq-915", json=change, headers=supervisor)
        assert public_ids(app_client, "冷凍便") == ["faq-915"]
        assert public_ids(app_client, "繁忙期") == []


class TestChangeStatus:
    def test_publishing_withdrawing_and_archiving(
        self, app_client: TestClient, supervisor: dict[str, str]
    ) -> None:
        create(app_client, supervisor, id="faq-920")
        url = f"{API}/faq-920/status"
        assert app_client.put(url, json={"status": "published", "version": 1}, headers=supervisor)
        assert public_ids(app_client, "配送希望日") == ["faq-920"]
        app_client.put(url, json={"status": "archived", "version": 2}, headers=supervisor)
        assert public_ids(app_client, "配送希望日") == []
        history = app_client.get(f"{API}/faq-920/revisions", headers=supervisor).json()
        assert [r["action"] for r in history] == ["archived", "published", "created"]

    def test_delete_archives_and_keeps_the_history(
        self, app_client: TestClient, supervisor: dict[str, str], operator: dict[str, str]
    ) -> None:
        create(app_client, supervisor, id="faq-922", status="published")
        assert app_client.delete(f"{API}/faq-922", headers=operator).status_code == 403
        assert app_client.delete(f"{API}/faq-922", headers=supervisor).status_code == 204
        assert app_client.delete(f"{API}/faq-922", headers=supervisor).status_code == 204
        assert public_ids(app_client, "配送希望日") == []
        history = app_client.get(f"{API}/faq-922/revisions", headers=supervisor).json()
        assert [r["action"] for r in history] == ["archived", "created"]
        assert app_client.delete(f"{API}/faq-404", headers=supervisor).status_code == 404

    def test_an_operator_cannot_publish_a_draft(
        self, app_client: TestClient, operator: dict[str, str]
    ) -> None:
        create(app_client, operator, id="faq-921")
        response = app_client.put(
            f"{API}/faq-921/status", json={"status": "published", "version": 1}, headers=operator
        )
        assert response.status_code == 403


class TestMunicipalityScope:
    def test_a_municipality_reads_general_and_its_own_articles_only(
        self, app_client: TestClient, supervisor: dict[str, str], database: Database
    ) -> None:
        load_demo_world(database.factory)
        create(app_client, supervisor, id="gen", status="published")
        create(app_client, supervisor, id="ise-1", municipality_id="ise")
        create(app_client, supervisor, id="yok-1", municipality_id="yokohama", status="published")
        ise = login_as(app_client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        listed = [a["id"] for a in app_client.get(API, headers=ise).json()]
        assert listed == ["gen", "ise-1"]
        assert app_client.get(f"{API}/yok-1", headers=ise).status_code == 404
        change = {"version": 1, "title": "自治体による変更"}
        assert app_client.patch(f"{API}/ise-1", json=change, headers=ise).status_code == 403


class TestIndexFollowsCommits:
    def test_nothing_reaches_the_index_before_the_commit(
        self, app_client: TestClient, supervisor: dict[str, str], search: InMemorySearchIndex
    ) -> None:
        calls: list[str] = []
        original = search.upsert

        def spy(docs: Any) -> None:
            calls.append("upsert")
            original(docs)

        search.upsert = spy  # type: ignore[method-assign]
        bad = article(id="faq-930", status="published", title="x" * 301)
        assert app_client.post(API, json=bad, headers=supervisor).status_code == 422
        assert calls == []
        create(app_client, supervisor, id="faq-931", status="published")
        assert calls == ["upsert"]

    def test_the_outbox_job_is_done_once_the_index_is_written(
        self, app_client: TestClient, supervisor: dict[str, str], database: Database
    ) -> None:
        create(app_client, supervisor, id="faq-932", status="published")
        with database.factory() as session:
            statuses = session.scalars(select(Job.status).where(Job.kind == INDEX_JOB)).all()
        assert statuses == ["done"]
