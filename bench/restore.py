"""Benchmark and drill: back up, destroy, restore into a fresh database, compare every table.

Per backend it loads the world file, synthetic donors and orders, and N tickets (default
10,000), each with one inbound mail kept raw (every fifth with an attachment); then times
`create_backup`, drops the source, times `restore_backup` into a fresh empty database (which
includes the verification against the manifest) and compares every table's row count and
checksum with those read from the source before it was destroyed.

The figure is scaled to a stated production size (--prod-rows, --prod-bytes: by default
2,000,000 tickets over five years, about 11 million rows and 120 GB of database) twice: every
phase by the larger of the two ratios (an upper bound), and by phase: checking and loading the
archive by the bytes ratio, ANALYZE and the checksum verification (per-row Python work) by the
rows ratio. The second is compared with the 3-hour recovery time objective.

    python bench/restore.py                        # 10,000 tickets, SQLite and PostgreSQL
    python bench/restore.py --backends postgresql --jobs 2
    python bench/restore.py --smoke                # 300 tickets on SQLite, a few seconds
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import (  # noqa: E402
    add_donors_and_orders,
    add_tickets_and_mails,
    load_base_world,
)
from support.backup import create_backup, restore_backup  # noqa: E402
from support.backup_manifest import TableDigest, compare, database_digests  # noqa: E402
from support.db import make_engine  # noqa: E402
from support.metadata import target_metadata  # noqa: E402
from support.migrations import upgrade  # noqa: E402

RTO_SECONDS = 3 * 3600
PROD_ROWS = 11_000_000
PROD_BYTES = 120 * 10**9


@dataclass
class Drill:
    """What one drill measured on one backend."""

    backend: str
    rows: int
    tickets: int
    database_bytes: int
    archive_bytes: int
    load_seconds: float
    backup_seconds: float
    restore_seconds: float
    phases: dict[str, float]
    mismatches: list[str]


class _PhaseLog(logging.Handler):
    """Collect the phase timings that restore_backup logs (check, load, analyze, verify)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for key, value in vars(record).items():
            if key.endswith("_seconds"):
                self.seconds[key.removesuffix("_seconds")] = float(value)


def fill(url: str, tickets: int) -> None:
    """Migrate and fill a database with the world, donors, orders and `tickets` mail tickets."""
    upgrade(url)
    engine = make_engine(url)
    try:
        load_base_world(engine)
        add_donors_and_orders(engine, donors=max(200, tickets // 5), orders=max(400, tickets // 2))
        add_tickets_and_mails(engine, tickets=tickets)
    finally:
        engine.dispose()


def digests(url: str) -> dict[str, TableDigest]:
    """Read every table's count and checksum."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return database_digests(conn, target_metadata)
    finally:
        engine.dispose()


def database_bytes(url: str) -> int:
    """Return the size of the database on disk."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                pages = conn.execute(text("PRAGMA page_count")).scalar_one()
                size = conn.execute(text("PRAGMA page_size")).scalar_one()
                return int(pages) * int(size)
            # The tables' own size: an empty database's catalogs would dwarf a small drill.
            query = (
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def run_drill(backend: str, tickets: int, work: Path, stack: ExitStack, jobs: int) -> Drill:
    """Fill, back up, destroy, restore into a fresh database, and compare table by table."""
    if backend == "sqlite":
        source_url = f"sqlite:///{work / 'source.db'}"
        target_url = f"sqlite:///{work / 'restored.db'}"
        drop = None
    else:
        from tests.services.postgres import PostgresServer

        server = stack.enter_context(PostgresServer())
        source_url = server.create_database("drill_source")
        target_url = server.create_database("drill_restored")

        def drop() -> None:
            engine = make_engine(server.url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("DROP DATABASE drill_source WITH (FORCE)"))
            engine.dispose()

    started = time.perf_counter()
    fill(source_url, tickets)
    load_seconds = time.perf_counter() - started
    before = digests(source_url)
    size = database_bytes(source_url)
    archive = work / f"{backend}.backup"
    started = time.perf_counter()
    create_backup(url=source_url, metadata=target_metadata, out=archive)
    backup_seconds = time.perf_counter() - started
    if drop is None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / "source.db") + suffix).unlink(missing_ok=True)
    else:
        drop()
    phases = _PhaseLog()
    logging.getLogger("support.backup").addHandler(phases)
    logging.getLogger("support.backup").setLevel(logging.INFO)
    started = time.perf_counter()
    restore_backup(url=target_url, metadata=target_metadata, archive=archive, jobs=jobs)
    restore_seconds = time.perf_counter() - started
    logging.getLogger("support.backup").removeHandler(phases)
    after = digests(target_url)
    return Drill(
        backend=backend,
        rows=sum(d.rows for d in before.values()),
        tickets=tickets,
        database_bytes=size,
        archive_bytes=archive.stat().st_size,
        load_seconds=load_seconds,
        backup_seconds=backup_seconds,
        restore_seconds=restore_seconds,
        phases=phases.seconds,
        mismatches=compare(before, after),
    )


def report(drill: Drill, prod_rows: int, prod_bytes: int, *, scaled: bool = True) -> bool:
    """Print the drill's figures and the scaled estimate; return whether it passed."""
    rows_ratio, bytes_ratio = prod_rows / drill.rows, prod_bytes / drill.database_bytes
    scale = max(rows_ratio, bytes_ratio)
    estimate = drill.restore_seconds * scale
    # By phase: reading the archive and loading it grow with bytes; ANALYZE and the checksums
    # (Python, per row; the raw bytes hash in C) grow with rows.
    by_bytes = drill.phases.get("check", 0.0) + drill.phases.get("load", 0.0)
    by_rows = drill.phases.get("analyze", 0.0) + drill.phases.get("verify", 0.0)
    phased = by_bytes * bytes_ratio + by_rows * rows_ratio
    ok = not drill.mismatches
    print(
        f"{drill.backend:10} tickets={drill.tickets} rows={drill.rows} "
        f"db={drill.database_bytes / 1e6:.1f}MB archive={drill.archive_bytes / 1e6:.1f}MB "
        f"load={drill.load_seconds:.1f}s backup={drill.backup_seconds:.2f}s "
        f"restore+verify={drill.restore_seconds:.2f}s "
        f"({drill.rows / drill.restore_seconds:,.0f} rows/s, "
        f"{drill.database_bytes / 1e6 / drill.restore_seconds:.1f} MB/s)"
    )
    print(f"{'':10} restore phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in drill.phases.items()))
    verdict = f"{'':10} tables {'all match' if ok else 'DIFFER: ' + '; '.join(drill.mismatches)}"
    if not scaled:
        print(f"{verdict} (smoke run: too small to scale)")
        return ok
    print(
        f"{verdict}; scaled to {prod_rows:,} rows / {prod_bytes / 1e9:.0f} GB: "
        f"{estimate / 3600:.2f} h (every phase x{scale:,.0f}) or {phased / 3600:.2f} h (by phase), "
        f"against the {RTO_SECONDS // 3600} h RTO "
        f"({'within' if phased <= RTO_SECONDS else 'OVER'})"
    )
    return ok


def main() -> int:
    """Run the drill on each backend and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--backends", default=None, help="default: both (--smoke: sqlite)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel pg_restore jobs")
    parser.add_argument("--prod-rows", type=int, default=PROD_ROWS)
    parser.add_argument("--prod-bytes", type=int, default=PROD_BYTES)
    parser.add_argument("--smoke", action="store_true", help="300 tickets, SQLite only")
    args = parser.parse_args()
    tickets = 300 if args.smoke else args.tickets
    backends = args.backends or ("sqlite" if args.smoke else "sqlite,postgresql")
    ok = True
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="support-drill-") as tmp:
        for backend in backends.split(","):
            work = Path(tmp) / backend
            work.mkdir()
            drill = run_drill(backend, tickets, work, stack, args.jobs)
            ok = report(drill, args.prod_rows, args.prod_bytes, scaled=not args.smoke) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
