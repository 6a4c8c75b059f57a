"""Impact postings for the embedded search: per-word BM25 inputs stored in SQLite, scored in NumPy.

FTS5's bm25() visits and scores every row that matches, in C but one row at a time through the
auxiliary-function API; with 10,000 articles a common word matches thousands and a search took
50-150 ms. Here each word (and each reading trigram) has one row in `kb_postings`: the rowids
of the documents that contain it and its column-weighted frequency in each, written in the
same transaction as the document. A search loads the postings of its words (once per process
and index generation) and scores all candidates at once with vector arithmetic, using the same
BM25 as FTS5 (k1 = 1.2, b = 0.75, idf = log((N - n + 0.5) / (n + 0.5)) floored at 1e-6), so
the ranking is the one FTS5 gave, only computed in microseconds per word.

Other processes (API replicas, the worker, the CLI) write the same file: a generation number in
`kb_meta`, bumped in every write transaction, tells a process that its cache is stale.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

TERMS, GRAMS = 0, 1
_K1 = 1.2
_B = 0.75
_ROWID = np.dtype("<i4")
_FREQ = np.dtype("<f4")

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_postings (
    kind INTEGER NOT NULL,
    term TEXT NOT NULL,
    rowids BLOB NOT NULL,
    freqs BLOB NOT NULL,
    PRIMARY KEY (kind, term)
) WITHOUT ROWID;
"""


def weighted_counts(columns: Sequence[str], weights: Sequence[float]) -> dict[str, float]:
    """Return each word's frequency in a document, every occurrence counted by its column."""
    out: dict[str, float] = {}
    for text, weight in zip(columns, weights, strict=True):
        for word, count in Counter(text.split()).items():
            out[word] = out.get(word, 0.0) + count * weight
    return out


def bump_generation(conn: sqlite3.Connection) -> None:
    """Mark the index as changed; call inside the write transaction."""
    conn.execute(
        "INSERT INTO kb_meta (key, value) VALUES ('generation', '1') ON CONFLICT (key)"
        " DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
    )


def read_generation(conn: sqlite3.Connection) -> int:
    """Return the index generation (0 before the first write)."""
    found = conn.execute("SELECT value FROM kb_meta WHERE key = 'generation'").fetchone()
    return int(found[0]) if found else 0


def update_postings(
    conn: sqlite3.Connection,
    kind: int,
    removed: Iterable[int],
    stale_words: Iterable[str],
    added: Mapping[int, Mapping[str, float]],
) -> None:
    """Drop the removed rowids from their words' postings and add the new documents' words.

    `removed` are rowids being replaced or deleted, `stale_words` the words they contained,
    `added` maps a rowid to its words and weighted frequencies.
    """
    gone = np.fromiter(removed, dtype=np.int64)
    new: dict[str, tuple[list[int], list[float]]] = {}
    for rowid, counts in added.items():
        for word, freq in counts.items():
            new_rows, new_freqs = new.setdefault(word, ([], []))
            new_rows.append(rowid)
            new_freqs.append(freq)
    words = sorted(set(stale_words) | set(new))
    stored: dict[str, tuple[bytes, bytes]] = {}
    for start in range(0, len(words), 500):
        chunk = words[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for term, rowids, freqs in conn.execute(
            f"SELECT term, rowids, freqs FROM kb_postings WHERE kind = ? AND term IN ({marks})",  # noqa: S608
            [kind, *chunk],
        ):
            stored[term] = (rowids, freqs)
    writes: list[tuple[int, str, bytes, bytes]] = []
    deletes: list[tuple[int, str]] = []
    for word in words:
        old = stored.get(word)
        rows = np.frombuffer(old[0], dtype=_ROWID) if old else np.empty(0, dtype=_ROWID)
        freqs = np.frombuffer(old[1], dtype=_FREQ) if old else np.empty(0, dtype=_FREQ)
        if gone.size and rows.size:
            keep = ~np.isin(rows, gone)
            rows, freqs = rows[keep], freqs[keep]
        extra = new.get(word)
        if extra:
            rows = np.concatenate([rows, np.asarray(extra[0], dtype=_ROWID)])
            freqs = np.concatenate([freqs, np.asarray(extra[1], dtype=_FREQ)])
        if rows.size:
            writes.append((kind, word, rows.tobytes(), freqs.tobytes()))
        elif old is not None:
            deletes.append((kind, word))
    conn.executemany("INSERT OR REPLACE INTO kb_postings VALUES (?, ?, ?, ?)", writes)
    conn.executemany("DELETE FROM kb_postings WHERE kind = ? AND term = ?", deletes)


@dataclass(frozen=True, slots=True)
class Postings:
    """One word's documents (as positions in the snapshot) and their BM25 contributions."""

    positions: npt.NDArray[np.int32]
    impacts: npt.NDArray[np.float32]

    @property
    def df(self) -> int:
        """Return how many documents (published or not) contain the word."""
        return int(self.positions.size)


_EMPTY = Postings(np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))


class Snapshot:
    """The documents of one index generation, and the postings of the words looked up so far."""

    def __init__(self, conn: sqlite3.Connection, generation: int) -> None:
        self.generation = generation
        rows = conn.execute(
            "SELECT rowid, id, municipality, published, terms_len, grams_len, places"
            " FROM kb_docs ORDER BY rowid"
        ).fetchall()
        self.ids: list[str] = [r[1] for r in rows]
        self.municipalities: list[str | None] = [r[2] for r in rows]
        self.n_docs = len(rows)
        rowids = np.asarray([r[0] for r in rows], dtype=np.int64)
        self._position = np.full(int(rowids.max()) + 1 if rows else 1, -1, dtype=np.int64)
        self._position[rowids] = np.arange(self.n_docs)
        self.published: Mask = np.asarray([bool(r[3]) for r in rows], dtype=np.bool_)
        codes = {name: n for n, name in enumerate(sorted({r[2] for r in rows if r[2]}))}
        self._codes = codes
        self._municipality_code = np.asarray(
            [codes[r[2]] if r[2] else -1 for r in rows], dtype=np.int64
        )
        self._lengths = (
            np.asarray([r[4] for r in rows], dtype=np.float64),
            np.asarray([r[5] for r in rows], dtype=np.float64),
        )
        self.places: list[tuple[str | None, bool, str]] = [(r[2], bool(r[3]), r[6]) for r in rows]
        self._conn = conn
        self._cache: dict[tuple[int, str], Postings] = {}
        self._names: dict[str, frozenset[str]] | None = None

    def municipality_names(self) -> dict[str, frozenset[str]]:
        """Return each municipality's names: the place names most of its articles use."""
        # Learnt from the data (伊勢, 横浜市) so that no list of names must be kept.
        if self._names is None:
            counts: dict[str, Counter[str]] = {}
            articles: Counter[str] = Counter()
            for municipality, published, places in self.places:
                if municipality is None or not published:
                    continue
                articles[municipality] += 1
                counts.setdefault(municipality, Counter()).update(set(places.split()))
            self._names = {
                name: frozenset(p for p, n in places.items() if 2 * n > articles[name])
                for name, places in counts.items()
            }
        return self._names

    def allowed(self, municipality: str | None) -> Mask:
        """Return the documents a donor of this municipality may get: theirs or general ones."""
        if municipality is None:
            return self.published
        code = self._codes.get(municipality, -2)
        mine: Mask = (self._municipality_code == -1) | (self._municipality_code == code)
        return self.published & mine

    def municipality_codes(self, positions: Ints) -> Ints:
        """Return the municipality code of each document (-1 for general articles)."""
        return self._municipality_code[positions]

    def codes_of(self, municipalities: Iterable[str]) -> Ints:
        """Return the codes of the municipalities that have documents."""
        return np.asarray(
            [self._codes[m] for m in municipalities if m in self._codes], dtype=np.int64
        )

    def postings(self, kind: int, words: Iterable[str]) -> dict[str, Postings]:
        """Return the postings of the words (empty for unknown ones), loading missing ones."""
        wanted = list(dict.fromkeys(words))
        missing = [w for w in wanted if (kind, w) not in self._cache]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found = self._conn.execute(
                f"SELECT term, rowids, freqs FROM kb_postings"  # noqa: S608
                f" WHERE kind = ? AND term IN ({marks})",
                [kind, *chunk],
            ).fetchall()
            for term, rowids, freqs in found:
                self._cache[(kind, term)] = self._impacts(kind, rowids, freqs)
            for word in chunk:
                self._cache.setdefault((kind, word), _EMPTY)
        return {w: self._cache[(kind, w)] for w in wanted}

    def _impacts(self, kind: int, rowids: bytes, freqs: bytes) -> Postings:
        stored = np.frombuffer(rowids, dtype=_ROWID).astype(np.int64)
        known = stored < self._position.size
        positions = self._position[stored[known]]
        tf = np.frombuffer(freqs, dtype=_FREQ).astype(np.float64)[known]
        # Callers read postings in the snapshot's transaction; this only guards against a file
        # edited by hand.
        positions, tf = positions[positions >= 0], tf[positions >= 0]
        # Sorted by position, so that membership is a binary search (see contains()).
        order = np.argsort(positions, kind="stable")
        positions, tf = positions[order], tf[order]
        lengths = self._lengths[kind]
        average = float(lengths.mean()) if lengths.size else 1.0
        norm = _K1 * (1 - _B + _B * lengths[positions] / (average or 1.0))
        df = positions.size
        idf = max(math.log((self.n_docs - df + 0.5) / (df + 0.5)), 1e-6)
        # Half-width types: a process that has seen every word holds 8 bytes per posting.
        impacts = idf * tf * (_K1 + 1) / (tf + norm)
        return Postings(positions.astype(np.int32), impacts.astype(np.float32))

    def score(self, kind: int, entries: Sequence[Sequence[str]]) -> tuple[Floats, Mask]:
        """Return the summed contributions of an OR of AND-groups, and which documents match."""
        groups = [list(dict.fromkeys(entry)) for entry in entries]
        found = self.postings(kind, [unit for units in groups for unit in units])
        # The single words of an OR are summed in one pass over their postings.
        singles = [found[units[0]] for units in groups if len(units) == 1]
        total, hits = self._sum(singles)
        matched = hits > 0
        for units in groups:
            if len(units) > 1:
                part, count = self._sum([found[unit] for unit in units])
                present = count == len(units)
                total += np.where(present, part, 0.0)
                matched |= present
        return total, matched

    def _sum(self, lists: Sequence[Postings]) -> tuple[Floats, Ints]:
        """Return each document's summed impacts over the lists, and in how many it occurs."""
        if not lists:
            return np.zeros(self.n_docs), np.zeros(self.n_docs, dtype=np.int64)
        positions = np.concatenate([p.positions for p in lists])
        impacts = np.concatenate([p.impacts for p in lists])
        summed = np.bincount(positions, weights=impacts, minlength=self.n_docs)
        total: Floats = summed.astype(np.float64, copy=False)
        count: Ints = np.bincount(positions, minlength=self.n_docs)
        return total, count

    def contains(self, kind: int, word: str, positions: Ints) -> Mask:
        """Return which of the documents at these positions contain the word."""
        sorted_positions = self.postings(kind, [word])[word].positions
        if not sorted_positions.size:
            return np.zeros(positions.size, dtype=np.bool_)
        at = np.searchsorted(sorted_positions, positions).clip(max=sorted_positions.size - 1)
        found: Mask = sorted_positions[at] == positions
        return found
