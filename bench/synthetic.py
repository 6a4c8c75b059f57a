"""Synthetic donors and orders for the benchmarks, bulk-inserted on top of the world file."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select

from support.db import make_session_factory, transaction, utcnow
from support.tickets.models import Donation, Donor, GiftItem, Order, Supplier
from support.tickets.world import load_world, read_world

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT.parent / "shared" / "data" / "world.json"
if not WORLD.exists():
    WORLD = ROOT / "support" / "demo" / "world.json"
BATCH = 10_000
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健", "陽子", "翔", "愛", "大輔", "由美"]
STATUSES = ("受付完了", "入金確認済", "発送準備中", "発送済", "配達完了", "配送遅延")


def load_base_world(engine: Engine) -> None:
    """Load the world file (municipalities, suppliers, gifts, the named donors)."""
    with transaction(make_session_factory(engine)) as session:
        load_world(session=session, world=read_world(WORLD))


def add_donors_and_orders(engine: Engine, *, donors: int, orders: int, seed: int = 7) -> None:
    """Insert `donors` donors and `orders` orders (one donation each) with distinct identifiers.

    Order and donation numbers use the real formats (ORD-YYYY-NNNNNN, DYY-NNNNNNN) so that the
    guards and the mail linker see the same shapes as in production; every donor has its own
    e-mail, phone, postal code and address.
    """
    with make_session_factory(engine)() as session:
        suppliers = session.execute(select(Supplier.id, Supplier.municipality_id)).all()
        gifts = {
            s: session.scalars(select(GiftItem.id).where(GiftItem.supplier_id == s)).all()
            for s, _ in suppliers
        }
    rng = random.Random(seed)
    now = utcnow()
    first = date(2025, 1, 1)
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
        for start in range(0, orders, BATCH):
            donations, rows = [], []
            for i in range(start, min(orders, start + BATCH)):
                supplier, city = suppliers[rng.randrange(len(suppliers))]
                donor = f"gd-{rng.randrange(donors):07d}"
                day = first + timedelta(days=rng.randrange(365))
                donation_no = f"D26-{i:07d}"
                donations.append(
                    {
                        "donation_no": donation_no,
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
                        "status": rng.choice(STATUSES),
                        "ordered_on": day,
                        "created_at": now,
                        "updated_at": now,
                        "_no": donation_no,
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
