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
import random
import resource
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from support.db import make_engine, make_session_factory, transaction, utcnow  # noqa: E402
from support.mail.directory import load_directory  # noqa: E402
from support.mail.guards import DraftMail, TicketContext, check_draft  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.models import Donation, Donor, GiftItem, Order, Supplier  # noqa: E402
from support.tickets.world import load_world, read_world  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
WORLD = DATA / "world.json" if (DATA / "world.json").exists() else ROOT / "support/demo/world.json"
DRAFTS = DATA / "outbound" / "drafts-dev.jsonl"
BATCH = 10_000
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健", "陽子", "翔", "愛", "大輔", "由美"]


def populate(url: str, donors: int, orders: int) -> None:
    """Migrate, load the world, and add generated donors and orders."""
    upgrade(url)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        load_world(session=session, world=read_world(WORLD))
        suppliers = session.execute(select(Supplier.id, Supplier.municipality_id)).all()
        gifts = {
            s: session.scalars(select(GiftItem.id).where(GiftItem.supplier_id == s)).all()
            for s, _ in suppliers
        }
    rng = random.Random(5)
    now = utcnow()
    with engine.begin() as conn:
        for start in range(0, donors, BATCH):
            conn.execute(
                insert(Donor),
                [
                    {
                        "id": f"gd-{i:07d}",
                        "name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}",
                        "kana": "テスト",
                        "email": f"user{i}@bench-mail.example.jp",
                        "phone": f"080-{i // 10000:04d}-{i % 10000:04d}",
                        "postal_code": f"{100 + i % 800:03d}-{i % 10000:04d}",
                        "address": f"東京都練馬区豊玉北{i % 9 + 1}丁目{i % 30 + 1}番{i % 20 + 1}号",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(donors, start + BATCH))
                ],
            )
        first = date(2025, 1, 1)
        for start in range(0, orders, BATCH):
            donations, rows = [], []
            for i in range(start, min(orders, start + BATCH)):
                supplier, city = suppliers[rng.randrange(len(suppliers))]
                donor = f"gd-{rng.randrange(donors):07d}"
                day = first + timedelta(days=rng.randrange(365))
                donations.append(
                    {
                        "donation_no": f"D26-{i:07d}",
                        "donor_id": donor,
                        "municipality_id": city,
                        "amount_yen": 10000,
                        "portal": "bench",
                        "donated_on": day,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                rows.append(
                    {
                        "portal": "bench",
                        "order_no": f"ORD-2026-{i:06d}",
                        "donor_id": donor,
                        "municipality_id": city,
                        "supplier_id": supplier,
                        "gift_item_id": rng.choice(gifts[supplier]),
                        "status": "発送済",
                        "ordered_on": day,
                        "created_at": now,
                        "updated_at": now,
                        "_no": f"D26-{i:07d}",
                    }
                )
            conn.execute(insert(Donation), donations)
            ids = dict(
                conn.execute(
                    select(Donation.donation_no, Donation.id).where(
                        Donation.donation_no.in_([d["donation_no"] for d in donations])
                    )
                ).all()
            )
            for row in rows:
                row["donation_id"] = ids[row.pop("_no")]
            conn.execute(insert(Order), rows)
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
