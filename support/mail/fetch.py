"""Fetching: move new mail from each folder of each account into the database, exactly once.

For every batch, the messages commit in one transaction; only then is the server told (flag
or move), and only after that does the folder's cursor (UIDVALIDITY, last UID) move past the
batch. A crash before the cursor moves refetches the batch: deduplication makes that harmless,
and the refetch marks what the crash left unmarked. So a crash at any point loses nothing,
stores nothing twice and leaves no mail unmarked below the cursor. A changed UIDVALIDITY
restarts the folder from the first UID: every message is fetched again and deduplicated
instead of being imported a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.adapters.ports import MailFetcher
from support.db import transaction
from support.jobs import enqueue_many
from support.mail.ingest import IngestOutcome, MailboxConfig, RawMail, ingest_batch
from support.mail.models import MailCursor

log = logging.getLogger(__name__)

SEND_ACK = "mail.send_ack"


@dataclass
class FetchReport:
    """What one pass over a folder did."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    resynced: bool = False
    outcomes: list[IngestOutcome] = field(default_factory=list, repr=False)


def _cursor(session: Session, account: str, folder: str, uidvalidity: int) -> MailCursor:
    cursor = session.scalar(
        select(MailCursor).where(MailCursor.account == account, MailCursor.folder == folder)
    )
    if cursor is None:
        cursor = MailCursor(
            account=account, folder=folder, uidvalidity=uidvalidity, last_uid=0, resyncs=0
        )
        session.add(cursor)
        session.flush()
    return cursor


def fetch_folder(
    *,
    factory: sessionmaker[Session],
    fetcher: MailFetcher,
    account: str,
    folder: str,
    config: MailboxConfig,
    delivered_to: Sequence[str] = (),
    batch_size: int = 100,
    max_batches: int | None = None,
) -> FetchReport:
    """Fetch everything new in one folder; return what happened."""
    report = FetchReport()
    state = fetcher.folder_state(folder)
    with transaction(factory) as session:
        cursor = _cursor(session, account, folder, state.uidvalidity)
        if cursor.uidvalidity != state.uidvalidity:
            log.warning(
                "UIDVALIDITY changed; resynchronising the folder with deduplication",
                extra={
                    "account": account,
                    "folder": folder,
                    "old": cursor.uidvalidity,
                    "new": state.uidvalidity,
                },
            )
            cursor.uidvalidity = state.uidvalidity
            cursor.last_uid = 0
            cursor.resyncs += 1
            report.resynced = True
        last_uid = cursor.last_uid
    batches = 0
    while max_batches is None or batches < max_batches:
        mails = fetcher.fetch_after(folder, last_uid, batch_size)
        if not mails:
            break
        batches += 1
        batch = [
            RawMail(
                raw=mail.raw,
                delivered_to=delivered_to,
                source={
                    "account": account,
                    "folder": folder,
                    "uid": mail.uid,
                    "uidvalidity": state.uidvalidity,
                },
            )
            for mail in mails
        ]
        with transaction(factory) as session:
            outcomes = ingest_batch(session=session, mails=batch, config=config)
            acks = [{"message_id": o.message_id} for o in outcomes if o.wants_ack]
            enqueue_many(session, SEND_ACK, acks)
        report.outcomes += outcomes
        report.duplicates += sum(o.duplicate for o in outcomes)
        report.stored += sum(not o.duplicate for o in outcomes)
        report.fetched += len(mails)
        # Only now, with the batch committed, may the server be changed.
        fetcher.mark_processed(folder, [m.uid for m in mails])
        # And only once it is marked may the cursor pass it: a crash between the commit and
        # the mark must refetch (and so mark) the batch, not skip it unmarked for good.
        with transaction(factory) as session:
            cursor = _cursor(session, account, folder, state.uidvalidity)
            cursor.last_uid = max(cursor.last_uid, mails[-1].uid)
        last_uid = mails[-1].uid
    log.info(
        "folder fetched",
        extra={
            "account": account,
            "folder": folder,
            "fetched": report.fetched,
            "stored": report.stored,
            "duplicates": report.duplicates,
        },
    )
    return report
