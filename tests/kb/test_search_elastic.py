"""The Elasticsearch FAQ search against a real osmem-server: writes, ranking rules, reindex."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import ApiError

import support.adapters.search_elastic as search_elastic
from support.adapters.ja_text import DEFAULT_SYNONYMS_PATH
from support.adapters.ports import SearchDocument, SearchIndex
from support.adapters.search_elastic import ElasticSearchIndex
from tests.services.netutil import free_port
from tests.services.opensearch import OpenSearchServer

pytestmark = pytest.mark.search

SHARED_KB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kb"
FAQ_FILE = SHARED_KB / "faq.jsonl"
DEV_QUERIES = SHARED_KB / "queries-dev.jsonl"
LOGGER = search_elastic.__name__

IndexFactory = Callable[..., ElasticSearchIndex]


def doc(
    doc_id: str,
    title: str,
    body: str = "",
    *,
    tags: tuple[str, ...] = (),
    municipality: str | None = None,
    published: bool = True,
) -> SearchDocument:
    return SearchDocument(
        id=doc_id,
        title=title,
        body=body,
        tags=tags,
        municipality=municipality,
        published=published,
    )


CORPUS = (
    doc(
        "deadline",
        "ワンストップ特例申請書の提出期限",
        "寄附をした翌年の1月10日までに、寄附先の自治体へ必着でご提出ください。",
        tags=("申請期限",),
    ),
    doc(
        "receipt-lost",
        "受領証明書をなくしてしまいました。再発行してもらえますか？",
        "寄附先の自治体で寄附金受領証明書を再発行できます。",
        tags=("再発行", "紛失"),
    ),
    doc(
        "redelivery",
        "不在で返礼品を受け取れませんでした",
        "不在票に記載の配送業者へ連絡し、再配達をご依頼ください。",
        tags=("不在票", "再配達"),
    ),
    doc(
        "swap-fee",
        "返礼品の交換の送料はかかりますか？",
        "配送業者の責任による場合を除き、交換の費用は事業者が負担します。",
        tags=("送料", "交換"),
    ),
    doc(
        "swap-fee-ise",
        "伊勢市の返礼品の交換の送料はかかりますか？",
        "伊勢市では交換の費用は事業者が負担するため、送料はかかりません。",
        tags=("送料", "交換"),
        municipality="ise",
    ),
    doc(
        "swap-fee-yokohama",
        "横浜市の返礼品の交換の送料はかかりますか？",
        "横浜市では交換の費用を事業者が負担します。",
        tags=("送料", "交換"),
        municipality="yokohama",
    ),
    doc(
        "paypay",
        "PayPay商品券とはどういうものですか？",
        "PayPayアプリで使える電子商品券です。",
        tags=("PayPay", "商品券"),
    ),
)


def ids(
    index: SearchIndex, query: str, *, municipality: str | None = None, top: int = 5
) -> list[str]:
    return [hit.id for hit in index.search(query, municipality=municipality, top=top)]


def load_faq() -> list[SearchDocument]:
    rows = [json.loads(line) for line in FAQ_FILE.read_text(encoding="utf-8").splitlines()]
    return [
        SearchDocument(
            id=row["id"],
            title=row["title"],
            body=row["body"],
            answer_short=row.get("answer_short", ""),
            category=row.get("category", ""),
            tags=tuple(row.get("tags", ())),
            municipality=row.get("municipality"),
            published=row.get("published", True),
        )
        for row in rows
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenSearchServer]:
    with OpenSearchServer() as started:
        yield started


@pytest.fixture
def synonyms_file(tmp_path: Path) -> Path:
    path = tmp_path / "synonyms.txt"
    path.write_text("# test group\n不在票,留守通知\n", encoding="utf-8")
    return path


@pytest.fixture
def make_index(server: OpenSearchServer, synonyms_file: Path) -> Iterator[IndexFactory]:
    """Build adapters on the shared server, all under one alias of this test's own."""
    alias = f"faq-{uuid.uuid4().hex[:12]}"
    made: list[ElasticSearchIndex] = []

    def make(
        *, compat_headers: bool = False, synonyms_path: Path | None = synonyms_file
    ) -> ElasticSearchIndex:
        index = ElasticSearchIndex(
            server.url, index=alias, compat_headers=compat_headers, synonyms_path=synonyms_path
        )
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()
    # Free the shared in-memory server of this test's indices (by name: wildcard deletes
    # are refused by default on Elasticsearch 8+).
    admin = ElasticSearchIndex(server.url, index=alias)
    try:
        for name in admin._client.indices.get(index=f"{alias}-*"):
            admin._client.options(ignore_status=404).indices.delete(index=name)
    finally:
        admin.close()


@pytest.fixture
def faq(make_index: IndexFactory) -> ElasticSearchIndex:
    index = make_index()
    index.upsert(CORPUS)
    return index


# -- health --------------------------------------------------------------------------------


def test_ping_is_true_when_the_server_answers(make_index: IndexFactory) -> None:
    assert make_index().ping() is True


def test_ping_is_false_not_an_error_when_nothing_listens_at_the_url() -> None:
    index = ElasticSearchIndex(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        assert index.ping() is False
    finally:
        index.close()


def test_a_url_without_a_port_uses_the_schemes_default_port() -> None:
    index = ElasticSearchIndex("https://127.0.0.1")
    try:
        [node] = index._client.transport.node_pool.all()
        assert node.config.port == 443
    finally:
        index.close()


def test_the_client_sends_plain_json_unless_compat_headers_are_asked_for(
    make_index: IndexFactory,
) -> None:
    # osmem-server answers 406 to the versioned media type elasticsearch-py sends by default.
    with pytest.raises(ApiError) as refused:
        make_index(compat_headers=True).upsert(CORPUS[:1])
    assert refused.value.status_code == 406
    plain = make_index()
    plain.upsert(CORPUS[:1])
    assert ids(plain, "ワンストップ 期限") == ["deadline"]


# -- writes --------------------------------------------------------------------------------


def test_searching_before_anything_is_indexed_returns_nothing(
    make_index: IndexFactory,
) -> None:
    assert make_index().search("返礼品") == []


def test_an_upserted_article_is_found_by_two_of_its_words(faq: ElasticSearchIndex) -> None:
    hits = faq.search("ワンストップ 期限")
    assert hits[0].id == "deadline"
    assert hits[0].score > 0


def test_upsert_replaces_an_article_with_the_same_id(faq: ElasticSearchIndex) -> None:
    faq.upsert([doc("paypay", "楽天ポイントで寄附できますか？", "ポイント払いに対応しています。")])
    assert "paypay" not in ids(faq, "PayPay 商品券")
    assert ids(faq, "楽天ポイント")[0] == "paypay"


def test_a_deleted_article_is_no_longer_found(faq: ElasticSearchIndex) -> None:
    faq.delete(["deadline", "no-such-article"])
    assert "deadline" not in ids(faq, "ワンストップ 期限", top=10)
    assert "receipt-lost" in ids(faq, "受領証明書 再発行")


def test_deleting_from_an_index_that_was_never_built_does_nothing(
    make_index: IndexFactory,
) -> None:
    make_index().delete(["anything"])


def test_unpublished_articles_are_never_returned(faq: ElasticSearchIndex) -> None:
    faq.upsert([doc("draft", "ワンストップ特例申請書の提出期限（下書き）", published=False)])
    assert "draft" not in ids(faq, "ワンストップ特例申請書の提出期限（下書き）", top=50)
    faq.upsert([doc("deadline", "ワンストップ特例申請書の提出期限", published=False)])
    assert "deadline" not in ids(faq, "ワンストップ 期限", top=50)


# -- ranking rules -------------------------------------------------------------------------


def test_the_donors_municipality_ranks_first_and_other_municipalities_are_excluded(
    faq: ElasticSearchIndex,
) -> None:
    found = ids(faq, "返礼品 交換 送料", municipality="ise", top=10)
    assert found[:2] == ["swap-fee-ise", "swap-fee"]
    assert "swap-fee-yokohama" not in found


def test_without_a_municipality_general_articles_rank_above_specific_ones(
    faq: ElasticSearchIndex,
) -> None:
    found = ids(faq, "返礼品 交換 送料", top=10)
    assert found[0] == "swap-fee"
    assert {"swap-fee-ise", "swap-fee-yokohama"} <= set(found[1:])


def test_top_limits_the_results_and_they_come_best_first(faq: ElasticSearchIndex) -> None:
    hits = faq.search("返礼品", top=2)
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    assert faq.search("返礼品", top=0) == []


def test_a_typo_still_finds_the_article(faq: ElasticSearchIndex) -> None:
    assert ids(faq, "ワンストップ特令の提出", top=1) == ["deadline"]
    assert ids(faq, "PayPy", top=1) == ["paypay"]


def test_a_synonym_from_the_synonyms_file_finds_the_article_using_the_other_word(
    faq: ElasticSearchIndex,
) -> None:
    # 留守通知 shares no word and no character bigram with any article.
    assert ids(faq, "留守通知", top=1) == ["redelivery"]


def test_a_builtin_spelling_variant_finds_the_other_spelling(faq: ElasticSearchIndex) -> None:
    # The articles write 寄附; 寄付 shares no term and no character bigram with them.
    assert set(ids(faq, "寄付", top=5)) == {"deadline", "receipt-lost"}


def test_a_missing_synonyms_file_only_loses_its_groups(
    make_index: IndexFactory, tmp_path: Path
) -> None:
    index = make_index(synonyms_path=tmp_path / "absent.txt")
    index.upsert(CORPUS)
    assert ids(index, "ワンストップ 期限", top=1) == ["deadline"]
    assert ids(index, "留守通知") == []


def test_a_server_that_ignores_synonym_filters_is_detected_once(
    make_index: IndexFactory, caplog: pytest.LogCaptureFixture
) -> None:
    index = make_index()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        index.reindex(CORPUS)
        index.reindex(CORPUS)
    ignored = [r for r in caplog.records if "does not apply them" in r.getMessage()]
    assert len(ignored) == 1
    assert index.analysis == "kuromoji with synonyms"


def test_a_refused_synonym_filter_degrades_the_analysis_and_is_logged_once(
    make_index: IndexFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rule the server cannot parse makes it refuse the whole index, as Elasticsearch does.
    monkeypatch.setattr(
        search_elastic,
        "_synonym_filter",
        lambda groups: {"type": "synonym_graph", "synonyms": ["a => => b"]},
    )
    index = make_index()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        index.reindex(CORPUS)
        index.reindex(CORPUS)
    refused = [r for r in caplog.records if "refused the index settings" in r.getMessage()]
    assert len(refused) == 1
    assert index.analysis == "kuromoji without synonyms"
    # Synonyms still work, expanded in the query instead.
    assert ids(index, "留守通知", top=1) == ["redelivery"]


# -- reindex -------------------------------------------------------------------------------


def test_reindex_keeps_results_available_and_leaves_exactly_one_concrete_index(
    make_index: IndexFactory,
) -> None:
    index = make_index()
    index.upsert(CORPUS)
    first = index.concrete_indices()
    reader = make_index()
    seen_during_reindex: list[list[str]] = []

    def replacement() -> Iterator[SearchDocument]:
        for document in CORPUS:
            # The alias still points at the old, full index while the new one fills.
            seen_during_reindex.append(ids(reader, "ワンストップ 期限", top=1))
            if document.id != "paypay":
                yield document

    index.reindex(replacement())
    assert seen_during_reindex == [["deadline"]] * len(CORPUS)
    after = index.concrete_indices()
    assert len(after) == 1
    assert after != first
    assert ids(reader, "ワンストップ 期限", top=1) == ["deadline"]
    assert "paypay" not in ids(reader, "PayPay", top=10)
    # The old concrete index is gone, not just unaliased.
    assert not index._client.indices.exists(index=first[0])


def test_a_failed_reindex_leaves_the_old_index_serving(
    make_index: IndexFactory,
) -> None:
    index = make_index()
    index.upsert(CORPUS)
    before = index.concrete_indices()

    def broken() -> Iterator[SearchDocument]:
        yield CORPUS[0]
        raise RuntimeError("source database went away")

    with pytest.raises(RuntimeError, match="went away"):
        index.reindex(broken())
    assert index.concrete_indices() == before
    assert ids(index, "PayPay", top=1) == ["paypay"]
    leftovers = index._client.indices.get(index=f"{index.index}-*")
    assert sorted(leftovers.keys()) == before


# -- the shared FAQ ------------------------------------------------------------------------


@pytest.mark.skipif(not FAQ_FILE.exists(), reason=f"{FAQ_FILE} not found")
def test_every_faq_title_finds_its_own_article_in_the_top_three(
    make_index: IndexFactory,
) -> None:
    articles = load_faq()
    assert len(articles) == 90
    index = make_index(synonyms_path=DEFAULT_SYNONYMS_PATH)
    index.reindex(articles)
    misses = [
        (article.id, article.title)
        for article in articles
        if article.id not in ids(index, article.title, municipality=article.municipality, top=3)
    ]
    assert misses == []


@pytest.mark.skipif(not DEV_QUERIES.exists(), reason=f"{DEV_QUERIES} not found")
def test_dev_queries_meet_the_measured_quality_floor(
    make_index: IndexFactory,
) -> None:
    index = make_index(synonyms_path=DEFAULT_SYNONYMS_PATH)
    index.reindex(load_faq())
    queries = [json.loads(line) for line in DEV_QUERIES.read_text(encoding="utf-8").splitlines()]
    found = 0
    reciprocal = 0.0
    for query in queries:
        ranked = ids(index, query["q"], municipality=query["municipality"], top=5)
        rank = next((i for i, hit in enumerate(ranked, 1) if hit in query["relevant"]), None)
        if rank is not None:
            found += 1
            reciprocal += 1 / rank
    # Measured with osmem-server 0.1.6: 38/40 in the top 5, MRR@5 0.83.
    assert found / len(queries) >= 0.85
    assert reciprocal / len(queries) >= 0.75


# -- the harness ---------------------------------------------------------------------------


def test_the_server_harness_stops_its_process_by_pid() -> None:
    harness = OpenSearchServer()
    with harness:
        pid = harness.pid
        assert harness.running
        index = ElasticSearchIndex(harness.url)
        assert index.ping() is True
        index.close()
    assert not harness.running
    with pytest.raises(ProcessLookupError):
        # Signal 0 only checks existence: the stopped and reaped server's PID is gone.
        os.kill(pid, 0)
