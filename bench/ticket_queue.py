"""Benchmark: the operator queue with 1,000,000 tickets in PostgreSQL.

The queue is `tickets.complaint.queue`: tickets of one municipality that are not closed (or of
one status), soonest SLA due first, 50 a page. The tickets are generated in the database with
generate_series (about a third open, spread over the four municipalities of the world file
and every status, SLA dues spread over the next two weeks), then the query is timed through
the service function, as the API runs it, for random municipalities, statuses and pages 1-5.
It prints p50/p95/max latency and the plan of one query; `--without-index` also times it with
the queue indexes of migration 0004 dropped, to show what they buy.

    python bench/ticket_queue.py                     # 1,000,000 tickets (target: p95 <= 20 ms)
    python bench/ticket_queue.py --smoke             # 20,000 tickets, a few seconds
    python bench/ticket_queue.py --without-index     # the same, then again without the indexes
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from sqlalchemy import text  # noqa: E402

from bench.synthetic import load_base_world  # noqa: E402
from support.auth.actor import Actor  # noqa: E402
from support.auth.models import RoleName  # noqa: E402
from support.db import make_engine, make_session_factory  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.complaint import queue  # noqa: E402
from tests.services.postgres import PostgresServer  # noqa: E402

CITIES = ["ise", "yokohama", "chiyoda", "shizuoka"]
OPEN_STATUSES = ["open", "in_progress", "awaiting_approval", "replied"]
STAFF = Actor(user_id=None, username="bench", role=RoleName.OPERATOR)

# Every third ticket is still open; the rest are closed (as in a help desk's history).
FILL = """
INSERT INTO tickets (
    subject, category, priority, status, channel, municipality_id, created_at, updated_at,
    last_activity_at, thread_version, sla_state, sla_alerts, liability_covers,
    first_response_due_at, resolution_due_at, sla_due_at, resolved_at
)
SELECT
    '返礼品についてのお問い合わせ ' || g,
    (ARRAY['品質','破損','配送遅延','誤配送','不着','利用券','受領証明書','その他'])[1 + g % 8],
    'normal',
    CASE WHEN g % 3 = 0
         THEN (ARRAY['open','in_progress','awaiting_approval','replied'])[1 + (g / 3) % 4]
         ELSE 'closed' END,
    'mail',
    (ARRAY['ise','yokohama','chiyoda','shizuoka'])[1 + (g / 12) % 4],
    now() - (g % 400) * interval '1 day',
    now() - (g % 400) * interval '1 day',
    now() - (g % 400) * interval '1 day',
    1, 'ok', '[]', '[]',
    now() + ((g::bigint * 7919) % 20160) * interval '1 minute',
    now() + ((g::bigint * 7919) % 20160 + 2880) * interval '1 minute',
    CASE WHEN g % 3 = 0 THEN now() + ((g::bigint * 7919) % 20160) * interval '1 minute' END,
    CASE WHEN g % 3 = 0 THEN NULL ELSE now() END
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g
"""


def _fill(url: str, tickets: int) -> float:
    engine = make_engine(url)
    load_base_world(engine)
    t0 = time.perf_counter()
    step = 200_000
    with engine.begin() as conn:
        for start in range(1, tickets + 1, step):
            conn.execute(text(FILL), {"start": start, "stop": min(tickets, start + step - 1)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE tickets"))
    engine.dispose()
    return time.perf_counter() - t0


def _measure(url: str, runs: int, seed: int = 11) -> list[float]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(seed)
    timings: list[float] = []
    with factory() as session:
        for i in range(runs + 20):
            city = rng.choice(CITIES)
            status = rng.choice([None, None, *OPEN_STATUSES])
            page = rng.randint(1, 5)
            t0 = time.perf_counter()
            found = queue(
                session=session, actor=STAFF, municipality_id=city, status=status, page=page
            )
            elapsed = time.perf_counter() - t0
            assert len(found.items) == 50, (city, status, page, len(found.items))
            dues = [t.sla_due_at for t in found.items]
            assert dues == sorted(dues)
            session.expunge_all()
            if i >= 20:  # warm-up: the first queries load the index pages
                timings.append(elapsed * 1000)
    engine.dispose()
    return timings


def _plan(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM tickets WHERE merged_into_id IS NULL "
                "AND status <> 'closed' AND municipality_id = 'ise' "
                "ORDER BY sla_due_at ASC NULLS LAST, id LIMIT 51 OFFSET 100"
            )
        ).all()
    engine.dispose()
    return "\n".join("    " + r[0] for r in rows)


def _report(label: str, timings: list[float]) -> float:
    timings = sorted(timings)
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{label}: {len(timings)} queries  p50 {p50:.2f} ms  p95 {p95:.2f} ms  "
        f"max {timings[-1]:.2f} ms"
    )
    return p95


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--smoke", action="store_true", help="20,000 tickets, 100 queries")
    parser.add_argument("--without-index", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.tickets, args.runs = 20_000, 100
    with PostgresServer() as server:
        url = server.create_database("bench_queue")
        upgrade(url)
        seconds = _fill(url, args.tickets)
        print(f"backend=postgresql tickets={args.tickets} filled in {seconds:.1f}s")
        p95 = _report("queue (50 per page, sorted by SLA due)", _measure(url, args.runs))
        print("plan of one query (all open tickets of 伊勢市, page 3):")
        print(_plan(url))
        if args.without_index:
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_tickets_queue"))
                conn.execute(text("DROP INDEX ix_tickets_open_queue"))
            engine.dispose()
            _report("without the queue indexes", _measure(url, min(args.runs, 100)))
    target = 20.0
    print(f"target p95 <= {target:.0f} ms: {'met' if p95 <= target else 'NOT met'}")


if __name__ == "__main__":
    main()
