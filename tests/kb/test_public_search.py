"""The public FAQ search and the operator's suggestions, over HTTP on the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.adapters.search_sqlite import SqliteSearchIndex
from support.auth.models import RoleName
from tests.conftest import Database
from tests.factories import login_as
from tests.kb.conftest import ClientFactory

SEARCH = "/api/kb/public/search"
ODD_QUERIES = [
    "",
    "   ",
    "控除" * 5_000,
    "🎁🎁🎁",
    "！？＠＃＄％",
    '"ワンストップ" OR * NEAR(',
    'NEAR("期限" "申請", 2) AND NOT',
    "ワンストップ特例 deadline いつまで 申请书",
    "\u200b\ufeff",
]


@pytest.fixture
def engine() -> Iterator[SqliteSearchIndex]:
    index = SqliteSearchIndex(":memory:")
    yield index
    index.close()


def create(client: TestClient, headers: dict[str, str], **fields: Any) -> None:
    body = {
        "title": "ワンストップ特例の申請書はいつまでに出せばいいですか？",
        "answer_short": "寄附をした翌年の1月10日までに、寄附先の自治体へご提出ください。",
        "body": "申請書は翌年1月10日必着です。期限後は確定申告で控除を受けてください。",
        "category": "ワンストップ特例",
        "tags": ["申請期限"],
        "status": "published",
    }
    body.update(fields)
    response = client.post("/api/kb/articles", json=body, headers=headers)
    assert response.status_code == 201, response.text


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


class TestPublicSearch:
    def test_answers_without_login_with_published_articles_only(
        self, make_client: ClientFactory, engine: SqliteSearchIndex, database: Database
    ) -> None:
        client = make_client(engine)
        staff = login_as(client, database.factory, RoleName.SUPERVISOR)
        create(client, staff, id="deadline")
        create(client, staff, id="draft", status="draft", title="ワンストップ特例の下書き")
        hits = client.post(SEARCH, json={"q": "ワンストップの締め切り"}).json()["hits"]
        assert [h["id"] for h in hits] == ["deadline"]
        assert hits[0]["answer_short"].startswith("寄附をした翌年")

    def test_a_municipalitys_own_article_comes_first_for_its_donors(
        self, make_client: ClientFactory, engine: SqliteSearchIndex, database: Database
    ) -> None:
        client = make_client(engine)
        staff = login_as(client, database.factory, RoleName.SUPERVISOR)
        create(client, staff, id="general")
        create(client, staff, id="ise", municipality_id="ise")
        q = "ワンストップ特例の申請書はいつまで"
        assert ids(client.post(SEARCH, json={"q": q, "municipality": "ise"}))[0] == "ise"
        assert ids(client.post(SEARCH, json={"q": q}))[0] == "general"
        assert "ise" not in ids(client.post(SEARCH, json={"q": q, "municipality": "yokohama"}))

    def test_odd_queries_get_results_or_an_empty_list(
        self, make_client: ClientFactory, engine: SqliteSearchIndex, database: Database
    ) -> None:
        client = make_client(engine, kb_public_burst=100)
        staff = login_as(client, database.factory, RoleName.SUPERVISOR)
        create(client, staff, id="deadline")
        for q in ODD_QUERIES:
            response = client.post(SEARCH, json={"q": q})
            assert response.status_code == 200, (q[:20], response.text)
            assert isinstance(response.json()["hits"], list)
        # A NUL is refused for every JSON body (support/http.py), the public search included.
        nul = client.post(SEARCH, json={"q": "\x00\u200b\ufeff"})
        assert nul.status_code == 422 and nul.json()["code"] == "invalid_input"
        too_long = client.post(SEARCH, json={"q": "あ" * 10_001})
        assert too_long.status_code == 422
        assert too_long.json()["code"] == "invalid_input"

    def test_a_client_over_its_bucket_gets_429_with_retry_after(
        self, make_client: ClientFactory, engine: SqliteSearchIndex
    ) -> None:
        client = make_client(engine)
        for _ in range(3):
            assert client.post(SEARCH, json={"q": "控除"}).status_code == 200
        refused = client.post(SEARCH, json={"q": "控除"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) == 60

    def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
        self, make_client: ClientFactory, engine: SqliteSearchIndex
    ) -> None:
        untrusted = make_client(engine)
        codes = [
            untrusted.post(
                SEARCH, json={"q": "控除"}, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        trusted = make_client(engine, trusted_proxies=["testclient"])
        codes = [
            trusted.post(
                SEARCH, json={"q": "控除"}, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(4)
        ]
        assert codes == [200, 200, 200, 200]


class TestSuggestions:
    def test_staff_get_the_best_articles_for_a_mails_subject_and_text(
        self, make_client: ClientFactory, engine: SqliteSearchIndex, database: Database
    ) -> None:
        client = make_client(engine)
        staff = login_as(client, database.factory, RoleName.OPERATOR)
        supervisor = login_as(client, database.factory, RoleName.SUPERVISOR)
        create(client, supervisor, id="deadline")
        create(
            client,
            supervisor,
            id="receipt",
            title="受領証明書をなくしました。再発行できますか？",
            answer_short="寄附先の自治体で再発行できます。",
            body="寄附金受領証明書は寄附先の自治体が再発行します。",
            tags=["再発行"],
        )
        mail = {
            "subject": "Re: 申請書について",
            "text": "ワンストップ特例の申請書はいつまでに送ればいいですか。\n\n"
            "> 以前のメール: 受領証明書の再発行について\n-- \n署名",
        }
        response = client.post("/api/kb/suggestions", json=mail, headers=staff)
        assert ids(response)[0] == "deadline"
        assert len(ids(response)) <= 3

    def test_suggestions_are_for_staff_only(
        self, make_client: ClientFactory, engine: SqliteSearchIndex
    ) -> None:
        client = make_client(engine)
        assert client.post("/api/kb/suggestions", json={"subject": "控除"}).status_code == 401
