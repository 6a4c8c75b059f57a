"""Every real-world and broken mail of the peer corpora is stored, and none breaks ingest."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from support.adapters.fakes import InMemoryMailFetcher
from support.mail.fetch import fetch_folder
from support.mail.ingest import MailboxConfig, dedupe_key
from support.mail.models import MailMessage, MailRaw
from support.mail.parsing import parse_message
from tests.conftest import SHARED, Database

PEER = SHARED / "peer"
FILES = sorted(p for p in PEER.rglob("*") if p.suffix in (".eml", ".box")) if PEER.exists() else []


@pytest.mark.skipif(not FILES, reason="peer corpora absent")
def test_every_peer_mail_is_stored_raw_through_the_fetch_loop(database: Database) -> None:
    box = InMemoryMailFetcher()
    for path in FILES:
        box.append("INBOX", path.read_bytes())
    report = fetch_folder(
        factory=database.factory,
        fetcher=box,
        account="peer",
        folder="INBOX",
        config=MailboxConfig(),
        batch_size=50,
    )
    assert report.fetched == len(FILES)
    expected = {dedupe_key(parse_message(p.read_bytes())) for p in FILES}
    with database.factory() as s:
        stored = set(s.scalars(select(MailMessage.dedupe_key)))
        raws = {bytes(r) for r in s.scalars(select(MailRaw.data))}
        failed = s.scalars(select(MailMessage.id).where(MailMessage.parse_failed)).all()
    # Files that are the same mail with other transport headers dedupe to one message.
    assert stored == expected
    assert len(raws) == len(expected)
    assert len(failed) <= 2, "almost every peer mail parses; only header-less junk may fail"
