"""FAQ answers for the voice, through the knowledge base's search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from support.adapters.ports import SearchIndex
from support.ivr.flow import Answer
from support.kb import service as kb_service

# Twilio accepts up to 500 hints; a short list of the FAQ's own words recognises best.
MAX_HINTS = 200


def hints_from(rows: Iterable[Mapping[str, Any]], municipality: str | None) -> list[str]:
    """Return the tags and categories of the articles a line serves, most frequent first."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("municipality") not in (None, municipality):
            continue
        for word in (*row.get("tags", ()), row.get("category") or ""):
            word = str(word).strip()
            if word and "," not in word:
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return ranked[:MAX_HINTS]


class KbFaqAnswers:
    """Answers from the knowledge base: published articles, their short answers read aloud."""

    def __init__(self, index: SearchIndex) -> None:
        """Keep the app's search index."""
        self.index = index

    def answers(
        self, *, session: Session, question: str, municipality: str | None, top: int
    ) -> list[Answer]:
        """Return the short answers of the best published articles, best first."""
        hits = kb_service.search(
            session=session, index=self.index, query=question, municipality=municipality, top=top
        )
        return [Answer(hit.id, hit.answer_short) for hit in hits if hit.answer_short.strip()]

    def vocabulary(self, *, session: Session, municipality: str | None) -> Sequence[str]:
        """Return the FAQ's tags and categories as speech hints."""
        return hints_from(kb_service.export_rows(session=session), municipality)
