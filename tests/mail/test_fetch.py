"""Fetching from a mail account: exactly once, cursor per folder, safe UIDVALIDITY resync."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from support.adapters.fakes import InMemoryMailFetcher
from support.jobs import Job
from support.mail import ingest_filters as filters
from support.mail.fetch import SEND_ACK, fetch_folder
from support.mail.ingest import MailboxConfig
from support.mail.models import MailCursor, MailMessage
from tests.conftest import Database

CONFIG = MailboxConfig(
    our_addresses=frozenset({"support-ise@furusato-desk.example.jp"}),
    municipality_by_address={"support-ise@furusato-desk.example.jp": "ise"},
)


def _raw(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"donor{n}@example.jp"
    msg["To"] = "support-ise@furusato-desk.example.jp"
    msg["Subject"] = f"問い合わせ {n}"
    msg["Message-ID"] = f"<m{n}@example.jp>"
    msg.set_content(f"本文 {n} です。")
    return msg.as_bytes()


def _messages(db: Database) -> int:
    with db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(MailMessage)) or 0)


class TestFetchFolder:
    def test_fetches_everything_once_and_marks_it_after_commit(self, database: Database) -> None:
        box = InMemoryMailFetcher()
        for n in range(25):
            box.append("INBOX", _raw(n))
        report = fetch_folder(
            factory=database.factory,
            fetcher=box,
            account="main",
            folder="INBOX",
            config=CONFIG,
            batch_size=10,
        )
        assert (report.fetched, report.stored, report.duplicates) == (25, 25, 0)
        assert box.processed["INBOX"] == set(range(1, 26))
        again = fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        assert again.fetched == 0 and _messages(database) == 25
        with database.factory() as s:
            cursor = s.scalar(select(MailCursor))
            assert cursor is not None and cursor.last_uid == 25
            assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == SEND_ACK)) == 25

    def test_new_mail_after_a_pass_is_picked_up(self, database: Database) -> None:
        box = InMemoryMailFetcher()
        box.append("INBOX", _raw(1))
        fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        box.append("INBOX", _raw(2))
        report = fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        assert report.fetched == 1 and _messages(database) == 2

    def test_uidvalidity_change_resyncs_without_duplicates(self, database: Database) -> None:
        box = InMemoryMailFetcher()
        for n in range(12):
            box.append("INBOX", _raw(n))
        fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        box.recreate("INBOX")
        box.append("INBOX", _raw(99))
        report = fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        assert report.resynced and report.duplicates == 12 and report.stored == 1
        assert _messages(database) == 13

    def test_crash_between_commit_and_flag_loses_and_duplicates_nothing(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        box = InMemoryMailFetcher()
        for n in range(5):
            box.append("INBOX", _raw(n))

        def crash(_folder: str, _uids: object) -> None:
            raise ConnectionError("dropped before flagging")

        monkeypatch.setattr(box, "mark_processed", crash)
        with pytest.raises(ConnectionError):
            fetch_folder(
                factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
            )
        monkeypatch.undo()
        fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        assert _messages(database) == 5
        # The refetch found the batch already stored and flagged it: nothing left unmarked.
        assert box.processed["INBOX"] == set(range(1, 6))

    def test_crash_before_commit_refetches_the_batch(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        box = InMemoryMailFetcher()
        for n in range(6):
            box.append("INBOX", _raw(n))
        calls = {"n": 0}

        def crash_at_the_sixth(_lookups: object, _item: object, _config: object) -> None:
            calls["n"] += 1
            if calls["n"] == 6:
                raise KeyboardInterrupt  # a crash, not an error the loop may absorb

        monkeypatch.setattr(filters, "FILTERS", (*filters.FILTERS, crash_at_the_sixth))
        with pytest.raises(KeyboardInterrupt):
            fetch_folder(
                factory=database.factory,
                fetcher=box,
                account="main",
                folder="INBOX",
                config=CONFIG,
                batch_size=4,
            )
        assert _messages(database) == 4  # the first batch committed, the second rolled back
        fetch_folder(
            factory=database.factory,
            fetcher=box,
            account="main",
            folder="INBOX",
            config=CONFIG,
            batch_size=4,
        )
        assert _messages(database) == 6

    def test_a_mail_that_breaks_ingest_is_kept_raw_and_the_rest_continue(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        box = InMemoryMailFetcher()
        for n in range(3):
            box.append("INBOX", _raw(n))

        def broken(_lookups: object, item: filters.Inbound, _config: object) -> None:
            if b"m1@" in item.raw:
                raise ValueError("bug in a filter")

        monkeypatch.setattr(filters, "FILTERS", (*filters.FILTERS, broken))
        report = fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        assert report.stored == 3
        with database.factory() as s:
            failed = s.scalars(select(MailMessage).where(MailMessage.parse_failed)).all()
            assert len(failed) == 1 and "ValueError" in failed[0].problems[0]


class TestFetchThenAcknowledge:
    def test_the_worker_acknowledges_each_new_ticket_once(self, database: Database) -> None:
        from support.adapters.fakes import InMemoryMailSender
        from support.config import Settings
        from support.worker import build_runner

        box = InMemoryMailFetcher()
        for n in range(3):
            box.append("INBOX", _raw(n))
        box.append("INBOX", _raw(0).replace(b"<m0@", b"<m0-again@"))  # same sender, same hour
        fetch_folder(
            factory=database.factory, fetcher=box, account="main", folder="INBOX", config=CONFIG
        )
        sender = InMemoryMailSender()
        settings = Settings(
            mail_addresses={"support-ise@furusato-desk.example.jp": "ise"},
            mail_from="support-ise@furusato-desk.example.jp",
        )
        runner = build_runner(database.factory, settings, sender)
        assert runner.run_until_idle() == 4
        assert sorted(m.recipients[0] for m in sender.sent) == [
            "donor0@example.jp",
            "donor1@example.jp",
            "donor2@example.jp",
        ]
