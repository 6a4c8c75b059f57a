"""Search and suggestions over published articles: the one entry point every channel uses."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import SearchIndex
from support.errors import SupportError
from support.kb.models import Article, ArticleStatus

log = logging.getLogger(__name__)

MAX_TOP = 50
# A suggestion query: the subject plus the start of the text, where a donor states the
# question; quoted history and signatures further down only add noise.
SUGGEST_TEXT_CHARS = 400
# Asked for a few more than wanted, so that an index entry the database no longer publishes
# (a change whose index write is still pending) does not shorten the list.
_SPARE = 3

_QUOTE_LINE = re.compile(r"^\s*(>|＞|\|).*$", re.MULTILINE)
_ON_WROTE = re.compile(r"^.*(wrote:|のメッセージ:|書きました[:：]?)\s*$", re.MULTILINE)
_SIGNATURE = re.compile(r"^(--\s*|-{4,}|━{4,}|={4,}|＝{4,})$", re.MULTILINE)


class SearchUnavailable(SupportError):
    """The search engine did not answer (Elasticsearch down, index file unreadable)."""

    status = 503
    title = "検索を一時的に利用できません。しばらくしてから再度お試しください"
    code = "search_unavailable"


@dataclass(frozen=True, slots=True)
class ArticleHit:
    """One published article found by a search, best first."""

    id: str
    title: str
    answer_short: str
    score: float
    category: str
    municipality_id: str | None


def search(
    *,
    session: Session,
    index: SearchIndex,
    query: str,
    municipality: str | None = None,
    top: int = 5,
) -> list[ArticleHit]:
    """Return the best published articles for a question; never raises on odd input."""
    top = max(0, min(top, MAX_TOP))
    if top == 0 or not _has_content(query):
        return []
    try:
        hits = index.search(query, municipality=municipality or None, top=top + _SPARE)
    except Exception as exc:  # noqa: BLE001 - any engine failure is an outage to the caller
        log.warning("search engine failed", extra={"error": type(exc).__name__})
        raise SearchUnavailable() from exc
    if not hits:
        return []
    ids = [hit.id for hit in hits]
    rows = {
        article.id: article
        for article in session.scalars(
            select(Article).where(
                Article.id.in_(ids), Article.status == ArticleStatus.PUBLISHED.value
            )
        )
    }
    out: list[ArticleHit] = []
    for hit in hits:
        article = rows.get(hit.id)
        if article is None:
            continue
        if municipality and article.municipality_id not in (None, municipality):
            continue
        out.append(
            ArticleHit(
                id=article.id,
                title=article.title,
                answer_short=article.answer_short,
                score=hit.score,
                category=article.category,
                municipality_id=article.municipality_id,
            )
        )
        if len(out) == top:
            break
    if len(out) < len(hits) and len(out) < top:
        log.info("search dropped stale index entries", extra={"dropped": len(hits) - len(out)})
    return out


def suggestion_query(subject: str | None, text: str | None) -> str:
    """Build the query of a suggestion: the subject, then the first lines the sender wrote."""
    subject = re.sub(r"^\s*((re|fw|fwd|aw)\s*[:：]\s*)+", "", subject or "", flags=re.IGNORECASE)
    body = text or ""
    for pattern in (_ON_WROTE, _SIGNATURE):
        found = pattern.search(body)
        if found:
            body = body[: found.start()]
    body = _QUOTE_LINE.sub("", body)
    return f"{subject.strip()}\n{body.strip()[:SUGGEST_TEXT_CHARS]}".strip()


def suggest(
    *,
    session: Session,
    index: SearchIndex,
    subject: str | None,
    text: str | None,
    municipality: str | None = None,
    top: int = 3,
) -> list[ArticleHit]:
    """Return the top articles for an inbound mail or ticket (subject and its text)."""
    return search(
        session=session,
        index=index,
        query=suggestion_query(subject, text),
        municipality=municipality,
        top=top,
    )


def _has_content(query: str) -> bool:
    # Only letters and digits can match anything; a query of symbols, emoji or spaces
    # answers an empty list without asking the engine.
    return any(unicodedata.category(ch)[0] in "LN" for ch in query[:10_000])
