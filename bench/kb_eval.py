"""Measure FAQ search quality and speed: recall@k, MRR@5 overall and per kind, latency.

Usage: .venv/bin/python bench/kb_eval.py [--faq PATH] [--queries PATH] [--db PATH] [--misses]
       .venv/bin/python bench/kb_eval.py --osmem     # the Elasticsearch adapter on osmem-server
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from support.adapters.ports import SearchDocument, SearchIndex  # noqa: E402
from support.adapters.search_sqlite import SqliteSearchIndex  # noqa: E402

DEFAULT_FAQ = REPO_ROOT / "../shared/data/kb/faq.jsonl"
DEFAULT_QUERIES = REPO_ROOT / "../shared/data/kb/queries-dev.jsonl"
KS = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class Query:
    """One labelled query."""

    q: str
    relevant: tuple[str, ...]
    kind: str
    municipality: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The ranked ids one query got back."""

    query: Query
    ranked: tuple[str, ...]

    def recall_at(self, k: int) -> float:
        """Return 1.0 when any relevant id is in the first k results (hit rate)."""
        return 1.0 if set(self.ranked[:k]) & set(self.query.relevant) else 0.0

    def reciprocal_rank(self, k: int = 5) -> float:
        """Return 1/rank of the first relevant id within k, else 0."""
        for rank, doc_id in enumerate(self.ranked[:k], start=1):
            if doc_id in self.query.relevant:
                return 1.0 / rank
        return 0.0


def load_documents(path: Path) -> list[SearchDocument]:
    """Read faq.jsonl into search documents."""
    docs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            docs.append(
                SearchDocument(
                    id=row["id"],
                    title=row["title"],
                    body=row["body"],
                    answer_short=row.get("answer_short", ""),
                    category=row.get("category", ""),
                    tags=tuple(row.get("tags", ())),
                    municipality=row.get("municipality"),
                    published=row.get("published", True),
                )
            )
    return docs


def load_queries(path: Path) -> list[Query]:
    """Read labelled queries."""
    queries = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            queries.append(
                Query(row["q"], tuple(row["relevant"]), row.get("kind", "-"), row["municipality"])
            )
    return queries


def summarise(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Return recall@1/3/5 and MRR@5 of a set of outcomes."""
    n = len(outcomes) or 1
    figures = {f"recall@{k}": sum(o.recall_at(k) for o in outcomes) / n for k in KS}
    figures["mrr@5"] = sum(o.reciprocal_rank(5) for o in outcomes) / n
    return figures


def evaluate(index: SearchIndex, queries: Sequence[Query]) -> tuple[list[Outcome], list[float]]:
    """Run every query once and return the outcomes and per-query latencies in seconds."""
    outcomes, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query.q, municipality=query.municipality, top=5)
        latencies.append(time.perf_counter() - started)
        outcomes.append(Outcome(query, tuple(h.id for h in hits)))
    return outcomes, latencies


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def print_table(outcomes: Sequence[Outcome]) -> None:
    """Print the quality figures overall and per kind."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.query.kind].append(outcome)
    header = f"{'kind':<12}{'n':>4}" + "".join(f"{name:>11}" for name in summarise([]))
    print(header)
    rows = [("all", list(outcomes))] + sorted(by_kind.items())
    for kind, group in rows:
        figures = summarise(group)
        print(f"{kind:<12}{len(group):>4}" + "".join(f"{v:>11.3f}" for v in figures.values()))


def main(argv: Sequence[str] | None = None) -> int:
    """Build an index from the FAQ, run the labelled queries and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, default=DEFAULT_FAQ)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--db", default=None, help="index file (default: a temporary file)")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the queries")
    parser.add_argument("--misses", action="store_true", help="list queries not ranked first")
    parser.add_argument("--osmem", action="store_true", help="Elasticsearch adapter on osmem")
    args = parser.parse_args(argv)
    if args.osmem:
        return _main_osmem(args)

    docs = load_documents(args.faq)
    queries = load_queries(args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "kb.sqlite3")
        started = time.perf_counter()
        index = SqliteSearchIndex(db)
        index.search("ウォームアップ")  # loads the dictionary and the synonyms
        warm = time.perf_counter() - started
        started = time.perf_counter()
        index.upsert(docs)
        build = time.perf_counter() - started
        outcomes, _ = evaluate(index, queries)
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(max(1, args.repeat)):
            latencies.extend(evaluate(index, queries)[1])
        elapsed = time.perf_counter() - started
        index.close()

    print(f"documents {len(docs)}, queries {len(queries)}")
    print_table(outcomes)
    print(f"analyser load + first query: {warm * 1000:.0f} ms")
    print(f"index build ({len(docs)} docs): {build * 1000:.0f} ms")
    print(
        f"queries/second: {len(latencies) / elapsed:.0f}  "
        f"p50 {statistics.median(latencies) * 1000:.2f} ms  "
        f"p99 {percentile(latencies, 99) * 1000:.2f} ms"
    )
    if args.misses:
        print("\nnot first:")
        for outcome in outcomes:
            if outcome.recall_at(1) < 1:
                print(f"  [{outcome.query.kind}] {outcome.query.q[:60]}")
                print(f"      want {list(outcome.query.relevant)} got {list(outcome.ranked)}")
    return 0


def _main_osmem(args: argparse.Namespace) -> int:
    from support.adapters.search_elastic import ElasticSearchIndex
    from tests.services.opensearch import OpenSearchServer

    docs = load_documents(args.faq)
    queries = load_queries(args.queries)
    with OpenSearchServer() as server:
        index = ElasticSearchIndex(server.url, index="kb-eval")
        index.reindex(docs)
        outcomes, latencies = evaluate(index, queries)
        index.close()
    print(f"osmem-server: documents {len(docs)}, queries {len(queries)}")
    print_table(outcomes)
    print(f"p50 {statistics.median(latencies) * 1000:.2f} ms")
    if args.misses:
        for outcome in outcomes:
            if outcome.recall_at(1) < 1:
                print(f"  [{outcome.query.kind}] {outcome.query.q[:60]}")
                print(f"      want {list(outcome.query.relevant)} got {list(outcome.ranked)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
