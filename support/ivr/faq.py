"""FAQ answers for the voice: search the index, read the article's short answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from support.adapters.ports import SearchDocument, SearchIndex
from support.ivr.flow import Answer

# Twilio accepts up to 500 hints; a short list of the FAQ's own words recognises best.
MAX_HINTS = 200


def hints_from(docs: Iterable[SearchDocument], municipality: str | None) -> list[str]:
    """Return the tags and categories of the articles a line serves, most frequent first."""
    counts: dict[str, int] = {}
    for doc in docs:
        if not doc.published or doc.municipality not in (None, municipality):
            continue
        for word in (*doc.tags, doc.category):
            word = word.strip()
            if word and "," not in word:
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return ranked[:MAX_HINTS]


class IndexedFaqAnswers:
    """Answers from a search index plus the articles it was built from."""

    def __init__(self, search: SearchIndex, articles: Mapping[str, SearchDocument]) -> None:
        """Keep the index and the articles by id."""
        self.search = search
        self.articles = dict(articles)

    def answers(self, question: str, *, municipality: str | None, top: int) -> list[Answer]:
        """Return the short answers of the best published articles, best first."""
        found = []
        for hit in self.search.search(question, municipality=municipality, top=top):
            doc = self.articles.get(hit.id)
            text = (doc.answer_short or "").strip() if doc else ""
            if doc is not None and doc.published and text:
                found.append(Answer(doc.id, text))
        return found

    def vocabulary(self, *, municipality: str | None) -> Sequence[str]:
        """Return the FAQ's tags and categories as speech hints."""
        return hints_from(self.articles.values(), municipality)
