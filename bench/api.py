"""Benchmark: authenticated order lookups against the real server, on SQLite and PostgreSQL.

Generates N orders (default 100,000) plus donors to go with them, starts `support serve` on a
free loopback port, and fires GET /api/orders/{id} with a bearer token from concurrent
clients. Prints requests/second and p50/p99 latency per backend.

    python bench/api.py                      # 100k orders, both backends
    python bench/api.py --smoke              # small run for CI
    python bench/api.py --backends sqlite --orders 20000 --requests 5000
"""

from __future__ import annotations

import argparse  # noqa: E402
import asyncio  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys
import time  # noqa: E402
from pathlib import Path

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.server import each_backend, serving  # noqa: E402
from bench.synthetic import add_donors_and_orders, load_base_world  # noqa: E402
from support.auth import service as auth_service  # noqa: E402
from support.auth.models import RoleName  # noqa: E402
from support.db import make_engine, make_session_factory, transaction  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.models import Order  # noqa: E402

PASSWORD = "bench-password-0123"


def populate(url: str, orders: int, seed: int = 7) -> list[int]:
    """Migrate, load the world, a bench user, generated donors and orders; return order ids."""
    upgrade(url)
    engine = make_engine(url)
    load_base_world(engine)
    with transaction(make_session_factory(engine)) as session:
        auth_service.create_user(
            session=session, username="bench", password=PASSWORD, role=RoleName.OPERATOR
        )
    add_donors_and_orders(engine, donors=max(100, orders // 10), orders=orders, seed=seed)
    with engine.connect() as conn:
        order_ids = list(conn.scalars(select(Order.id)))
    engine.dispose()
    return order_ids


async def hammer(
    base: str, token: str, ids: list[int], requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """Send `requests` lookups from `concurrency` clients; return elapsed time and latencies."""
    latencies: list[float] = []
    rng = random.Random(11)
    targets = [rng.choice(ids) for _ in range(requests)]
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        # Warm up connections and caches; not measured.
        for order_id in targets[: min(50, len(targets))]:
            (await http.get(f"/api/orders/{order_id}")).raise_for_status()
        queue = iter(targets)

        async def client() -> None:
            for order_id in queue:
                started = time.perf_counter()
                response = await http.get(f"/api/orders/{order_id}")
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def run_backend(name: str, url: str, data_dir: Path, args: argparse.Namespace) -> None:
    """Populate one backend, serve it, measure, print one line."""
    started = time.perf_counter()
    ids = populate(url, args.orders)
    load_seconds = time.perf_counter() - started
    with serving(url, data_dir, name) as base:
        token = httpx.post(
            f"{base}/api/auth/token", timeout=30, json={"username": "bench", "password": PASSWORD}
        ).json()["access_token"]
        elapsed, lat = asyncio.run(hammer(base, token, ids, args.requests, args.concurrency))
        lat.sort()
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(
            f"{name:10} orders={len(ids):>7} load={load_seconds:6.1f}s "
            f"requests={len(lat):>6} concurrency={args.concurrency:>2} "
            f"rps={len(lat) / elapsed:8.1f} p50={p50:7.2f}ms p99={p99:7.2f}ms",
            flush=True,
        )


def main() -> None:
    """Parse arguments and run each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--smoke", action="store_true", help="2,000 orders, 300 requests")
    args = parser.parse_args()
    if args.smoke:
        args.orders, args.requests = 2_000, 300
    each_backend(
        args.backends,
        "support-bench-",
        lambda name, url, data_dir: run_backend(name, url, data_dir, args),
    )


if __name__ == "__main__":
    main()
