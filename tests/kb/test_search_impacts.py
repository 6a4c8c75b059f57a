"""Impact postings of the embedded search: equal to FTS5's bm25(), kept in step with writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.adapters.search_impacts import GRAMS, TERMS
from support.adapters.search_sqlite import SqliteSearchIndex
from tests.kb.test_search_sqlite import CORPUS, doc, ids


@pytest.fixture
def edited(tmp_path: Path) -> Iterator[SqliteSearchIndex]:
    """Return a file index that has seen inserts, a replacement and a deletion."""
    index = SqliteSearchIndex(tmp_path / "search.db")
    index.upsert(CORPUS)
    index.upsert(
        [doc("late", "確定申告の期限に間に合わない", "期限後は更正の請求をしてください。")]
    )
    index.delete(["points", "no-such-article"])
    index.upsert([doc("teiki", "定期便の返礼品はいつ届きますか", "定期便は毎月届きます。")])
    yield index
    index.close()


def _fts_scores(index: SqliteSearchIndex, table: str, weights: str, word: str) -> dict[str, float]:
    rows = index._conn.execute(  # noqa: SLF001
        f"SELECT d.id, -bm25({table}, {weights}) FROM {table}"  # noqa: S608
        f" JOIN kb_docs AS d ON d.rowid = {table}.rowid WHERE {table} MATCH ?",
        (f'"{word}"',),
    )
    return dict(rows)


@pytest.mark.parametrize(
    ("kind", "table", "weights"), [(TERMS, "kb_terms", "4, 2, 1, 3"), (GRAMS, "kb_grams", "2, 1")]
)
def test_every_posting_scores_what_fts5_bm25_gives(
    edited: SqliteSearchIndex, kind: int, table: str, weights: str
) -> None:
    edited.search("ウォームアップ")
    snap = edited._snapshot()  # noqa: SLF001
    vocabulary = [
        term
        for (term,) in edited._conn.execute(  # noqa: SLF001
            f"SELECT term FROM {table}_vocab"  # noqa: S608
        )
    ]
    assert len(vocabulary) > 20
    for word, postings in snap.postings(kind, vocabulary).items():
        ours = {
            snap.ids[p]: s
            for p, s in zip(postings.positions.tolist(), postings.impacts.tolist(), strict=True)
        }
        theirs = _fts_scores(edited, table, weights, word)
        assert ours.keys() == theirs.keys(), word
        for doc_id, score in theirs.items():
            assert ours[doc_id] == pytest.approx(score, rel=1e-5, abs=1e-9), (word, doc_id)


def test_postings_drop_replaced_and_deleted_documents(edited: SqliteSearchIndex) -> None:
    assert "points" not in ids(edited, "ポイント", top=10)
    assert ids(edited, "定期便")[0] == "teiki"
    # The replaced article lost its old words and found its new ones.
    snap = edited._snapshot()  # noqa: SLF001
    found = snap.postings(TERMS, ["控除", "更正"])
    assert "late" not in {snap.ids[p] for p in found["控除"].positions.tolist()}
    assert {snap.ids[p] for p in found["更正"].positions.tolist()} == {"late"}
    assert ids(edited, "更正の請求")[0] == "late"


def test_writes_of_another_process_reach_a_warm_cache(tmp_path: Path) -> None:
    writer = SqliteSearchIndex(tmp_path / "search.db")
    reader = SqliteSearchIndex(tmp_path / "search.db")
    writer.upsert(CORPUS)
    assert ids(reader, "不在票")[0] == "redelivery"
    assert ids(reader, "定期便") == []

    writer.upsert([doc("teiki", "定期便の返礼品はいつ届きますか")])
    assert ids(reader, "定期便") == ["teiki"]
    writer.upsert([doc("teiki", "定期便の返礼品はいつ届きますか", published=False)])
    assert ids(reader, "定期便") == []
    writer.delete(["redelivery"])
    assert "redelivery" not in ids(reader, "不在票", top=10)
    writer.close()
    reader.close()
