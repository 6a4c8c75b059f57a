"""Keep fetching: one thread per account and folder, IDLE where the server has it."""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from support.adapters.ports import MailFetcher
from support.config import MailAccount, Settings
from support.db import make_engine, make_session_factory
from support.mail.config import mailbox_config
from support.mail.fetch import fetch_folder
from support.mail.ingest import MailboxConfig

# Every mapped table: tickets refer to users, and `support mail fetch` imports nothing of
# auth by itself, so without this the first flush fails with NoReferencedTableError.
from support.metadata import target_metadata as _every_table  # noqa: F401

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
MAX_BACKOFF = 300.0


@dataclass
class FolderPoller:
    """Fetches one folder of one account until stopped."""

    factory: sessionmaker[Session]
    fetcher: MailFetcher
    account: MailAccount
    folder: str
    config: MailboxConfig
    batch_size: int = 100
    stop: threading.Event = field(default_factory=threading.Event)

    def run_once(self) -> int:
        """Fetch what is new now; return how many messages were fetched."""
        report = fetch_folder(
            factory=self.factory,
            fetcher=self.fetcher,
            account=self.account.name,
            folder=self.folder,
            config=self.config,
            delivered_to=[self.account.address] if self.account.address else [],
            batch_size=self.batch_size,
        )
        return report.fetched

    def run(self) -> None:
        """Fetch, wait for news (IDLE or poll), repeat; back off on errors."""
        failures = 0
        while not self.stop.is_set():
            try:
                self.run_once()
                failures = 0
                self.fetcher.wait_for_new(self.folder, IDLE_SECONDS)
            except Exception:  # noqa: BLE001 - the loop must survive any outage
                failures += 1
                delay = min(MAX_BACKOFF, 2.0**failures) * (0.5 + random.random() / 2)  # noqa: S311
                log.warning(
                    "mail fetch failed; retrying",
                    exc_info=True,
                    extra={
                        "account": self.account.name,
                        "folder": self.folder,
                        "retry_in_s": round(delay, 1),
                    },
                )
                self.stop.wait(delay)
        self.fetcher.close()


def build_pollers(
    settings: Settings, make_fetcher: Callable[[MailAccount], MailFetcher]
) -> list[FolderPoller]:
    """Return one poller per configured account and folder, each with its own connection."""
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    config = mailbox_config(settings)
    return [
        FolderPoller(
            factory=factory,
            fetcher=make_fetcher(account),
            account=account,
            folder=folder,
            config=config,
            batch_size=settings.mail_batch_size,
        )
        for account in settings.mail_accounts
        for folder in account.folders
    ]


def start_pollers(pollers: list[FolderPoller]) -> list[threading.Thread]:
    """Start each poller in a daemon thread."""
    threads = [
        threading.Thread(target=p.run, name=f"mail:{p.account.name}:{p.folder}", daemon=True)
        for p in pollers
    ]
    for thread in threads:
        thread.start()
    return threads


def run_pollers(pollers: list[FolderPoller]) -> None:
    """Run the pollers until SIGTERM or SIGINT."""
    stop = threading.Event()
    for poller in pollers:
        poller.stop = stop

    def request_stop(*_: object) -> None:
        stop.set()
        # A poller waiting in IDLE sees `stop` only when the wait ends, up to IDLE_SECONDS
        # later: wake it now (interrupt() is the one call that is safe from another thread).
        for poller in pollers:
            interrupt = getattr(poller.fetcher, "interrupt", None)
            if callable(interrupt):
                interrupt()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threads = start_pollers(pollers)
    stop.wait()
    for thread in threads:
        thread.join(timeout=IDLE_SECONDS + 5)
