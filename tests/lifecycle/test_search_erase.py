"""Both search adapters remove one municipality's documents and keep no trace of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.adapters.ports import SearchDocument
from support.adapters.search_elastic import ElasticSearchIndex
from support.adapters.search_sqlite import SqliteSearchIndex
from tests.services.opensearch import OpenSearchServer

DOCS = [
    SearchDocument(
        id="ise-1", title="伊勢うどんの配送", body="山田太郎様への配送日", municipality="ise"
    ),
    SearchDocument(id="ise-2", title="伊勢の返礼品", body="寄附金受領証明書", municipality="ise"),
    SearchDocument(
        id="yoko-1", title="横浜の返礼品の配送", body="配送日の指定", municipality="yokohama"
    ),
    SearchDocument(
        id="all-1", title="ワンストップ特例の配送", body="申請書の配送", municipality=None
    ),
]


def _bytes(path: Path) -> bytes:
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _present(word: str, data: bytes) -> bool:
    escaped = json.dumps(word)[1:-1].encode("ascii")
    return word.encode() in data or escaped in data or escaped.lower() in data


@pytest.fixture(scope="module")
def server() -> Iterator[OpenSearchServer]:
    with OpenSearchServer() as started:
        yield started


@pytest.mark.search
def test_elasticsearch_deletes_by_query_and_expunges(server: OpenSearchServer) -> None:
    index = ElasticSearchIndex(server.url, index=f"erase-{uuid.uuid4().hex[:10]}")
    try:
        index.upsert(DOCS)
        assert index.delete_municipality("ise") == 2
        index.compact()
        assert index.delete_municipality("ise") == 0
        hits = {h.id for h in index.search("配送", municipality="ise", top=10)}
        assert hits == {"all-1"}
        assert {h.id for h in index.search("配送", municipality="yokohama", top=10)} == {
            "yoko-1",
            "all-1",
        }
    finally:
        index.close()


def test_embedded_index_leaves_no_bytes_of_the_erased_documents(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    index = SqliteSearchIndex(path)
    index.upsert(DOCS)
    index.close()
    assert _present("山田", _bytes(path))
    index = SqliteSearchIndex(path)
    assert index.delete_municipality("ise") == 2
    index.compact()
    index.close()
    data = _bytes(path)
    for word in ("山田", "伊勢うどん", "寄附金受領証明書", "ise-1"):
        assert not _present(word, data), word
    index = SqliteSearchIndex(path)
    assert [h.id for h in index.search("配送", municipality="yokohama")][:1] == ["yoko-1"]
    index.close()
