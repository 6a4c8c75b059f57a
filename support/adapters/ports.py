"""Ports: the interfaces every outside system is reached through.

Only `app.py`, `cli.py` and test fixtures pick a concrete adapter; everything else receives
one of these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """One document handed to a search index (an FAQ article, flattened)."""

    id: str
    title: str
    body: str
    answer_short: str = ""
    category: str = ""
    tags: Sequence[str] = field(default_factory=tuple)
    municipality: str | None = None
    published: bool = True


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result of a search."""

    id: str
    score: float


class SearchIndex(Protocol):
    """Full-text search over FAQ articles, embedded or Elasticsearch."""

    def ping(self) -> bool:
        """Return True when the index can answer queries."""
        ...

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored."""
        ...

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return the best published documents for a query, best first."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
