"""Benchmark: the console's queue page with 100,000 open tickets on SQLite.

Inserts N tickets that are not closed (open, in progress, awaiting approval) over the four
demo municipalities, five channels and ten categories, with SLA dues stored as the intake
stores them, tags on one in ten; then renders the queue page in-process (the ASGI app, no
network) with the filters operators use and prints the server time per request (the
duration the access log records: routing, queries, template) as p50/p95/max.

    python bench/console.py              # 100,000 tickets
    python bench/console.py --smoke      # 1,000 tickets, one request each (for scripts/test)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from bench.synthetic import load_base_world  # noqa: E402
from support.adapters.fakes import InMemorySearchIndex  # noqa: E402
from support.app import Adapters, create_app  # noqa: E402
from support.auth import service as auth_service  # noqa: E402
from support.auth.models import RoleName  # noqa: E402
from support.config import Settings  # noqa: E402
from support.db import make_engine, make_session_factory, utcnow  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.models import Ticket, TicketTag  # noqa: E402
from support.tickets.sla import DEFAULT_TARGETS  # noqa: E402
from support.tickets.sla_track import business_calendar  # noqa: E402

CITIES = ["ise", "yokohama", "shizuoka", "chiyoda"]
CHANNELS = ["mail", "phone", "ivr", "web", "operator"]
STATUSES = ["open", "open", "in_progress", "awaiting_approval"]
TAGS = ["至急", "再送", "食品衛生", "要確認", "住所不明"]
PASSWORD = "bench-console-password"
QUERIES = [
    "/console/inbox",
    "/console/inbox?status=open",
    "/console/inbox?sla=breached",
    "/console/inbox?sla=warning",
    "/console/inbox?municipality=ise&channel=mail",
    "/console/inbox?assignee=none&tag=至急",
    "/console/inbox?page=500",
]


class _Durations(logging.Handler):
    """Collect the server-side duration the access log records for each request."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            self.values.append(float(duration))


def fill(url: str, tickets: int) -> None:
    """Insert the world and N tickets that are not closed, with stored SLA dues."""
    engine = make_engine(url)
    load_base_world(engine)
    rng = random.Random(8)
    calendar = business_calendar()
    now = utcnow()
    categories = list(DEFAULT_TARGETS)
    with make_session_factory(engine)() as s:
        rows = []
        for i in range(tickets):
            created = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
            category = rng.choice(categories)
            target = DEFAULT_TARGETS[category]
            first_due = calendar.add_business_time(created, target.first_response)
            rows.append(
                {
                    "subject": f"返礼品についての問い合わせ {i}",
                    "category": category,
                    "status": rng.choice(STATUSES),
                    "channel": rng.choice(CHANNELS),
                    "municipality_id": rng.choice(CITIES),
                    "created_at": created,
                    "updated_at": created,
                    "last_activity_at": created + timedelta(minutes=rng.randrange(600)),
                    "thread_version": 1,
                    "first_response_due_at": first_due,
                    "resolution_due_at": calendar.add_business_time(created, target.resolution),
                    "sla_due_at": first_due,
                    "sla_state": "ok",
                    "sla_alerts": [],
                }
            )
            if len(rows) == 5000:
                s.execute(insert(Ticket), rows)
                rows = []
        if rows:
            s.execute(insert(Ticket), rows)
        tags = [
            {"ticket_id": tid, "tag": rng.choice(TAGS)}
            for tid in range(1, tickets + 1)
            if tid % 10 == 0
        ]
        for start in range(0, len(tags), 5000):
            s.execute(insert(TicketTag), tags[start : start + 5000])
        auth_service.create_user(
            session=s, username="bench-op", password=PASSWORD, role=RoleName.OPERATOR
        )
        s.commit()
    engine.dispose()


def _login(client: TestClient) -> None:
    form = client.get("/console/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token
    done = client.post(
        "/console/login",
        data={"login_csrf": token.group(1), "username": "bench-op", "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def main() -> None:
    """Fill a database, then time the queue page per filter."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=15, help="requests per filter")
    parser.add_argument("--smoke", action="store_true", help="1,000 tickets, 1 request each")
    args = parser.parse_args()
    if args.smoke:
        args.tickets, args.requests = 1_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        started = time.perf_counter()
        fill(url, args.tickets)
        print(f"filled {args.tickets:,} open tickets in {time.perf_counter() - started:.1f} s")
        settings = Settings(database_url=url, data_dir=Path(tmp), cookie_secure=False)
        app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        durations = _Durations()
        access = logging.getLogger("support.access")
        access.addHandler(durations)
        access.setLevel(logging.INFO)
        report: dict[str, dict[str, float]] = {}
        with TestClient(app) as client:
            _login(client)
            for query in QUERIES:
                durations.values.clear()
                page = client.get(query)
                assert page.status_code == 200, (query, page.status_code)
                cold = durations.values[-1]
                durations.values.clear()
                for _ in range(args.requests):
                    assert client.get(query).status_code == 200
                values = sorted(durations.values)
                report[query] = {
                    "cold_ms": round(cold, 1),
                    "p50_ms": round(statistics.median(values), 1),
                    "p95_ms": round(values[max(0, math.ceil(len(values) * 0.95) - 1)], 1),
                    "max_ms": round(values[-1], 1),
                }
                print(
                    f"{query:46s} cold {cold:7.1f} ms  p50 {report[query]['p50_ms']:7.1f} ms  "
                    f"p95 {report[query]['p95_ms']:7.1f} ms  max {report[query]['max_ms']:7.1f} ms"
                )
        worst = max(r["p95_ms"] for r in report.values())
        verdict = "OK" if worst < 300 else "OVER"
        load = round(os.getloadavg()[0], 1)
        print(
            json.dumps(
                {"tickets": args.tickets, "worst_p95_ms": worst, "target_ms": 300, "load": load}
            )
        )
        print(f"worst p95 {worst:.1f} ms against the 300 ms target: {verdict}")
        if not args.smoke and worst >= 300:
            sys.exit(1)


if __name__ == "__main__":
    main()
