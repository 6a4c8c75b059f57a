"""Embedded FAQ search: SQLite FTS5 over Sudachi terms, with synonyms and a typo fallback.

Documents are analysed in Python (support.adapters.ja_text) and stored as space-separated terms,
so FTS5 only has to split on spaces. A query goes through four plain steps:

1. analysis: the query's terms, the synonym groups ("concepts") it uses, its reading trigrams;
2. candidate retrieval: FTS5 MATCH with an OR of terms for each signal, scored by bm25();
3. scoring: terms + concepts + a share of the trigram signal, times a municipality factor;
4. the top N.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from support.adapters.fts_query import Frequencies, fts_entries, or_of_phrases
from support.adapters.ja_text import (
    ANALYZER_VERSION,
    NEGATION,
    JapaneseAnalyzer,
    Synonyms,
    get_analyzer,
    load_synonyms,
)
from support.adapters.ports import SearchDocument, SearchHit

# bm25() column weights for title, answer_short, body, tags. Titles are written as the
# question a donor asks and tags are curated keywords; bodies are long and repeat general
# words, so they count least.
_TERM_WEIGHTS = (4.0, 2.0, 1.0, 3.0)
# Reading trigrams: head is title + answer_short + tags, then the body.
_GRAM_WEIGHTS = (2.0, 1.0)

# Weight of a synonym against the donor's own word. Measured on labelled queries, treating a
# group as one word (1.0) ranked best: the groups are curated to be true equivalents.
_W_SYNONYM = 1.0
# Share of the trigram signal, scaled to the word signals' range. It is a fallback: small
# when every word of the query is known to the index, large when words are unknown (typos,
# words typed in kana).
_W_GRAMS_KNOWN = 0.15
_W_GRAMS_UNKNOWN = 0.8

# Municipality factors: the donor's own municipality beats the general article; without a
# municipality, general articles beat municipality-specific ones unless the query names it.
_OWN_MUNICIPALITY = 1.5
_OTHER_SPECIFIC = 0.5

# Coverage: the best candidates are scaled by the idf-weighted share of the query's words and
# synonym groups they contain, so a document that answers the whole question beats one that
# repeats a single rare word of it.
_W_COVERAGE = 0.5
_COVERAGE_CANDIDATES = 30

# Longer queries are cut: a donor's question fits, and a pasted document cannot stall search.
_MAX_QUERY_CHARS = 2000
_SELECTS_PER_STATEMENT = 100
_SIGNAL_DEPTH = 200

# Bump _SCHEMA_VERSION when the tables change; either version change rebuilds the index.
_SCHEMA_VERSION = "1"
_INDEX_VERSION = f"{_SCHEMA_VERSION}/{ANALYZER_VERSION}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kb_docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    municipality TEXT,
    published INTEGER NOT NULL,
    places TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_terms USING fts5(
    title, answer_short, body, tags, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_terms_vocab USING fts5vocab(kb_terms, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS kb_grams USING fts5(
    head, body, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_grams_vocab USING fts5vocab(kb_grams, 'row');
"""


@dataclass(frozen=True, slots=True)
class _Row:
    """A document as stored: ids, filters, its source and the analysed text of every column."""

    id: str
    municipality: str | None
    published: bool
    places: str
    source: str
    terms: tuple[str, str, str, str]
    grams: tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Concept:
    """A synonym group found in a query: what the donor wrote, and what else it may be."""

    literal: tuple[tuple[str, ...], ...]
    synonyms: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class _Query:
    """A query after analysis."""

    terms: list[str]  # terms outside any concept
    concepts: list[_Concept]
    grams: list[str]
    units: list[str]  # every content word, for the share of unknown words
    places: frozenset[str]  # place names, for recognising a municipality's name
    free_units: list[str] = field(default_factory=list)  # content words outside any concept


@dataclass(slots=True)
class _Signals:
    """The per-signal bm25 scores of one candidate document."""

    municipality: str | None
    terms: float = 0.0
    concepts: float = 0.0
    grams: float = 0.0


class SqliteSearchIndex:
    """SearchIndex on an SQLite file (or ":memory:") with FTS5; safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        analyzer: JapaneseAnalyzer | None = None,
        synonyms: Synonyms | Path | str | None = None,
    ) -> None:
        self._analyzer = analyzer
        self._synonyms_source = synonyms
        self._synonyms = synonyms if isinstance(synonyms, Synonyms) else None
        self._setup_lock = threading.Lock()
        self._municipality_names: dict[str, frozenset[str]] | None = None
        self._names_version = -1
        # One connection guarded by a lock: a ":memory:" database exists per connection, and
        # SQLite serialises writers anyway. It opens on first use, so that building the app
        # touches no disk.
        self._lock = threading.RLock()
        self._path = str(path)
        self._db: sqlite3.Connection | None = None
        self._closed = False

    @property
    def _conn(self) -> sqlite3.Connection:
        # Callers hold self._lock.
        if self._db is None:
            if self._closed:
                raise sqlite3.ProgrammingError("the search index is closed")
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            if self._path != ":memory:":
                # Readers in other processes (API and worker) keep reading during a write.
                db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            self._db = db
            self._rebuild_if_stale()
        return self._db

    # --- SearchIndex -------------------------------------------------------------------

    def ping(self) -> bool:
        """Return True when the database answers a trivial query."""
        try:
            with self._lock:
                self._conn.execute("SELECT 1 FROM kb_docs LIMIT 1").fetchall()
            return True
        except sqlite3.Error:
            return False

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents in one transaction."""
        rows = [self._analyse_document(doc) for doc in docs]
        with self._lock, _Transaction(self._conn):
            for row in rows:
                self._write_row(row)
            self._municipality_names = None

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents in one transaction; unknown ids are ignored."""
        with self._lock, _Transaction(self._conn):
            for doc_id in ids:
                self._delete_row(doc_id)
            self._municipality_names = None

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return the best published documents for a query, best first."""
        if top <= 0:
            return []
        analysed = self._analyse_query(query)
        if not (analysed.terms or analysed.concepts or analysed.grams):
            return []
        with self._lock:
            freq = self._frequencies(analysed)
            signals = self._retrieve(analysed, municipality, freq)
            unknown = freq.unknown_share(analysed.units)
            names = self._municipality_name_terms()
            w_grams = _W_GRAMS_KNOWN + (_W_GRAMS_UNKNOWN - _W_GRAMS_KNOWN) * unknown
            scores = {
                doc_id: score
                * _municipality_factor(signals[doc_id].municipality, municipality, analysed, names)
                for doc_id, score in _combine(signals, w_grams).items()
            }
            self._weigh_coverage(analysed, scores)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        hits = [SearchHit(id=doc_id, score=round(score, 6)) for doc_id, score in ranked[:top]]
        # A candidate can score nothing: bm25() gives ~0 to words in most documents.
        return [hit for hit in hits if hit.score > 0]

    def close(self) -> None:
        """Close the database connection; later calls fail, ping() says False."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- analysis ----------------------------------------------------------------------

    def _get_analyzer(self) -> JapaneseAnalyzer:
        with self._setup_lock:
            if self._analyzer is None:
                self._analyzer = get_analyzer()
            return self._analyzer

    def _get_synonyms(self) -> Synonyms:
        analyzer = self._get_analyzer()
        with self._setup_lock:
            if self._synonyms is None:
                source = self._synonyms_source
                path = None if isinstance(source, Synonyms) else source
                self._synonyms = load_synonyms(path, analyzer)
            return self._synonyms

    def _analyse_document(self, doc: SearchDocument) -> _Row:
        analyzer = self._get_analyzer()
        tags = " ".join(doc.tags)
        # The category is not indexed: a dozen articles share each one, which would only make
        # its words (苦情, 受領証明書) look common.
        title, answer, body, tag_terms = (
            analyzer.analyze(text) for text in (doc.title, doc.answer_short, doc.body, tags)
        )
        places = " ".join(dict.fromkeys([*title.places, *tag_terms.places]))
        head_grams = [*title.grams, *answer.grams, *tag_terms.grams]
        source = asdict(doc)
        source["tags"] = list(doc.tags)
        return _Row(
            id=doc.id,
            municipality=doc.municipality,
            published=doc.published,
            places=places,
            source=json.dumps(source, ensure_ascii=False),
            terms=(
                " ".join(title.terms),
                " ".join(answer.terms),
                " ".join(body.terms),
                " ".join(tag_terms.terms),
            ),
            grams=(" ".join(head_grams), " ".join(body.grams)),
        )

    def _analyse_query(self, query: str) -> _Query:
        analysis = self._get_analyzer().analyze(query[:_MAX_QUERY_CHARS])
        concepts = []
        covered: set[str] = set()
        for match in self._get_synonyms().matches(analysis.units):
            literal = fts_entries(match.present)
            synonyms = [e for e in fts_entries(match.absent) if e not in literal]
            if literal and synonyms:
                concepts.append(_Concept(tuple(literal), tuple(synonyms)))
                covered.update(unit for entry in literal for unit in entry)
        # Words inside a synonym group are scored through their concept, once, rather than
        # once as themselves and again through every synonym.
        terms = [t for t in dict.fromkeys(analysis.terms) if t not in covered]
        units = [u for u in analysis.units if u != NEGATION]
        return _Query(
            terms=terms,
            concepts=concepts,
            grams=list(dict.fromkeys(analysis.grams)),
            units=units,
            places=frozenset(analysis.places),
            free_units=[u for u in dict.fromkeys(units) if u not in covered],
        )

    # --- storage -----------------------------------------------------------------------

    def _write_row(self, row: _Row) -> None:
        found = self._conn.execute("SELECT rowid FROM kb_docs WHERE id = ?", (row.id,)).fetchone()
        values = (row.municipality, int(row.published), row.places, row.source, row.id)
        if found is None:
            cursor = self._conn.execute(
                "INSERT INTO kb_docs (municipality, published, places, source, id)"
                " VALUES (?, ?, ?, ?, ?)",
                values,
            )
            rowid = cursor.lastrowid
        else:
            rowid = found[0]
            self._conn.execute(
                "UPDATE kb_docs SET municipality = ?, published = ?, places = ?, source = ?"
                " WHERE id = ?",
                values,
            )
            self._conn.execute("DELETE FROM kb_terms WHERE rowid = ?", (rowid,))
            self._conn.execute("DELETE FROM kb_grams WHERE rowid = ?", (rowid,))
        self._conn.execute(
            "INSERT INTO kb_terms (rowid, title, answer_short, body, tags) VALUES (?, ?, ?, ?, ?)",
            (rowid, *row.terms),
        )
        self._conn.execute(
            "INSERT INTO kb_grams (rowid, head, body) VALUES (?, ?, ?)", (rowid, *row.grams)
        )

    def _delete_row(self, doc_id: str) -> None:
        found = self._conn.execute("SELECT rowid FROM kb_docs WHERE id = ?", (doc_id,)).fetchone()
        if found is None:
            return
        self._conn.execute("DELETE FROM kb_terms WHERE rowid = ?", found)
        self._conn.execute("DELETE FROM kb_grams WHERE rowid = ?", found)
        self._conn.execute("DELETE FROM kb_docs WHERE rowid = ?", found)

    def _rebuild_if_stale(self) -> None:
        # Stored terms are only valid for the schema and analyser that produced them; the
        # source of every document is kept so that the index rebuilds itself after an upgrade.
        found = self._conn.execute("SELECT value FROM kb_meta WHERE key = 'version'").fetchone()
        if found is not None and found[0] == _INDEX_VERSION:
            return
        sources = [r[0] for r in self._conn.execute("SELECT source FROM kb_docs ORDER BY rowid")]
        rows = [self._analyse_document(_document_from_json(s)) for s in sources]
        with _Transaction(self._conn):
            for table in ("kb_terms_vocab", "kb_grams_vocab", "kb_terms", "kb_grams", "kb_docs"):
                self._conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                self._conn.execute(statement)
            for row in rows:
                self._write_row(row)
            self._conn.execute(
                "INSERT OR REPLACE INTO kb_meta (key, value) VALUES ('version', ?)",
                (_INDEX_VERSION,),
            )

    # --- retrieval ---------------------------------------------------------------------

    def _frequencies(self, query: _Query) -> Frequencies:
        """Look up in how many documents each word and trigram of the query occurs."""
        words = set(query.terms) | set(query.units)
        for concept in query.concepts:
            words.update(u for entry in (*concept.literal, *concept.synonyms) for u in entry)
        n_docs = int(self._conn.execute("SELECT count(*) FROM kb_docs").fetchone()[0])
        return Frequencies(
            n_docs=n_docs,
            terms=self._vocabulary("kb_terms_vocab", sorted(words)),
            grams=self._vocabulary("kb_grams_vocab", sorted(set(query.grams))),
        )

    def _vocabulary(self, table: str, terms: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(terms), 500):
            chunk = terms[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            out.update(
                self._conn.execute(
                    f"SELECT term, doc FROM {table} WHERE term IN ({marks})",  # noqa: S608
                    chunk,
                ).fetchall()
            )
        return out

    def _retrieve(
        self, query: _Query, municipality: str | None, freq: Frequencies
    ) -> dict[str, _Signals]:
        signals: dict[str, _Signals] = {}

        def signal(doc_id: str, doc_municipality: str | None) -> _Signals:
            return signals.setdefault(doc_id, _Signals(doc_municipality))

        terms = or_of_phrases((t,) for t in freq.useful(query.terms, freq.terms))
        for doc_id, doc_municipality, _, score in self._match(
            "kb_terms", _TERM_WEIGHTS, [(0, terms)] if terms else [], municipality
        ):
            signal(doc_id, doc_municipality).terms = score

        # A concept counts like one word: its best entry in a document scores, so a document
        # that happens to use three words of a group is not counted three times.
        matches: list[tuple[int, str]] = []
        owners: list[tuple[int, float]] = []
        for concept_no, concept in enumerate(query.concepts):
            for weight, entries in ((1.0, concept.literal), (_W_SYNONYM, concept.synonyms)):
                for entry in entries:
                    if not freq.may_score(entry):
                        continue
                    matches.append((len(owners), or_of_phrases([entry])))
                    owners.append((concept_no, weight))
        best: dict[tuple[str, int], float] = {}
        for doc_id, doc_municipality, key, score in self._match(
            "kb_terms", _TERM_WEIGHTS, matches, municipality
        ):
            signal(doc_id, doc_municipality)
            concept_no, weight = owners[key]
            slot = (doc_id, concept_no)
            best[slot] = max(score * weight, best.get(slot, 0.0))
        for (doc_id, _), score in best.items():
            signals[doc_id].concepts += score

        grams = or_of_phrases((g,) for g in freq.useful(query.grams, freq.grams))
        for doc_id, doc_municipality, _, score in self._match(
            "kb_grams", _GRAM_WEIGHTS, [(0, grams)] if grams else [], municipality
        ):
            signal(doc_id, doc_municipality).grams = score
        return signals

    def _match(
        self,
        table: str,
        weights: Sequence[float],
        matches: Sequence[tuple[int, str]],
        municipality: str | None,
    ) -> list[tuple[str, str | None, int, float]]:
        """Run several MATCH expressions in one statement, each result tagged with its key."""
        if not matches:
            return []
        # Only published documents, and never another municipality's articles when the donor's
        # municipality is known. bm25() is negative, better is lower: flip the sign. Table
        # names and weights are module constants, never user input.
        weight_args = ", ".join(str(w) for w in weights)
        # Each expression keeps only its best rows, sorted inside SQLite: with thousands of
        # articles a common word matches most of them, and carrying every row into Python
        # cost more than the search itself. Candidates past that depth cannot reach the top.
        select = (
            "SELECT * FROM ("  # noqa: S608
            f"SELECT d.id, d.municipality, ? AS key, -bm25({table}, {weight_args}) AS score"
            f" FROM {table} JOIN kb_docs AS d ON d.rowid = {table}.rowid"
            f" WHERE {table} MATCH ? AND d.published = 1"
            "   AND (? IS NULL OR d.municipality IS NULL OR d.municipality = ?)"
            f" ORDER BY score DESC LIMIT {_SIGNAL_DEPTH})"
        )
        out: list[tuple[str, str | None, int, float]] = []
        # SQLite caps a compound SELECT at 500 parts; long mails can match many synonyms.
        for start in range(0, len(matches), _SELECTS_PER_STATEMENT):
            batch = matches[start : start + _SELECTS_PER_STATEMENT]
            sql = " UNION ALL ".join([select] * len(batch))
            params = [p for key, match in batch for p in (key, match, municipality, municipality)]
            rows = self._conn.execute(sql, params)
            out.extend((str(r[0]), r[1], int(r[2]), float(r[3])) for r in rows)
        return out

    def _weigh_coverage(self, query: _Query, scores: dict[str, float]) -> None:
        """Scale the best candidates by how much of the query's meaning each one covers."""
        items: list[tuple[tuple[tuple[str, ...], ...], str]] = [
            (((u,),), u) for u in query.free_units
        ]
        for concept in query.concepts:
            items.append(((*concept.literal, *concept.synonyms), concept.literal[0][0]))
        if len(items) < 2 or not scores:
            return
        head = sorted(scores, key=lambda d: -scores[d])[:_COVERAGE_CANDIDATES]
        weights = self._idf([key for _, key in items])
        total = sum(weights.get(key, 0.0) for _, key in items)
        if total <= 0:
            return
        marks = ", ".join("?" * len(head))
        rows = self._conn.execute(
            "SELECT d.id, t.title, t.answer_short, t.body, t.tags FROM kb_terms AS t"  # noqa: S608
            f" JOIN kb_docs AS d ON d.rowid = t.rowid WHERE d.id IN ({marks})",
            head,
        ).fetchall()
        for doc_id, *columns in rows:
            words = set(" ".join(columns).split())
            covered = sum(
                weights.get(key, 0.0)
                for entries, key in items
                if any(all(unit in words for unit in entry) for entry in entries)
            )
            scores[doc_id] *= (1 - _W_COVERAGE) + _W_COVERAGE * covered / total

    def _idf(self, terms: Sequence[str]) -> dict[str, float]:
        distinct = sorted(set(terms))
        marks = ", ".join("?" * len(distinct))
        total = self._conn.execute("SELECT count(*) FROM kb_docs").fetchone()[0] or 1
        return {
            term: math.log(1 + total / doc)
            for term, doc in self._conn.execute(
                f"SELECT term, doc FROM kb_terms_vocab WHERE term IN ({marks})",  # noqa: S608
                distinct,
            )
        }

    def _municipality_name_terms(self) -> dict[str, frozenset[str]]:
        # A municipality's names are the place names most of its articles use (伊勢, 横浜市),
        # learnt from the data so that no list of names must be kept. data_version moves when
        # another process (the worker) commits to the file.
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if self._municipality_names is None or version != self._names_version:
            self._names_version = version
            counts: dict[str, Counter[str]] = {}
            articles: Counter[str] = Counter()
            for municipality, places in self._conn.execute(
                "SELECT municipality, places FROM kb_docs"
                " WHERE published = 1 AND municipality IS NOT NULL"
            ):
                articles[municipality] += 1
                counts.setdefault(municipality, Counter()).update(set(places.split()))
            self._municipality_names = {
                name: frozenset(p for p, n in places.items() if 2 * n > articles[name])
                for name, places in counts.items()
            }
        return self._municipality_names


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _combine(signals: dict[str, _Signals], w_grams: float) -> dict[str, float]:
    """Return the word score of every candidate plus its share of the trigram signal."""
    top_grams = max((s.grams for s in signals.values()), default=0.0) or 1.0
    top_words = max((s.terms + s.concepts for s in signals.values()), default=0.0) or 1.0
    # Trigram scores grow with query length; rescale them to the word signals' range so that
    # their weight means the same for a three-word and a three-sentence query.
    return {
        doc_id: s.terms + s.concepts + w_grams * s.grams / top_grams * top_words
        for doc_id, s in signals.items()
    }


def _municipality_factor(
    doc_municipality: str | None,
    municipality: str | None,
    query: _Query,
    municipality_names: dict[str, frozenset[str]],
) -> float:
    if doc_municipality is None:
        return 1.0
    if doc_municipality == municipality:
        return _OWN_MUNICIPALITY
    if municipality_names.get(doc_municipality, frozenset()) & query.places:
        # The donor named the municipality in the query: treat it as theirs.
        return _OWN_MUNICIPALITY
    return _OTHER_SPECIFIC


def _document_from_json(text: str) -> SearchDocument:
    data = json.loads(text)
    data["tags"] = tuple(data.get("tags", ()))
    return SearchDocument(**data)
