"""Benchmark: IMAP fetching and mail ingest against a real Dovecot, on SQLite and PostgreSQL.

Starts a throwaway Dovecot (tests/services), appends N generated mails to its INBOX (default
2,000: the corpus of tests/mail/test_mailbox_e2e.py, mixed Japanese charsets, attachments,
replies and samples of the shared corpus), then measures per backend:

  raw     imapclient UID FETCH BODY.PEEK[] in batches of --batch-size, messages/s (median
          of three passes: the ceiling the IMAP side sets);
  ingest  `fetch_folder` with the real ImapMailFetcher into a fresh, migrated database,
          logging as the worker does (JSON, masked, INFO), messages/s;
  ratio   ingest / raw;
  rss     peak resident set size of this process so far (ru_maxrss).

Targets on the 2-core reference machine: ingest >= 400 msg/s on SQLite, >= 300 on PostgreSQL.

    python bench/ingest.py                       # 2,000 mails, both backends
    python bench/ingest.py --smoke               # 200 mails, for CI
    python bench/ingest.py --backends sqlite --profile   # where the time goes (cProfile)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from support.adapters.imap import ImapMailFetcher  # noqa: E402
from support.config import Settings  # noqa: E402
from support.db import make_engine, make_session_factory  # noqa: E402
from support.logs import configure_logging  # noqa: E402
from support.mail.fetch import FetchReport, fetch_folder  # noqa: E402
from support.mail.ingest import MailboxConfig  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from tests.mail.corpus import DESK, build_corpus  # noqa: E402
from tests.services.dovecot import DovecotServer  # noqa: E402

FOLDER = "INBOX"
USER = "bench"
TARGETS = {"sqlite": 400.0, "postgresql": 300.0}
RAW_PASSES = 3
PROFILE_LINES = 25


@dataclass(frozen=True)
class IngestRun:
    """What one ingest run into one backend measured."""

    seconds: float
    report: FetchReport

    @property
    def rate(self) -> float:
        """Return stored-or-deduplicated messages per second."""
        return self.report.fetched / self.seconds


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def raw_fetch_rate(server: DovecotServer, batch_size: int) -> float:
    """Return the median rate (messages/s) of plain BODY.PEEK[] fetches of the whole INBOX."""
    client = server.connect(USER)
    try:
        client.select_folder(FOLDER, readonly=True)
        uids = sorted(client.search("ALL"))
        rates = []
        for _ in range(RAW_PASSES):
            started = time.perf_counter()
            count = 0
            for chunk in _chunks(uids, batch_size):
                fetched = client.fetch(chunk, ["BODY.PEEK[]"])
                count += sum(1 for data in fetched.values() if b"BODY[]" in data)
            rates.append(count / (time.perf_counter() - started))
            if count != len(uids):
                raise RuntimeError(f"raw fetch returned {count} of {len(uids)} messages")
        return statistics.median(rates)
    finally:
        client.logout()


def ingest(server: DovecotServer, url: str, batch_size: int, profile: bool) -> IngestRun:
    """Migrate a fresh database and fetch the whole INBOX into it with `fetch_folder`."""
    upgrade(url)
    engine = make_engine(url)
    fetcher = ImapMailFetcher(server.host, server.port, USER, server.password(USER), ssl=False)
    profiler = cProfile.Profile() if profile else None

    def run() -> FetchReport:
        return fetch_folder(
            factory=make_session_factory(engine),
            fetcher=fetcher,
            account="bench",
            folder=FOLDER,
            config=MailboxConfig(our_addresses=frozenset({DESK})),
            delivered_to=[DESK],
            batch_size=batch_size,
        )

    try:
        started = time.perf_counter()
        report = profiler.runcall(run) if profiler is not None else run()
        seconds = time.perf_counter() - started
    finally:
        fetcher.close()
        engine.dispose()
    if profiler is not None:
        _print_profile(profiler)
    return IngestRun(seconds, report)


def _print_profile(profiler: cProfile.Profile) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(PROFILE_LINES)
        print(f"--- profile by {order} ---", file=sys.stderr)
        print(out.getvalue(), file=sys.stderr)


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def quiet_worker_logging(level: str) -> Iterator[None]:
    """Log as the worker does (masked JSON), but into /dev/null, not over the results."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        stream: TextIO = sink
        configure_logging(level, stream=stream)
        try:
            yield
        finally:
            logging.getLogger().handlers.clear()


def run_backend(
    name: str, url: str, server: DovecotServer, raw_rate: float, args: argparse.Namespace
) -> None:
    """Ingest into one backend and print its line."""
    with quiet_worker_logging(args.log_level):
        run = ingest(server, url, args.batch_size, args.profile)
    if run.report.stored != args.mails or run.report.failed:
        raise RuntimeError(f"{name}: expected {args.mails} stored, got {run.report}")
    target = TARGETS[name]
    verdict = "met" if run.rate >= target else "BELOW"
    print(
        f"{name:10} mails={run.report.fetched:>5} batch={args.batch_size:>3} "
        f"raw_fetch={raw_rate:8.1f} msg/s ingest={run.rate:7.1f} msg/s "
        f"({run.seconds:5.2f}s) ratio={run.rate / raw_rate:5.3f} "
        f"peak_rss={peak_rss_mib():6.1f} MiB target>={target:.0f} msg/s: {verdict}",
        flush=True,
    )


def main() -> None:
    """Parse arguments, load the mailbox, and run each backend."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mails", type=int, default=2_000)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=Settings.model_fields["mail_batch_size"].default,
        help="messages per fetch transaction, as SUPPORT_MAIL_BATCH_SIZE (default: its default)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--log-level", default="INFO", help="the worker's log level (INFO)")
    parser.add_argument("--profile", action="store_true", help="cProfile the ingest (stderr)")
    parser.add_argument("--smoke", action="store_true", help="200 mails")
    args = parser.parse_args()
    if args.smoke:
        args.mails = 200
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for name in backends:
        if name not in TARGETS:
            parser.error(f"unknown backend {name!r}")
    corpus = build_corpus(args.mails, redeliveries=0)
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="support-bench-") as tmp:
        server.add_user(USER)
        started = time.perf_counter()
        server.append(USER, FOLDER, corpus.mails)
        size = sum(len(raw) for raw in corpus.mails)
        print(
            f"loaded {len(corpus.mails)} mails ({size / 1024 / 1024:.1f} MiB, "
            f"{corpus.samples} corpus samples) in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        raw_rate = raw_fetch_rate(server, args.batch_size)
        for name in backends:
            if name == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'ingest.db'}"
                run_backend(name, url, server, raw_rate, args)
            else:
                from tests.services.postgres import PostgresServer

                with PostgresServer() as pg:
                    run_backend(name, pg.create_database("bench_ingest"), server, raw_rate, args)


if __name__ == "__main__":
    main()
