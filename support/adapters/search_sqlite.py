"""Embedded FAQ search: BM25 impact postings in SQLite over Sudachi terms, synonyms, typo fallback.

Documents are analysed in Python (support.adapters.ja_text). Each one is stored three ways in
one transaction: its source (kb_docs, to rebuild after an analyser change), its analysed
columns in FTS5 tables (kb_terms, kb_grams: the record of what it contained, and a reference
that tests check the scores against), and its words' postings (kb_postings, see
support.adapters.search_impacts), which searches score. A query goes through four steps:

1. analysis: the query's terms, the synonym groups ("concepts") it uses, its reading trigrams;
2. retrieval: every allowed document's BM25 score for each signal (terms, concepts, trigrams);
3. scoring: terms + concepts + a share of the trigram signal, times a municipality factor,
   then the best candidates weighted by how much of the question they cover;
4. the top N.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from support.adapters.fts_query import Frequencies, fts_entries
from support.adapters.ja_text import (
    ANALYZER_VERSION,
    NEGATION,
    JapaneseAnalyzer,
    Synonyms,
    get_analyzer,
    load_synonyms,
)
from support.adapters.ports import SearchDocument, SearchHit
from support.adapters.search_impacts import (
    GRAMS,
    TERMS,
    Floats,
    Ints,
    Mask,
    Snapshot,
    bump_generation,
    read_generation,
    update_postings,
    weighted_counts,
)
from support.adapters.search_impacts import SCHEMA as POSTINGS_SCHEMA

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

# Municipality factors (see _municipality_factors).
_OWN_MUNICIPALITY = 1.5
_OTHER_SPECIFIC = 0.5

# Coverage: the best candidates are scaled by the idf-weighted share of the query's words and
# synonym groups they contain, so a document that answers the whole question beats one that
# repeats a single rare word of it.
_W_COVERAGE = 0.5
_COVERAGE_CANDIDATES = 30

# Longer queries are cut: a donor's question fits, and a pasted document cannot stall search.
_MAX_QUERY_CHARS = 2000

# Bump _SCHEMA_VERSION when the tables change; either version change rebuilds the index.
_SCHEMA_VERSION = "2"
_INDEX_VERSION = f"{_SCHEMA_VERSION}/{ANALYZER_VERSION}"

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kb_docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    municipality TEXT,
    published INTEGER NOT NULL,
    places TEXT NOT NULL,
    source TEXT NOT NULL,
    terms_len INTEGER NOT NULL,
    grams_len INTEGER NOT NULL
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
    + POSTINGS_SCHEMA
)


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
        self._snap: Snapshot | None = None
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
            self._write_rows(rows)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents in one transaction; unknown ids are ignored."""
        with self._lock, _Transaction(self._conn):
            self._delete_rows(ids)

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return the best published documents for a query, best first."""
        if top <= 0:
            return []
        analysed = self._analyse_query(query)
        if not (analysed.terms or analysed.concepts or analysed.grams):
            return []
        # One read transaction: the generation, the documents and the postings it loads come
        # from the same state of the file even while another process writes.
        with self._lock, _Transaction(self._conn, "DEFERRED"):
            snap = self._snapshot()
            freq = self._frequencies(snap, analysed)
            allowed = snap.allowed(municipality)
            terms, concepts, grams, candidates = self._retrieve(snap, analysed, allowed, freq)
            where = np.flatnonzero(candidates)
            if not where.size:
                return []
            words = terms[where] + concepts[where]
            # Trigram scores grow with query length; rescale them to the word signals' range
            # so that their weight means the same for a three-word and a three-sentence query.
            top_grams = float(grams[where].max()) or 1.0
            top_words = float(words.max()) or 1.0
            unknown = freq.unknown_share(analysed.units)
            w_grams = _W_GRAMS_KNOWN + (_W_GRAMS_UNKNOWN - _W_GRAMS_KNOWN) * unknown
            combined = words + w_grams * grams[where] / top_grams * top_words
            combined *= self._municipality_factors(snap, where, municipality, analysed)
            self._weigh_coverage(snap, analysed, where, combined)
        if where.size > top:
            # Everything tied with the last place stays in, for the tie-break by id.
            last = np.partition(combined, where.size - top)[where.size - top]
            keep = combined >= last
            where, combined = where[keep], combined[keep]
        ranked = sorted(
            zip((snap.ids[p] for p in where.tolist()), combined.tolist(), strict=True),
            key=lambda item: (-item[1], item[0]),
        )
        hits = [SearchHit(id=doc_id, score=round(score, 6)) for doc_id, score in ranked[:top]]
        # A candidate can score nothing: bm25 gives ~0 to words in most documents.
        return [hit for hit in hits if hit.score > 0]

    def _municipality_factors(
        self, snap: Snapshot, where: Ints, municipality: str | None, query: _Query
    ) -> Floats:
        """Return the municipality factor of each candidate.

        The donor's own municipality beats the general article; without a municipality,
        general articles beat municipality-specific ones unless the query names it.
        """
        named = {m for m, names in snap.municipality_names().items() if names & query.places}
        if municipality is not None:
            named.add(municipality)
        codes = snap.municipality_codes(where)
        own = np.isin(codes, snap.codes_of(named))
        return np.where(codes < 0, 1.0, np.where(own, _OWN_MUNICIPALITY, _OTHER_SPECIFIC))

    def close(self) -> None:
        """Close the database connection; later calls fail, ping() says False."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    def delete_municipality(self, municipality: str) -> int:
        """Remove one municipality's documents, overwriting the freed pages with zeros."""
        with self._lock:
            conn = self._conn
            conn.execute("PRAGMA secure_delete = ON")
            with _Transaction(conn):
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM kb_docs WHERE municipality = ?", (municipality,)
                    )
                ]
                self._delete_rows(ids)
        return len(ids)

    def compact(self) -> None:
        """Merge the FTS segments (dropping deleted terms), VACUUM and empty the WAL."""
        with self._lock:
            conn = self._conn
            conn.execute("PRAGMA secure_delete = ON")
            with _Transaction(conn):
                # 'optimize' merges every segment into one: deleted documents' terms go.
                conn.execute("INSERT INTO kb_terms (kb_terms) VALUES ('optimize')")
                conn.execute("INSERT INTO kb_grams (kb_grams) VALUES ('optimize')")
            conn.execute("VACUUM")
            if self._path != ":memory:":
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if busy is not None and busy[0]:
                    raise sqlite3.OperationalError("search index WAL busy: a reader is open")

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

    def _write_rows(self, rows: Sequence[_Row]) -> None:
        """Write documents, their FTS rows and their postings; the caller holds a transaction."""
        removed: list[int] = []
        stale: tuple[set[str], set[str]] = (set(), set())
        added: tuple[dict[int, dict[str, float]], dict[int, dict[str, float]]] = ({}, {})
        for row in rows:
            rowid = self._write_row(row, removed, stale)
            added[TERMS][rowid] = weighted_counts(row.terms, _TERM_WEIGHTS)
            added[GRAMS][rowid] = weighted_counts(row.grams, _GRAM_WEIGHTS)
        for kind in (TERMS, GRAMS):
            update_postings(self._conn, kind, removed, stale[kind], added[kind])
        bump_generation(self._conn)

    def _write_row(self, row: _Row, removed: list[int], stale: tuple[set[str], set[str]]) -> int:
        found = self._conn.execute("SELECT rowid FROM kb_docs WHERE id = ?", (row.id,)).fetchone()
        values = (
            row.municipality,
            int(row.published),
            row.places,
            row.source,
            sum(len(column.split()) for column in row.terms),
            sum(len(column.split()) for column in row.grams),
            row.id,
        )
        if found is None:
            cursor = self._conn.execute(
                "INSERT INTO kb_docs"
                " (municipality, published, places, source, terms_len, grams_len, id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            rowid = int(cursor.lastrowid or 0)
        else:
            rowid = int(found[0])
            self._conn.execute(
                "UPDATE kb_docs SET municipality = ?, published = ?, places = ?, source = ?,"
                " terms_len = ?, grams_len = ? WHERE id = ?",
                values,
            )
            self._forget_row(rowid, removed, stale)
        self._conn.execute(
            "INSERT INTO kb_terms (rowid, title, answer_short, body, tags) VALUES (?, ?, ?, ?, ?)",
            (rowid, *row.terms),
        )
        self._conn.execute(
            "INSERT INTO kb_grams (rowid, head, body) VALUES (?, ?, ?)", (rowid, *row.grams)
        )
        return rowid

    def _forget_row(self, rowid: int, removed: list[int], stale: tuple[set[str], set[str]]) -> None:
        """Delete a document's FTS rows, noting its words so that their postings drop it."""
        removed.append(rowid)
        for kind, table in ((TERMS, "kb_terms"), (GRAMS, "kb_grams")):
            found = self._conn.execute(
                f"SELECT * FROM {table} WHERE rowid = ?",  # noqa: S608
                (rowid,),
            ).fetchone()
            for column in found or ():
                stale[kind].update(column.split())
            self._conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))  # noqa: S608

    def _delete_rows(self, ids: Sequence[str]) -> None:
        removed: list[int] = []
        stale: tuple[set[str], set[str]] = (set(), set())
        for doc_id in ids:
            found = self._conn.execute("SELECT rowid FROM kb_docs WHERE id = ?", (doc_id,))
            for (rowid,) in found.fetchall():
                self._forget_row(int(rowid), removed, stale)
                self._conn.execute("DELETE FROM kb_docs WHERE rowid = ?", (rowid,))
        for kind in (TERMS, GRAMS):
            update_postings(self._conn, kind, removed, stale[kind], {})
        bump_generation(self._conn)

    def _rebuild_if_stale(self) -> None:
        # Stored terms are only valid for the schema and analyser that produced them; the
        # source of every document is kept so that the index rebuilds itself after an upgrade.
        found = self._conn.execute("SELECT value FROM kb_meta WHERE key = 'version'").fetchone()
        if found is not None and found[0] == _INDEX_VERSION:
            return
        sources = [r[0] for r in self._conn.execute("SELECT source FROM kb_docs ORDER BY rowid")]
        rows = [self._analyse_document(_document_from_json(s)) for s in sources]
        with _Transaction(self._conn):
            for table in (
                "kb_terms_vocab",
                "kb_grams_vocab",
                "kb_terms",
                "kb_grams",
                "kb_docs",
                "kb_postings",
            ):
                self._conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                self._conn.execute(statement)
            self._write_rows(rows)
            self._conn.execute(
                "INSERT OR REPLACE INTO kb_meta (key, value) VALUES ('version', ?)",
                (_INDEX_VERSION,),
            )

    # --- retrieval ---------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        """Return the cached documents and postings, reloaded when any process wrote."""
        generation = read_generation(self._conn)
        if self._snap is None or self._snap.generation != generation:
            self._snap = Snapshot(self._conn, generation)
        return self._snap

    def _frequencies(self, snap: Snapshot, query: _Query) -> Frequencies:
        """Look up in how many documents each word and trigram of the query occurs."""
        words = set(query.terms) | set(query.units)
        for concept in query.concepts:
            words.update(u for entry in (*concept.literal, *concept.synonyms) for u in entry)
        return Frequencies(
            n_docs=snap.n_docs,
            terms={w: p.df for w, p in snap.postings(TERMS, sorted(words)).items() if p.df},
            grams={g: p.df for g, p in snap.postings(GRAMS, query.grams).items() if p.df},
        )

    def _retrieve(
        self, snap: Snapshot, query: _Query, allowed: Mask, freq: Frequencies
    ) -> tuple[Floats, Floats, Floats, Mask]:
        """Return the terms, concepts and trigram signals of every document, and the candidates.

        Every allowed document that matches is scored: the FTS5 queries had to keep only the
        200 best of each signal, which among 10,000 near-duplicate articles cut off some that
        the other signals would have lifted to the top.
        """
        candidates = np.zeros(snap.n_docs, dtype=np.bool_)

        def signal(kind: int, entries: Sequence[Sequence[str]], weight: float = 1.0) -> Floats:
            scores, matched = snap.score(kind, entries)
            keep = matched & allowed
            candidates[keep] = True
            return np.where(keep, scores * weight, 0.0)

        terms = freq.useful(query.terms, freq.terms)
        term_scores = signal(TERMS, [(t,) for t in terms]) if terms else np.zeros(snap.n_docs)
        # A concept counts like one word: its best entry in a document scores, so a document
        # that happens to use three words of a group is not counted three times.
        concept_scores = np.zeros(snap.n_docs)
        for concept in query.concepts:
            best = np.zeros(snap.n_docs)
            for weight, entries in ((1.0, concept.literal), (_W_SYNONYM, concept.synonyms)):
                for entry in entries:
                    if freq.may_score(entry):
                        best = np.maximum(best, signal(TERMS, [entry], weight))
            concept_scores += best
        grams = freq.useful(query.grams, freq.grams)
        gram_scores = signal(GRAMS, [(g,) for g in grams]) if grams else np.zeros(snap.n_docs)
        return term_scores, concept_scores, gram_scores, candidates

    def _weigh_coverage(self, snap: Snapshot, query: _Query, where: Ints, scores: Floats) -> None:
        """Scale the best candidates by how much of the query's meaning each one covers."""
        items: list[tuple[tuple[tuple[str, ...], ...], str]] = [
            (((u,),), u) for u in query.free_units
        ]
        for concept in query.concepts:
            items.append(((*concept.literal, *concept.synonyms), concept.literal[0][0]))
        if len(items) < 2:
            return
        found = snap.postings(TERMS, [key for _, key in items])
        weights = {key: math.log(1 + snap.n_docs / p.df) for key, p in found.items() if p.df}
        total = sum(weights.get(key, 0.0) for _, key in items)
        if total <= 0:
            return
        order = np.arange(scores.size)
        if scores.size > _COVERAGE_CANDIDATES:
            order = np.argpartition(-scores, _COVERAGE_CANDIDATES - 1)[:_COVERAGE_CANDIDATES]
        head = where[order]
        presence: dict[str, Mask] = {}

        def has(unit: str) -> Mask:
            if unit not in presence:
                presence[unit] = snap.contains(TERMS, unit, head)
            return presence[unit]

        covered = np.zeros(head.size)
        for entries, key in items:
            weight = weights.get(key, 0.0)
            if weight == 0.0:
                continue
            any_entry = np.zeros(head.size, dtype=np.bool_)
            for entry in entries:
                all_units = np.ones(head.size, dtype=np.bool_)
                for unit in entry:
                    all_units &= has(unit)
                any_entry |= all_units
            covered += np.where(any_entry, weight, 0.0)
        scores[order] *= (1 - _W_COVERAGE) + _W_COVERAGE * covered / total


class _Transaction:
    """BEGIN IMMEDIATE (or DEFERRED, for reads) ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> None:
        self._conn = conn
        self._mode = mode

    def __enter__(self) -> None:
        self._conn.execute(f"BEGIN {self._mode}")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _document_from_json(text: str) -> SearchDocument:
    data = json.loads(text)
    data["tags"] = tuple(data.get("tags", ()))
    return SearchDocument(**data)
