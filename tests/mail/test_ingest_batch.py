"""Batch ingest: a fetched batch is decided mail by mail, written together, and agrees with
ingesting the same mails one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from support.db import make_engine, make_session_factory
from support.mail import ingest_lookups
from support.mail.ingest import IngestOutcome, RawMail, ingest, ingest_batch
from support.mail.models import MailMessage
from support.migrations import upgrade
from support.tickets.models import Ticket
from tests.conftest import Database
from tests.factories import load_demo_world
from tests.mail.corpus import build_corpus
from tests.mail.test_ingest import CONFIG, _mail

ISE = "support-ise@furusato-desk.example.jp"
YOKOHAMA = "support-yokohama@furusato-desk.example.jp"


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _batch(raws: list[bytes], delivered_to: tuple[str, ...] = (ISE,)) -> list[RawMail]:
    return [RawMail(raw=r, delivered_to=delivered_to) for r in raws]


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestRepliesInTheSameBatch:
    def test_a_reply_fetched_with_its_original_joins_the_new_conversation(
        self, world: Database
    ) -> None:
        first = _mail("x@example.jp", "最初", "本文", message_id="<b-first@example.jp>")
        reply = _mail("x@example.jp", "Re: 最初", "追伸", in_reply_to="<b-first@example.jp>")
        with world.factory() as s:
            opened, joined = ingest_batch(session=s, mails=_batch([first, reply]), config=CONFIG)
            s.commit()
            assert opened.new_ticket and opened.wants_ack
            assert joined.ticket_id == opened.ticket_id
            assert not joined.new_ticket and not joined.wants_ack
            assert s.get_one(Ticket, opened.ticket_id).thread_version == 2

    def test_a_chain_of_replies_in_one_batch_is_one_conversation(self, world: Database) -> None:
        raws = [_mail("y@example.jp", "件名", "0", message_id="<chain-0@example.jp>")]
        for n in range(1, 5):
            raws.append(
                _mail(
                    "y@example.jp",
                    "Re: 件名",
                    str(n),
                    message_id=f"<chain-{n}@example.jp>",
                    in_reply_to=f"<chain-{n - 1}@example.jp>",
                )
            )
        with world.factory() as s:
            outcomes = ingest_batch(session=s, mails=_batch(raws), config=CONFIG)
            assert len({o.ticket_id for o in outcomes}) == 1
            assert [o.new_ticket for o in outcomes] == [True, False, False, False, False]

    def test_a_subject_tag_joins_only_for_a_sender_who_wrote_earlier_in_the_batch(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            opened = ingest(session=s, raw=_mail("z@example.jp", "相談", "本文"), config=CONFIG)
            s.commit()
            tag = f"[#{opened.ticket_id}]"
            stranger = _mail("someone-else@example.jp", f"Re: {tag} 相談", "割り込み")
            same = _mail("z@example.jp", f"{tag} 追加", "追記")
            intruder, follow_up = ingest_batch(
                session=s, mails=_batch([stranger, same]), config=CONFIG
            )
            assert intruder.new_ticket and intruder.ticket_id != opened.ticket_id
            assert follow_up.ticket_id == opened.ticket_id


class TestDuplicatesInTheSameBatch:
    def test_one_mail_delivered_to_two_addresses_in_one_batch_is_one_message_with_both(
        self, world: Database
    ) -> None:
        raw = _mail("d@example.jp", "二重", "同じ内容", to=f"{ISE}, {YOKOHAMA}")
        mails = [RawMail(raw=raw, delivered_to=(ISE,)), RawMail(raw=raw, delivered_to=(YOKOHAMA,))]
        with world.factory() as s:
            first, second = ingest_batch(session=s, mails=mails, config=CONFIG)
            s.commit()
            assert second.duplicate and second.message_id == first.message_id
            assert not second.wants_ack
            stored = s.get_one(MailMessage, first.message_id)
            assert sorted(stored.delivered_to) == [ISE, YOKOHAMA]
            assert _count(s, MailMessage) == 1


class TestRaceWithAnotherWorker:
    def test_a_mail_stored_by_another_worker_after_the_lookup_is_a_duplicate_not_a_loss(
        self, world: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        taken = _mail("r@example.jp", "競合", "同時に取り込まれた")
        fresh = _mail("r@example.jp", "別件", "新しい")
        with world.factory() as s:
            ingest(session=s, raw=taken, config=CONFIG)
            s.commit()
        real = ingest_lookups.BatchLookups._load_stored
        blind = {"left": 1}

        def not_yet_visible(self: ingest_lookups.BatchLookups, keys: list[str]) -> object:
            # The first lookup runs before the other worker's commit became visible.
            if blind["left"]:
                blind["left"] -= 1
                return {}
            return real(self, keys)

        monkeypatch.setattr(ingest_lookups.BatchLookups, "_load_stored", not_yet_visible)
        with world.factory() as s:
            again, new = ingest_batch(session=s, mails=_batch([taken, fresh]), config=CONFIG)
            s.commit()
            assert again.duplicate and not new.duplicate and new.new_ticket
            assert _count(s, MailMessage) == 2
            assert s.scalar(select(func.count()).where(MailMessage.parse_failed)) == 0


class TestFewStatementsPerBatch:
    def test_fifty_new_mails_cost_a_bounded_number_of_statements(self, world: Database) -> None:
        raws = [_mail(f"s{n}@example.jp", f"件名{n}", f"本文{n}") for n in range(50)]
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(world.engine, "before_cursor_execute", count)
        try:
            with world.factory() as s:
                outcomes = ingest_batch(session=s, mails=_batch(raws), config=CONFIG)
                s.commit()
        finally:
            event.remove(world.engine, "before_cursor_execute", count)
        assert len(outcomes) == 50 and all(o.new_ticket for o in outcomes)
        # One mail at a time took about ten statements per mail; a batch takes a handful of
        # lookups and one INSERT per table. SQLite has no way to return the ids of a multi-row
        # INSERT in order, so there the ORM inserts tickets, messages and events row by row.
        lookups = [s for s in statements if not s.startswith("INSERT")]
        inserts = len(statements) - len(lookups)
        assert len(lookups) < 12, lookups
        assert inserts < (10 if world.backend == "postgresql" else 10 + 3 * 50), inserts


def _fresh_sqlite(path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        load_demo_world(factory)
        yield factory
    finally:
        engine.dispose()


def _shape(
    factory: sessionmaker[Session], outcomes: list[IngestOutcome]
) -> list[tuple[object, ...]]:
    """Describe outcomes independent of ids: flags, and which earlier mail shares the ticket."""
    first_with: dict[int, int] = {}
    shape = []
    with factory() as s:
        for index, o in enumerate(outcomes):
            ticket = s.get_one(Ticket, o.ticket_id)
            shape.append(
                (
                    o.duplicate,
                    o.new_ticket,
                    o.wants_ack,
                    first_with.setdefault(o.ticket_id, index),
                    ticket.donor_id,
                    ticket.municipality_id,
                    ticket.order_id is not None,
                )
            )
    return shape


class TestBatchAgreesWithOneByOne:
    def test_the_same_corpus_gives_the_same_conversations_either_way(self, tmp_path: Path) -> None:
        corpus = build_corpus(300, seed=7, redeliveries=20)
        raws = list(corpus.deliveries)
        one_db, batch_db = _fresh_sqlite(tmp_path / "one.db"), _fresh_sqlite(tmp_path / "b.db")
        one, batched = next(one_db), next(batch_db)
        try:
            with one() as s:
                singles = [
                    ingest(session=s, raw=r, config=CONFIG, delivered_to=[ISE]) for r in raws
                ]
                s.commit()
            outcomes: list[IngestOutcome] = []
            with batched() as s:
                for start in range(0, len(raws), 64):
                    chunk = _batch(raws[start : start + 64])
                    outcomes += ingest_batch(session=s, mails=chunk, config=CONFIG)
                s.commit()
            assert _shape(batched, outcomes) == _shape(one, singles)
        finally:
            one_db.close()
            batch_db.close()
