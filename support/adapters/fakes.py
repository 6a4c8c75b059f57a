"""In-memory adapters for unit tests and demos; same behaviour as the real ones, no I/O."""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence

from support.adapters.ports import SearchDocument, SearchHit


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class InMemorySearchIndex:
    """A substring-matching search index; ranks by how many query terms a document holds."""

    def __init__(self) -> None:
        self._docs: dict[str, SearchDocument] = {}
        self._lock = threading.Lock()
        self.healthy = True

    def ping(self) -> bool:
        """Return the configured health, so tests can simulate an outage."""
        return self.healthy

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents."""
        with self._lock:
            for doc in docs:
                self._docs[doc.id] = doc

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents."""
        with self._lock:
            for doc_id in ids:
                self._docs.pop(doc_id, None)

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return published documents holding the most query terms."""
        terms = [t for t in _fold(query).split() if t]
        hits: list[SearchHit] = []
        with self._lock:
            docs = list(self._docs.values())
        for doc in docs:
            if not doc.published or doc.municipality not in (None, municipality):
                continue
            text = _fold(" ".join([doc.title, doc.answer_short, doc.body, *doc.tags]))
            score = float(sum(1 for t in terms if t in text))
            if score > 0:
                boost = 0.5 if municipality is not None and doc.municipality == municipality else 0
                hits.append(SearchHit(id=doc.id, score=score + boost))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:top]

    def close(self) -> None:
        """Nothing to release."""
