"""Elasticsearch FAQ search: kuromoji analysis, synonyms, an n-gram typo field, alias reindex.

The index name the application uses (`support-faq`) is an alias onto one concrete index
`support-faq-<timestamp>`. `reindex()` fills a fresh concrete index and then moves the alias
in one atomic request, so readers see either the old or the new index, never an empty one.

A query scores these signals, like the embedded engine (support.adapters.search_sqlite):

1. terms: kuromoji terms of the query, expanded by the server's synonym filter;
2. synonyms: only where the server does not apply that filter, the other entries of every
   synonym group the query mentions, expanded here and weighted lower;
3. fuzzy terms: the terms without synonyms, allowing edits (long katakana or Latin words);
4. n-grams: character 2- and 3-grams, which still match a misspelt or oddly split query;

and multiplies the sum by a municipality factor. Servers differ in what they accept: when
index creation is refused, the settings degrade step by step (no synonym filter, then CJK
bigrams instead of kuromoji) and the adapter logs the downgrade once. A server may also accept
the synonym filter and silently not apply it (osmem-server does): a probe document finds out,
and the index records in its mapping `_meta` that queries must expand synonyms themselves.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse  # not re-exported at the top level
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError
from elasticsearch.helpers import bulk

from support.adapters.ja_text import DEFAULT_SYNONYMS_PATH, parse_synonym_lines
from support.adapters.ports import SearchDocument, SearchHit

__all__ = ["DEFAULT_INDEX", "ElasticSearchIndex", "SearchBackendError"]

log = logging.getLogger(__name__)

DEFAULT_INDEX = "support-faq"

# Field boosts, the same as the embedded engine's bm25() weights: titles are written as the
# question a donor asks, tags are curated keywords, bodies are long and repeat general words.
_TERM_FIELDS = ("title^4", "answer_short^2", "body", "tags^3", "category^0.5")
_GRAM_FIELDS = ("title.ngram^2", "answer_short.ngram^2", "body.ngram", "tags.ngram^1.5")
_TEXT_FIELDS = ("title", "answer_short", "body", "tags", "category")

# Weights of the signals. The donor's own words carry the most evidence, synonyms expanded in
# the query less (as in the embedded engine); fuzzy terms repeat exact matches, so they only
# add a little; n-grams are a fallback for typos.
_W_TERMS = 1.0
_W_SYNONYMS = 0.6
_W_FUZZY = 0.3
_W_GRAMS = 0.35
# Score each clause by its best field: the same word spread over body, tags and category must
# not outvote a title that says it (best_fields beat most_fields on the dev queries).
_MATCH_TYPE = "best_fields"
# An n-gram clause matching a single shared bigram would pull in most of the index.
_GRAM_MINIMUM_SHOULD_MATCH = "30%"

# Municipality factors, as in the embedded engine: the donor's own municipality beats the
# general article; without a municipality, general articles beat municipality-specific ones.
_OWN_MUNICIPALITY = 1.5
_OTHER_SPECIFIC = 0.6

# Spelling variants that Sudachi unifies for the embedded engine but kuromoji keeps apart;
# the shared synonyms file leaves them out on purpose, so this engine adds them itself.
_SPELLING_VARIANTS = (
    ("寄附", "寄付"),
    ("申込", "申し込み", "申込み"),
    ("引越し", "引っ越し", "引越"),
    ("受取", "受け取り", "受取り"),
    ("問合せ", "問い合わせ", "問合わせ"),
    ("振込", "振り込み", "振込み"),
    ("手続", "手続き"),
    ("取扱", "取り扱い", "取扱い"),
)

# Query-side expansion: entries shorter than this match inside too many unrelated words, and
# a query naming many groups must not grow without bound.
_MIN_TRIGGER_CHARS = 2
_MAX_EXPANSIONS = 32
# Where an index gets its synonyms from, recorded in the mapping's _meta at creation.
_META_KEY = "support"
_SYNONYMS_ON_SERVER = "server"
_SYNONYMS_IN_QUERY = "query"
_PROBE_ID = "__support_synonym_probe__"

# Solr synonym syntax: these would turn an entry into a mapping rule or an escape.
_SYNONYM_SYNTAX = re.compile(r"=>|\\")
_COMPAT_MIMETYPE = re.compile(
    r"application/vnd\.elasticsearch\+([\w.+-]+)\s*;\s*compatible-with=\d+", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Index-creation errors that are about the name or a race, not about the analysis settings.
_NOT_ANALYSIS_ERRORS = frozenset(
    {"resource_already_exists_exception", "invalid_index_name_exception"}
)


class SearchBackendError(RuntimeError):
    """Elasticsearch refused an operation (the message names ids, never document text)."""


class _PlainJsonNode(Urllib3HttpNode):
    """An HTTP node that sends plain `application/json` instead of the versioned media type.

    elasticsearch-py rewrites every `application/json` header, including ones passed with
    `headers=`, to `application/vnd.elasticsearch+json; compatible-with=N` just before the
    transport sends it; servers that only speak plain JSON answer 406. Undo it at the wire.
    """

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        """Send the request with compatibility media types replaced by plain ones."""
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value:
                    headers[name] = _COMPAT_MIMETYPE.sub(r"application/\1", value)
        return super().perform_request(
            method, target, body=body, headers=headers, request_timeout=request_timeout
        )


@dataclass(frozen=True, slots=True)
class _Tier:
    """One level of analysis settings, from the richest down to what any server accepts."""

    name: str
    kuromoji: bool
    synonyms: bool


_TIERS = (
    _Tier("kuromoji with synonyms", kuromoji=True, synonyms=True),
    _Tier("kuromoji without synonyms", kuromoji=True, synonyms=False),
    _Tier("CJK bigrams without synonyms", kuromoji=False, synonyms=False),
)


def _with_default_port(url: str) -> str:
    # The client insists on an explicit port; a URL without one means the scheme's default.
    parts = urlsplit(url)
    if parts.scheme in _DEFAULT_PORTS and parts.hostname and parts.port is None:
        netloc = f"{parts.netloc}:{_DEFAULT_PORTS[parts.scheme]}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _read_synonym_groups(path: Path | None) -> list[list[str]]:
    """Return the synonym groups of `path` plus the built-in spelling variants."""
    groups: list[list[str]] = [list(group) for group in _SPELLING_VARIANTS]
    if path is None:
        return groups
    try:
        with path.open(encoding="utf-8") as handle:
            groups.extend(parse_synonym_lines(handle))
    except FileNotFoundError:
        log.info("search synonyms file not found; using built-in spelling variants only")
    return groups


def _synonym_filter(groups: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Return an inline `synonym_graph` filter for comma-separated equivalence groups."""
    rules: list[str] = []
    for group in groups:
        entries = [entry for entry in group if not _SYNONYM_SYNTAX.search(entry)]
        if len(entries) > 1:
            rules.append(", ".join(entries))
    # lenient: an entry that analyses to nothing (a stop word) is skipped, not fatal.
    return {"type": "synonym_graph", "synonyms": rules, "lenient": True}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _expansions(query: str, groups: Sequence[Sequence[str]]) -> list[str]:
    """Return the other entries of every synonym group one of whose entries the query holds."""
    folded_query = _fold(query)
    seen: set[str] = set()
    extra: list[str] = []
    for group in groups:
        folded = [_fold(entry) for entry in group]
        if not any(len(f) >= _MIN_TRIGGER_CHARS and f in folded_query for f in folded):
            continue
        for entry, f in zip(group, folded, strict=True):
            if f and f not in folded_query and f not in seen:
                seen.add(f)
                extra.append(entry)
    return extra[:_MAX_EXPANSIONS]


def _index_body(tier: _Tier, synonym_groups: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Return the settings and mappings of a concrete index for one analysis tier."""
    if tier.kuromoji:
        tokenizer: dict[str, Any] = {"type": "kuromoji_tokenizer", "mode": "search"}
        # cjk_width after the tokenizer folds full-width Latin and half-width katakana.
        text_filters = [
            "kuromoji_baseform",
            "kuromoji_part_of_speech",
            "cjk_width",
            "ja_stop",
            "kuromoji_stemmer",
            "lowercase",
        ]
    else:
        tokenizer = {"type": "standard"}
        text_filters = ["cjk_width", "lowercase", "cjk_bigram"]
    filters: dict[str, Any] = {}
    query_filters = list(text_filters)
    if tier.synonyms:
        filters["support_synonyms"] = _synonym_filter(synonym_groups)
        query_filters.append("support_synonyms")
    analysis: dict[str, Any] = {
        "tokenizer": {
            "support_words": tokenizer,
            "support_ngram": {
                "type": "ngram",
                "min_gram": 2,
                "max_gram": 3,
                "token_chars": ["letter", "digit"],
            },
        },
        "analyzer": {
            "support_text": {
                "type": "custom",
                "tokenizer": "support_words",
                "filter": text_filters,
            },
            # Synonyms only at query time: synonym_graph is a query-time filter (multi-word
            # rules break at index time), and documents keep their own words.
            "support_query": {
                "type": "custom",
                "tokenizer": "support_words",
                "filter": query_filters,
            },
            "support_ngram": {
                "type": "custom",
                "tokenizer": "support_ngram",
                "filter": ["cjk_width", "lowercase"],
            },
        },
    }
    if filters:
        analysis["filter"] = filters
    text_field = {
        "type": "text",
        "analyzer": "support_text",
        "search_analyzer": "support_query",
        "fields": {"ngram": {"type": "text", "analyzer": "support_ngram"}},
    }
    properties: dict[str, Any] = {name: dict(text_field) for name in _TEXT_FIELDS}
    properties.update(
        {
            "id": {"type": "keyword"},
            "municipality": {"type": "keyword"},
            "published": {"type": "boolean"},
        }
    )
    return {
        # One shard: a small FAQ split over shards would get noisy per-shard BM25 statistics.
        "settings": {"number_of_shards": 1, "analysis": analysis},
        "mappings": {"dynamic": "strict", "properties": properties},
    }


def _source(doc: SearchDocument) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "body": doc.body,
        "answer_short": doc.answer_short,
        "category": doc.category,
        "tags": list(doc.tags),
        "municipality": doc.municipality,
        "published": doc.published,
    }


def _error_type(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("type", "unknown"))
    return str(exc.message)


def _error_reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("reason", error.get("type", "unknown")))
    return str(exc.message)


class ElasticSearchIndex:
    """FAQ search on Elasticsearch (or a server speaking its API) behind an alias."""

    def __init__(
        self,
        url: str,
        *,
        index: str = DEFAULT_INDEX,
        timeout: float = 10.0,
        compat_headers: bool = False,
        synonyms_path: Path | None = DEFAULT_SYNONYMS_PATH,
    ) -> None:
        """Configure the client; no request is sent until the first call."""
        if not index or index != index.lower():
            raise ValueError(f"index must be a non-empty lowercase name, got {index!r}")
        self.index = index
        self.timeout = timeout
        self._synonyms_path = synonyms_path
        # compat_headers=False sends plain application/json, which Elasticsearch 8/9 accept
        # too; True keeps the client's versioned media type for servers that want it.
        node_class: type[Urllib3HttpNode] = Urllib3HttpNode if compat_headers else _PlainJsonNode
        self._client = Elasticsearch(
            _with_default_port(url), request_timeout=timeout, node_class=node_class
        )
        self._tier = 0
        # None until known: whether this server applies synonym filters it accepts.
        self._server_synonyms: bool | None = None
        # None until read from the live index's _meta; reset whenever this adapter swaps it.
        self._expand_in_query: bool | None = None
        self._query_groups: list[list[str]] | None = None
        self._lock = threading.Lock()

    # -- SearchIndex ----------------------------------------------------------------------

    def ping(self) -> bool:
        """Return True when the server answers; never raise."""
        try:
            return bool(self._client.options(max_retries=0).ping())
        except (ApiError, TransportError):
            return False

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents and make them searchable before returning."""
        if not docs:
            return
        target = self._ensure_index()
        actions = (
            {"_op_type": "index", "_index": target, "_id": doc.id, "_source": _source(doc)}
            for doc in docs
        )
        self._bulk(actions, what="index")
        self._client.indices.refresh(index=target)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents; unknown ids and a missing index are ignored."""
        if not ids or not self._alias_exists():
            return
        actions = ({"_op_type": "delete", "_index": self.index, "_id": i} for i in ids)
        self._bulk(actions, what="delete", ignore_status=(404,))
        self._client.indices.refresh(index=self.index)

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return the best published documents for a query, best first."""
        if top <= 0 or not query.strip():
            return []
        try:
            expansions = self._query_expansions(query)
            response = self._client.search(
                index=self.index,
                query=self._query(query, municipality, expansions),
                size=top,
                source=False,
                # Equal scores fall back to the id, like the embedded engine.
                sort=[{"_score": {"order": "desc"}}, {"id": {"order": "asc"}}],
                track_scores=True,
                track_total_hits=False,
            )
        except NotFoundError:
            # Nothing indexed yet: an empty answer, not an outage.
            return []
        return [
            SearchHit(id=str(hit["_id"]), score=float(hit["_score"]))
            for hit in response["hits"]["hits"]
        ]

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def delete_municipality(self, municipality: str) -> int:
        """Delete one municipality's documents (delete-by-query) and make it visible."""
        if not self._alias_exists():
            return 0
        response = self._client.delete_by_query(
            index=self.index,
            query={"term": {"municipality": municipality}},
            refresh=True,
            conflicts="proceed",
        )
        return int(response.get("deleted", 0))

    def compact(self) -> None:
        """Force-merge with expunge_deletes, so deleted documents leave the segments."""
        if not self._alias_exists():
            return
        self._client.indices.forcemerge(index=self.index, only_expunge_deletes=True)
        self._client.indices.refresh(index=self.index)

    # -- beyond the port ------------------------------------------------------------------

    def reindex(self, docs: Iterable[SearchDocument]) -> None:
        """Rebuild the index from `docs` in a new concrete index, then swap the alias to it."""
        with self._lock:
            new_index = self._create_concrete_index()
            try:
                self._bulk(
                    (
                        {
                            "_op_type": "index",
                            "_index": new_index,
                            "_id": d.id,
                            "_source": _source(d),
                        }
                        for d in docs
                    ),
                    what="index",
                )
                self._client.indices.refresh(index=new_index)
                old_indices = self._swap_alias(new_index)
            except BaseException:
                self._drop_quietly(new_index)
                raise
            finally:
                self._expand_in_query = None
        # The alias already points at the new index; the old ones only take space now.
        for old in old_indices:
            self._drop_quietly(old)
        log.info(
            "search index rebuilt",
            extra={"alias": self.index, "index": new_index, "replaced": len(old_indices)},
        )

    def concrete_indices(self) -> list[str]:
        """Return the concrete indices the alias points to (normally exactly one)."""
        return sorted(self._aliased_indices())

    @property
    def analysis(self) -> str:
        """Return the analysis tier new indices are created with (it only ever degrades)."""
        return _TIERS[self._tier].name

    # -- internals ------------------------------------------------------------------------

    def _query(
        self, query: str, municipality: str | None, expansions: Sequence[str] = ()
    ) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"term": {"published": True}}]
        functions: list[dict[str, Any]] = []
        if municipality is not None:
            # The donor's municipality or general articles; never another municipality's.
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"term": {"municipality": municipality}},
                            {"bool": {"must_not": {"exists": {"field": "municipality"}}}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
            functions.append(
                {"filter": {"term": {"municipality": municipality}}, "weight": _OWN_MUNICIPALITY}
            )
        else:
            functions.append(
                {"filter": {"exists": {"field": "municipality"}}, "weight": _OTHER_SPECIFIC}
            )
        should: list[dict[str, Any]] = [
            {
                "multi_match": {
                    "query": query,
                    "fields": list(_TERM_FIELDS),
                    "type": _MATCH_TYPE,
                    "boost": _W_TERMS,
                }
            },
            *(
                [
                    {
                        "multi_match": {
                            "query": " ".join(expansions),
                            "fields": list(_TERM_FIELDS),
                            "type": _MATCH_TYPE,
                            "analyzer": "support_text",
                            "boost": _W_SYNONYMS,
                        }
                    }
                ]
                if expansions
                else []
            ),
            # The index-time analyser has no synonym filter: fuzziness is ignored for terms
            # that hit a synonym rule, so the typo signal must not go through synonyms.
            {
                "multi_match": {
                    "query": query,
                    "fields": list(_TERM_FIELDS),
                    "type": _MATCH_TYPE,
                    "analyzer": "support_text",
                    "fuzziness": "AUTO",
                    "prefix_length": 1,
                    "boost": _W_FUZZY,
                }
            },
            {
                "multi_match": {
                    "query": query,
                    "fields": list(_GRAM_FIELDS),
                    "type": _MATCH_TYPE,
                    "minimum_should_match": _GRAM_MINIMUM_SHOULD_MATCH,
                    "boost": _W_GRAMS,
                }
            },
        ]
        return {
            "function_score": {
                "query": {"bool": {"filter": filters, "should": should, "minimum_should_match": 1}},
                "functions": functions,
                "score_mode": "multiply",
                "boost_mode": "multiply",
            }
        }

    def _bulk(
        self,
        actions: Iterator[dict[str, Any]],
        *,
        what: str,
        ignore_status: tuple[int, ...] = (),
    ) -> None:
        # raise_on_error=False: the helper's own BulkIndexError carries every failed
        # document's source, which must not end up in logs or error trackers.
        _, errors = bulk(self._client, actions, raise_on_error=False, ignore_status=ignore_status)
        if not isinstance(errors, list) or not errors:
            return
        failures: list[str] = []
        for item in errors:
            for result in item.values():
                # ignore_status only stops the helper from raising; it still reports them.
                if result.get("status") in ignore_status:
                    continue
                error = result.get("error")
                kind = error.get("type") if isinstance(error, Mapping) else result.get("result")
                failures.append(f"{result.get('_id')}: {kind}")
        if not failures:
            return
        shown = ", ".join(failures[:10])
        more = f" and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise SearchBackendError(f"could not {what} {len(failures)} document(s): {shown}{more}")

    def _swap_alias(self, new_index: str) -> list[str]:
        """Point the alias at `new_index` in one atomic request; return the indices it left."""
        old_indices = self._aliased_indices()
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.index}} for old in old_indices
        ]
        actions.append({"add": {"index": new_index, "alias": self.index}})
        if not old_indices and self._client.indices.exists(index=self.index):
            # A concrete index squats on the alias name: replace it in the same request.
            actions.append({"remove_index": {"index": self.index}})
        self._client.indices.update_aliases(actions=actions)
        return old_indices

    def _alias_exists(self) -> bool:
        return bool(self._client.indices.exists(index=self.index))

    def _aliased_indices(self) -> list[str]:
        try:
            response = self._client.indices.get_alias(name=self.index)
        except NotFoundError:
            return []
        return list(response.keys())

    def _ensure_index(self) -> str:
        """Return the index to write to, creating the first concrete index if needed."""
        if self._alias_exists():
            return self.index
        with self._lock:
            if self._alias_exists():
                return self.index
            concrete = self._create_concrete_index()
            try:
                self._client.indices.update_aliases(
                    actions=[{"add": {"index": concrete, "alias": self.index}}]
                )
            except BaseException:
                self._drop_quietly(concrete)
                raise
            finally:
                self._expand_in_query = None
        return self.index

    def _create_concrete_index(self) -> str:
        """Create an empty concrete index with the richest analysis the server accepts."""
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        name = f"{self.index}-{stamp}"
        groups = _read_synonym_groups(self._synonyms_path)
        while True:
            tier = _TIERS[self._tier]
            body = _index_body(tier, groups)
            try:
                self._client.indices.create(
                    index=name, settings=body["settings"], mappings=body["mappings"]
                )
            except BadRequestError as exc:
                if _error_type(exc) in _NOT_ANALYSIS_ERRORS or self._tier + 1 >= len(_TIERS):
                    raise
                self._tier += 1
                # Logged once per downgrade: the tier is kept for every later index.
                log.warning(
                    "search server refused the index settings; degrading analysis",
                    extra={
                        "refused": tier.name,
                        "now": _TIERS[self._tier].name,
                        "reason": _error_reason(exc),
                    },
                )
                continue
            break
        try:
            on_server = tier.synonyms and self._synonyms_work(name)
            source = _SYNONYMS_ON_SERVER if on_server else _SYNONYMS_IN_QUERY
            self._client.indices.put_mapping(index=name, meta={_META_KEY: {"synonyms": source}})
        except BaseException:
            self._drop_quietly(name)
            raise
        return name

    def _synonyms_work(self, name: str) -> bool:
        """Return whether the server applies the synonym filter of the fresh index `name`."""
        if self._server_synonyms is None:
            written, asked = _SPELLING_VARIANTS[0][:2]
            probe = {"id": _PROBE_ID, "title": written, "published": False}
            self._client.index(index=name, id=_PROBE_ID, document=probe, refresh=True)
            found = self._client.count(index=name, query={"match": {"title": asked}})["count"]
            self._client.delete(index=name, id=_PROBE_ID, refresh=True)
            self._server_synonyms = found > 0
            if not self._server_synonyms:
                # Logged once: the answer is kept for every later index of this adapter.
                log.warning(
                    "search server accepts synonym filters but does not apply them; "
                    "expanding synonyms in queries instead"
                )
        return self._server_synonyms

    def _query_expansions(self, query: str) -> list[str]:
        """Return synonym expansions to send with `query`, or none if the server adds them."""
        if self._expand_in_query is None:
            mappings = self._client.indices.get_mapping(index=self.index)
            sources = {
                str(mapping.get("mappings", {}).get("_meta", {}).get(_META_KEY, {}).get("synonyms"))
                for mapping in mappings.values()
            }
            # An index without the record (made by hand, or by an older adapter) gets the
            # query-side expansion: a few repeated synonyms beat silently missing ones.
            self._expand_in_query = sources != {_SYNONYMS_ON_SERVER}
        if not self._expand_in_query:
            return []
        if self._query_groups is None:
            # Read once, when the adapter first answers a query, like the embedded engine.
            self._query_groups = _read_synonym_groups(self._synonyms_path)
        return _expansions(query, self._query_groups)

    def _drop_quietly(self, name: str) -> None:
        # Cleanup after another failure: its own failure must not hide the first one.
        with contextlib.suppress(ApiError, TransportError):
            self._client.options(ignore_status=404).indices.delete(index=name)
