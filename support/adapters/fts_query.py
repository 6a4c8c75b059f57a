"""Query words for the embedded search: skipping words that cannot score, synonym entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from support.adapters.ja_text import NEGATION

# Below this many documents every word is matched: pruning only pays on large indexes, and
# on a small one a word in half the documents is still worth finding.
PRUNE_FROM_DOCS = 500


@dataclass(frozen=True, slots=True)
class Frequencies:
    """Document frequencies of a query's words and trigrams, to skip what cannot score.

    BM25 gives a word in half the documents or more an idf of ~0 (floored at 1e-6), yet it
    would make most documents candidates. Such words are left out (on a large enough index,
    and unless nothing else is left); words in no document are left out always.
    """

    n_docs: int
    terms: dict[str, int]
    grams: dict[str, int]

    def _common(self, count: int) -> bool:
        return self.n_docs >= PRUNE_FROM_DOCS and 2 * count >= self.n_docs

    def useful(self, words: Sequence[str], counts: dict[str, int]) -> list[str]:
        """Return the words that occur somewhere and are not too common to score."""
        present = [w for w in words if counts.get(w, 0) > 0]
        kept = [w for w in present if not self._common(counts[w])]
        return kept or present

    def may_score(self, entry: Sequence[str]) -> bool:
        """Return whether a synonym entry (all its words in one document) can score."""
        counts = [self.terms.get(unit, 0) for unit in entry]
        return all(counts) and not all(self._common(c) for c in counts)

    def unknown_share(self, units: Sequence[str]) -> float:
        """Return the share of the query's words that no document contains."""
        if not units:
            return 1.0
        return sum(1 for u in units if self.terms.get(u, 0) == 0) / len(units)


def fts_entries(entries: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Return synonym entries without the negation unit, which documents never index."""
    stripped = (tuple(unit for unit in entry if unit != NEGATION) for entry in entries)
    return [entry for entry in dict.fromkeys(stripped) if entry]
