"""Benchmark: misdirect checks per second with a large directory loaded from PostgreSQL.

Loads the world file plus generated donors and orders (default 100,000 donors and 300,000
orders) into a throwaway PostgreSQL, builds the guards' directory from the database, then
checks the labelled drafts repeatedly. Prints directory load time, peak RSS and drafts/s.

    python bench/guards.py            # 100k donors, 300k orders
    python bench/guards.py --smoke    # 2k donors, 6k orders
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import add_donors_and_orders, load_base_world  # noqa: E402
from support.db import make_engine, make_session_factory  # noqa: E402
from support.mail.directory import load_directory  # noqa: E402
from support.mail.guards import DraftMail, TicketContext, check_draft  # noqa: E402
from support.migrations import upgrade  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DRAFTS = DATA / "outbound" / "drafts-dev.jsonl"


def populate(url: str, donors: int, orders: int) -> None:
    """Migrate, load the world, and add generated donors and orders."""
    upgrade(url)
    engine = make_engine(url)
    load_base_world(engine)
    add_donors_and_orders(engine, donors=donors, orders=orders, seed=5)
    engine.dispose()


def main() -> None:
    """Populate, load the directory, check drafts, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--checks", type=int, default=3_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.donors, args.orders, args.checks = 2_000, 6_000, 300
    if not DRAFTS.exists():
        print("guards bench: drafts-dev.jsonl not found; skipped")
        return
    drafts = [json.loads(line) for line in DRAFTS.open(encoding="utf-8")]
    cases = [(DraftMail.from_mapping(d), TicketContext.from_mapping(d["ticket"])) for d in drafts]
    from tests.services.postgres import PostgresServer

    with PostgresServer() as server:
        url = server.create_database("guards")
        started = time.perf_counter()
        populate(url, args.donors, args.orders)
        populate_s = time.perf_counter() - started
        engine = make_engine(url)
        started = time.perf_counter()
        with make_session_factory(engine)() as session:
            directory = load_directory(session=session)
        load_s = time.perf_counter() - started
        engine.dispose()
    latencies = []
    started = time.perf_counter()
    for n in range(args.checks):
        draft, ticket = cases[n % len(cases)]
        t0 = time.perf_counter()
        check_draft(draft, ticket, directory)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"guards     donors={args.donors:>7} orders={args.orders:>7} "
        f"populate={populate_s:6.1f}s directory_load={load_s:5.2f}s "
        f"drafts/s={args.checks / elapsed:7.1f} "
        f"p50={statistics.median(latencies) * 1000:6.2f}ms "
        f"p99={latencies[int(len(latencies) * 0.99)] * 1000:6.2f}ms peak_rss={rss_mb:6.0f}MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
