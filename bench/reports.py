"""Benchmark: one municipality's monthly report with N tickets (default 10,000) in the month.

Inserts N tickets of one municipality (plus as many of the others, which must not count),
each with a reply and a closing event, then times building the report and rendering each
format. Prints seconds per step and the PDF's page count and size.

    python bench/reports.py                          # 10,000 tickets, SQLite
    python bench/reports.py --backend postgresql     # a throwaway PostgreSQL server
    python bench/reports.py --tickets 1000           # smaller run
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import add_donors_and_orders, load_base_world  # noqa: E402
from support.calendar import JST  # noqa: E402
from support.db import make_engine, make_session_factory  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.models import Order, Ticket, TicketEvent  # noqa: E402
from support.tickets.policy import default_policy_dir, load_policies  # noqa: E402
from support.tickets.report_pdf import render_pdf, resolve_font  # noqa: E402
from support.tickets.report_render import render_csv, render_html  # noqa: E402
from support.tickets.reports import ReportMonth, build_monthly_report  # noqa: E402

CATEGORIES = ["品質", "破損", "配送遅延", "誤配送", "不着", "利用券", "受領証明書", "その他"]


def _fill(url: str, tickets: int) -> None:
    engine = make_engine(url)
    load_base_world(engine)
    add_donors_and_orders(engine, donors=2000, orders=4000)
    rng = random.Random(5)
    start = datetime(2025, 12, 1, tzinfo=JST)
    with make_session_factory(engine)() as s:
        orders = s.execute(
            select(Order.id, Order.municipality_id, Order.supplier_id, Order.donor_id)
        ).all()
        own = [o for o in orders if o[1] == "ise"]
        other = [o for o in orders if o[1] != "ise"]
        rows = []
        for i in range(tickets * 2):
            oid, city, sup, donor = rng.choice(own if i % 2 == 0 else other)
            at = start + timedelta(minutes=rng.randrange(31 * 24 * 60))
            rows.append(
                {
                    "subject": f"注文の返礼品について問い合わせ {i}",
                    "category": rng.choice(CATEGORIES),
                    "priority": "normal",
                    "status": "closed" if i % 3 else "open",
                    "channel": "mail",
                    "municipality_id": city,
                    "donor_id": donor,
                    "order_id": oid,
                    "supplier_id": sup,
                    "created_at": at,
                    "updated_at": at,
                    "last_activity_at": at,
                    "thread_version": 0,
                }
            )
        s.execute(insert(Ticket), rows)
        s.commit()
        ids = s.execute(select(Ticket.id, Ticket.created_at, Ticket.status)).all()
        events = []
        for tid, at, status in ids:
            events.append(
                {
                    "ticket_id": tid,
                    "kind": "reply_sent",
                    "occurred_at": at + timedelta(hours=3),
                    "detail": {},
                }
            )
            if status == "closed":
                events.append(
                    {
                        "ticket_id": tid,
                        "kind": "status",
                        "occurred_at": at + timedelta(days=2),
                        "detail": {"to": "closed"},
                    }
                )
        s.execute(insert(TicketEvent), events)
        s.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.backend == "postgresql":
            from tests.services.postgres import PostgresServer

            server = stack.enter_context(PostgresServer())
            url = server.create_database("bench_reports")
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        _fill(url, args.tickets)
        engine = make_engine(url)
        policy = load_policies(default_policy_dir())["ise"]
        font = resolve_font()
        with make_session_factory(engine)() as s:
            t0 = time.perf_counter()
            report = build_monthly_report(session=s, policy=policy, month=ReportMonth(2025, 12))
            t1 = time.perf_counter()
        html = render_html(report)
        t2 = time.perf_counter()
        data = render_csv(report)
        t3 = time.perf_counter()
        pdf = render_pdf(report, font=font)
        t4 = time.perf_counter()
        engine.dispose()
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    print(f"backend={args.backend} tickets_in_report={report.total} font={font}")
    print(
        f"build {t1 - t0:.2f}s  html {t2 - t1:.2f}s ({len(html) // 1024} KiB)  "
        f"csv {t3 - t2:.2f}s ({len(data) // 1024} KiB)  pdf {t4 - t3:.2f}s "
        f"({len(pdf) // 1024} KiB, {pages} pages)"
    )


if __name__ == "__main__":
    main()
