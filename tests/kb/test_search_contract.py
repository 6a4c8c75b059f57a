"""One contract for every SearchIndex: the embedded engine and Elasticsearch (osmem-server).

The same questions must get the same kind of answer from both: only published documents,
a municipality's own article first for its donors and never another municipality's, writes
visible at once, and odd input answered with results or an empty list, never an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from support.adapters.ports import SearchDocument, SearchIndex
from support.adapters.search_elastic import ElasticSearchIndex
from support.adapters.search_sqlite import SqliteSearchIndex
from tests.services.opensearch import OpenSearchServer


def doc(
    doc_id: str,
    title: str,
    body: str,
    *,
    tags: tuple[str, ...] = (),
    municipality: str | None = None,
    published: bool = True,
) -> SearchDocument:
    return SearchDocument(
        id=doc_id,
        title=title,
        body=body,
        answer_short=body.split("。")[0] + "。",
        tags=tags,
        municipality=municipality,
        published=published,
    )


CORPUS = (
    doc(
        "deadline",
        "ワンストップ特例の申請書はいつまでに出せばいいですか？",
        "寄附をした翌年の1月10日までに、寄附先の自治体へ必着でご提出ください。",
        tags=("申請期限", "ワンストップ特例"),
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
        tags=("送料", "交換", "伊勢市"),
        municipality="ise",
    ),
    doc(
        "swap-fee-yokohama",
        "横浜市の返礼品の交換の送料はかかりますか？",
        "横浜市では交換の費用を事業者が負担します。",
        tags=("送料", "交換", "横浜市"),
        municipality="yokohama",
    ),
    doc(
        "draft-deadline",
        "ワンストップ特例の申請期限（下書き）",
        "ワンストップ特例の申請書の期限についての下書きです。",
        published=False,
    ),
)

ODD_QUERIES = (
    "",
    "   \t\n",
    "控除" * 5_000,
    "🎁🙇‍♀️🎉",
    "！？＠＃＄％＾＆＊（）",
    '"',
    '"""',
    "*",
    "NEAR",
    "OR",
    "AND NOT OR NEAR",
    'ワンストップ" OR "*',
    'NEAR("申請" "期限", 3)',
    "title:返礼品 ^ {1} [2]",
    "'; DROP TABLE kb_docs; --",
    "-返礼品 +送料 ~交換",
    "ワンストップ deadline 申请书 신청서 いつまで",
    "ｗａｎ ｓｔｏｐ ﾜﾝｽﾄｯﾌﾟ",
    "\x00\u200b\ufeff\u202e",
)


def ids(index: SearchIndex, q: str, *, municipality: str | None = None, top: int = 5) -> list[str]:
    return [hit.id for hit in index.search(q, municipality=municipality, top=top)]


@pytest.fixture(scope="module")
def osmem() -> Iterator[OpenSearchServer]:
    with OpenSearchServer() as started:
        yield started


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("osmem", marks=pytest.mark.search)]
)
def engine(request: pytest.FixtureRequest) -> Iterator[SearchIndex]:
    """Yield each engine, loaded with the corpus once for the module."""
    index: SearchIndex
    if request.param == "embedded":
        index = SqliteSearchIndex(":memory:")
    else:
        server: OpenSearchServer = request.getfixturevalue("osmem")
        index = ElasticSearchIndex(server.url, index=f"contract-{uuid.uuid4().hex[:10]}")
    index.upsert(CORPUS)
    yield index
    index.close()


class TestWhatIsFound:
    def test_a_question_finds_its_article_first(self, engine: SearchIndex) -> None:
        assert ids(engine, "ワンストップ特例の申請書の期限")[0] == "deadline"
        assert ids(engine, "受領証明書 再発行")[0] == "receipt-lost"

    def test_drafts_are_never_found(self, engine: SearchIndex) -> None:
        assert "draft-deadline" not in ids(engine, "ワンストップ特例の申請期限 下書き", top=10)

    def test_hits_come_best_first_and_top_is_respected(self, engine: SearchIndex) -> None:
        hits = engine.search("返礼品の交換の送料", top=2)
        assert len(hits) == 2
        assert hits[0].score >= hits[1].score > 0
        assert engine.search("返礼品の交換の送料", top=0) == []

    def test_a_municipalitys_own_article_wins_for_its_donors(self, engine: SearchIndex) -> None:
        assert ids(engine, "交換の送料はかかりますか", municipality="ise")[0] == "swap-fee-ise"

    def test_another_municipalitys_article_is_never_returned(self, engine: SearchIndex) -> None:
        found = ids(engine, "横浜市の交換の送料", municipality="ise", top=10)
        assert "swap-fee-yokohama" not in found

    def test_without_a_municipality_the_general_article_comes_first(
        self, engine: SearchIndex
    ) -> None:
        assert ids(engine, "交換の送料はかかりますか")[0] == "swap-fee"


class TestWrites:
    def test_upsert_replaces_and_delete_removes(self, engine: SearchIndex) -> None:
        extra = doc("extra", "冷凍便の解凍方法を知りたい", "冷蔵庫でゆっくり解凍してください。")
        engine.upsert([extra])
        assert ids(engine, "冷凍便の解凍")[0] == "extra"
        engine.upsert([doc("extra", "冷凍便の解凍方法", "冷蔵庫で解凍。", published=False)])
        assert "extra" not in ids(engine, "冷凍便の解凍")
        engine.upsert([extra])
        engine.delete(["extra", "never-indexed"])
        assert "extra" not in ids(engine, "冷凍便の解凍")


class TestOddInput:
    @pytest.mark.parametrize("q", ODD_QUERIES, ids=lambda q: repr(q[:12]))
    def test_answers_a_list_never_an_error(self, engine: SearchIndex, q: str) -> None:
        hits = engine.search(q, top=5)
        assert isinstance(hits, list)
        assert len(hits) <= 5
        assert all(h.id != "draft-deadline" for h in hits)

    @pytest.mark.parametrize("q", ["", "🎁🎁", "！？＠＃", '"*"', "   "])
    def test_nothing_to_search_for_is_an_empty_list(self, engine: SearchIndex, q: str) -> None:
        assert engine.search(q) == []

    def test_syntax_characters_around_real_words_still_find_them(self, engine: SearchIndex) -> None:
        assert ids(engine, '"ワンストップ" OR * NEAR 申請書')[0] == "deadline"
        assert ids(engine, "受領証明書*")[0] == "receipt-lost"
