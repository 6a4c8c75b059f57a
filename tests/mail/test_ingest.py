"""Ingest: every inbound mail stored once, threaded, linked to its donor's orders only."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.mail.ingest import MailboxConfig, ingest
from support.mail.models import MailAttachment, MailMessage, MailRaw
from support.tickets.models import Order, Ticket, TicketEvent, TicketOrder
from support.tickets.status import TicketStatus
from tests.conftest import SHARED, Database
from tests.factories import load_demo_world

INBOUND = SHARED / "data" / "inbound"
CONFIG = MailboxConfig(
    our_addresses=frozenset(
        f"support-{m}@furusato-desk.example.jp" for m in ("ise", "yokohama", "chiyoda", "shizuoka")
    ),
    municipality_by_address={
        f"support-{m}@furusato-desk.example.jp": m
        for m in ("ise", "yokohama", "chiyoda", "shizuoka")
    },
)


def _mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = "support-ise@furusato-desk.example.jp",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.jp")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _order(session: Session, donor_id: str) -> Order:
    order = session.scalar(select(Order).where(Order.donor_id == donor_id).limit(1))
    assert order is not None
    return order


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


needs_inbound = pytest.mark.skipif(not INBOUND.exists(), reason="shared inbound corpus absent")


@needs_inbound
class TestSharedInboundCorpus:
    def test_every_file_is_stored_with_its_expected_sender_and_subject(
        self, world: Database
    ) -> None:
        expected = [json.loads(line) for line in (INBOUND / "expected.jsonl").open()]
        with world.factory() as s:
            for case in expected:
                raw = (INBOUND / case["file"]).read_bytes()
                outcome = ingest(session=s, raw=raw, config=CONFIG)
                assert not outcome.duplicate, case["file"]
                stored = s.get_one(MailMessage, outcome.message_id)
                assert stored.from_addr == case["from"], case["file"]
                assert stored.subject == case["subject"], case["file"]
                assert stored.is_auto == case["is_auto"], case["file"]
                for snippet in case["body_contains"]:
                    assert snippet in stored.text, (case["file"], snippet)
                names = s.scalars(
                    select(MailAttachment.filename).where(
                        MailAttachment.message_id == stored.id, MailAttachment.inline.is_(False)
                    )
                ).all()
                assert sorted(names) == sorted(case["attachments"]), case["file"]
                assert s.get_one(MailRaw, stored.id).data == raw
            s.commit()
            # 22 reuses 05's Message-ID with other content: both are kept.
            assert _count(s, MailMessage) == len(expected)

    def test_known_donor_is_identified_and_the_city_comes_from_the_address(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            outcome = ingest(
                session=s, raw=(INBOUND / "01_iso2022jp.eml").read_bytes(), config=CONFIG
            )
            ticket = s.get_one(Ticket, outcome.ticket_id)
            assert ticket.donor_id == "don-007"
            assert ticket.municipality_id is not None
            assert ticket.channel == "mail" and ticket.status == TicketStatus.OPEN
            assert outcome.new_ticket and outcome.wants_ack


class TestDeduplication:
    def test_the_same_mail_twice_is_stored_once(self, world: Database) -> None:
        raw = _mail("taro.yamada@example.ne.jp", "問い合わせ", "届きません")
        with world.factory() as s:
            first = ingest(session=s, raw=raw, config=CONFIG)
            second = ingest(session=s, raw=raw, config=CONFIG)
            assert second.duplicate and second.message_id == first.message_id
            assert _count(s, MailMessage) == 1 and _count(s, Ticket) == 1

    def test_a_mail_delivered_to_two_of_our_addresses_is_one_message_with_both(
        self, world: Database
    ) -> None:
        raw = _mail(
            "taro.yamada@example.ne.jp",
            "問い合わせ",
            "届きません",
            to="support-ise@furusato-desk.example.jp, support-yokohama@furusato-desk.example.jp",
        )
        # Transport headers differ per delivery; the content does not.
        copy_a = b"Delivered-To: support-ise@furusato-desk.example.jp\r\n" + raw
        copy_b = b"Delivered-To: support-yokohama@furusato-desk.example.jp\r\n" + raw
        with world.factory() as s:
            ingest(
                session=s,
                raw=copy_a,
                config=CONFIG,
                delivered_to=["support-ise@furusato-desk.example.jp"],
            )
            dup = ingest(
                session=s,
                raw=copy_b,
                config=CONFIG,
                delivered_to=["support-yokohama@furusato-desk.example.jp"],
            )
            assert dup.duplicate
            stored = s.get_one(MailMessage, dup.message_id)
            assert sorted(stored.delivered_to) == [
                "support-ise@furusato-desk.example.jp",
                "support-yokohama@furusato-desk.example.jp",
            ]

    def test_a_mail_without_message_id_still_dedupes(self, world: Database) -> None:
        raw = (
            b"From: a@example.jp\r\nTo: support-ise@furusato-desk.example.jp\r\n"
            b"Subject: test\r\n\r\nbody\r\n"
        )
        with world.factory() as s:
            assert not ingest(session=s, raw=raw, config=CONFIG).duplicate
            assert ingest(session=s, raw=raw, config=CONFIG).duplicate

    def test_reused_message_id_with_other_content_is_kept(self, world: Database) -> None:
        with world.factory() as s:
            a = ingest(
                session=s,
                raw=_mail("a@example.jp", "件名A", "本文A", message_id="<same@example.jp>"),
                config=CONFIG,
            )
            b = ingest(
                session=s,
                raw=_mail("b@example.jp", "件名B", "本文B", message_id="<same@example.jp>"),
                config=CONFIG,
            )
            assert not b.duplicate and a.message_id != b.message_id


class TestThreading:
    def test_reply_with_in_reply_to_joins_the_ticket(self, world: Database) -> None:
        with world.factory() as s:
            first = ingest(
                session=s,
                raw=_mail("x@example.jp", "最初", "本文", message_id="<first@example.jp>"),
                config=CONFIG,
            )
            reply = ingest(
                session=s,
                raw=_mail("x@example.jp", "Re: 最初", "追伸", in_reply_to="<first@example.jp>"),
                config=CONFIG,
            )
            assert reply.ticket_id == first.ticket_id and not reply.new_ticket
            assert not reply.wants_ack

    def test_subject_tag_from_the_same_donor_joins_the_ticket(self, world: Database) -> None:
        with world.factory() as s:
            first = ingest(
                session=s, raw=_mail("taro.yamada@example.ne.jp", "質問", "本文"), config=CONFIG
            )
            tagged = ingest(
                session=s,
                raw=_mail("taro.yamada@example.ne.jp", f"追加 [#{first.ticket_id}]", "追記"),
                config=CONFIG,
            )
            assert tagged.ticket_id == first.ticket_id

    def test_subject_tag_from_another_donor_opens_a_new_ticket(self, world: Database) -> None:
        with world.factory() as s:
            first = ingest(
                session=s, raw=_mail("taro.yamada@example.ne.jp", "質問", "本文"), config=CONFIG
            )
            other = ingest(
                session=s,
                raw=_mail("taro.yamada1@example.ne.jp", f"Re: [#{first.ticket_id}]", "別人"),
                config=CONFIG,
            )
            assert other.ticket_id != first.ticket_id and other.new_ticket

    def test_new_mail_reopens_an_answered_ticket(self, world: Database) -> None:
        with world.factory() as s:
            first = ingest(
                session=s,
                raw=_mail("x@example.jp", "最初", "本文", message_id="<r1@example.jp>"),
                config=CONFIG,
            )
            s.get_one(Ticket, first.ticket_id).status = TicketStatus.REPLIED.value
            ingest(
                session=s,
                raw=_mail("x@example.jp", "Re: 最初", "まだです", in_reply_to="<r1@example.jp>"),
                config=CONFIG,
            )
            assert s.get_one(Ticket, first.ticket_id).status == TicketStatus.OPEN
            kinds = s.scalars(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == first.ticket_id)
            ).all()
            assert "reopened" in kinds


class TestOrderLinks:
    def test_own_order_numbers_are_linked_in_any_width(self, world: Database) -> None:
        with world.factory() as s:
            order = _order(s, "don-001")
            to_wide = str.maketrans("0123456789-ORD", "０１２３４５６７８９－ＯＲＤ")
            wide = order.order_no.translate(to_wide)
            outcome = ingest(
                session=s,
                raw=_mail("taro.yamada@example.ne.jp", "注文の件", f"注文番号 {wide} について"),
                config=CONFIG,
            )
            linked = s.scalars(
                select(TicketOrder.order_id).where(TicketOrder.ticket_id == outcome.ticket_id)
            ).all()
            assert linked == [order.id]
            assert s.get_one(Ticket, outcome.ticket_id).supplier_id == order.supplier_id

    def test_another_donors_order_number_is_not_linked(self, world: Database) -> None:
        with world.factory() as s:
            foreign = _order(s, "don-002")
            outcome = ingest(
                session=s,
                raw=_mail(
                    "taro.yamada@example.ne.jp",
                    "注文の件",
                    f"{foreign.order_no} はどうなりましたか",
                ),
                config=CONFIG,
            )
            assert _count(s, TicketOrder) == 0
            message = s.get_one(MailMessage, outcome.message_id)
            assert any("確認できません" in p for p in message.problems)

    def test_unknown_sender_links_no_order(self, world: Database) -> None:
        with world.factory() as s:
            order = _order(s, "don-001")
            ingest(
                session=s, raw=_mail("stranger@example.org", "注文", order.order_no), config=CONFIG
            )
            assert _count(s, TicketOrder) == 0


class TestAutomaticMail:
    def test_bounce_is_linked_to_the_outbound_mail_and_flags_it(self, world: Database) -> None:
        with world.factory() as s:
            first = ingest(session=s, raw=_mail("x@example.jp", "質問", "本文"), config=CONFIG)
            outbound = MailMessage(
                ticket_id=first.ticket_id,
                direction="outbound",
                dedupe_key="o" * 64,
                message_id="ack-1@furusato-desk.example.jp",
                from_addr=None,
                subject="受付",
                raw_size=0,
            )
            s.add(outbound)
            s.flush()
            bounce = _mail(
                "MAILER-DAEMON@mx.example.jp",
                "Undelivered Mail Returned to Sender",
                "This is the mail system.",
                in_reply_to="<ack-1@furusato-desk.example.jp>",
                headers={"Auto-Submitted": "auto-replied"},
            )
            outcome = ingest(session=s, raw=bounce, config=CONFIG)
            stored = s.get_one(MailMessage, outcome.message_id)
            assert stored.is_auto and stored.auto_kind == "bounce" and not outcome.wants_ack
            assert outcome.ticket_id == first.ticket_id
            assert stored.bounce_of_id == outbound.id and outbound.bounced
            kinds = s.scalars(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == first.ticket_id)
            ).all()
            assert "bounce" in kinds

    @needs_inbound
    def test_dsn_report_is_a_bounce_without_acknowledgement(self, world: Database) -> None:
        with world.factory() as s:
            outcome = ingest(
                session=s, raw=(INBOUND / "16_bounce_dsn.eml").read_bytes(), config=CONFIG
            )
            stored = s.get_one(MailMessage, outcome.message_id)
            assert stored.auto_kind == "bounce" and not outcome.wants_ack

    def test_mail_from_our_own_address_is_flagged_and_not_acknowledged(
        self, world: Database
    ) -> None:
        with world.factory() as s:
            outcome = ingest(
                session=s,
                raw=_mail("support-ise@furusato-desk.example.jp", "受付しました", "自動送信"),
                config=CONFIG,
            )
            stored = s.get_one(MailMessage, outcome.message_id)
            assert stored.is_auto and not outcome.wants_ack
            assert stored.problems


class TestUnparseableMail:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"\x00\xff\xfe" * 50,
            b"no header at all",
            b"Subject: =?utf-8?B?!!!?=\r\n\r\n\xff\xfe",
        ],
    )
    def test_garbage_is_stored_raw_and_shown(self, world: Database, raw: bytes) -> None:
        with world.factory() as s:
            outcome = ingest(session=s, raw=raw, config=CONFIG)
            s.commit()
            assert s.get_one(MailRaw, outcome.message_id).data == raw
            assert s.get_one(Ticket, outcome.ticket_id).status == TicketStatus.OPEN

    def test_mail_over_the_attachment_limit_is_stored_and_flagged_for_operators(
        self, world: Database
    ) -> None:
        msg = EmailMessage()
        msg["From"] = "x@example.jp"
        msg["To"] = "support-ise@furusato-desk.example.jp"
        msg["Subject"] = "写真を大量に送ります"
        msg.set_content("破損の写真です")
        for n in range(320):
            msg.add_attachment(b"x", maintype="image", subtype="jpeg", filename=f"写真{n}.jpg")
        raw = msg.as_bytes()
        with world.factory() as s:
            outcome = ingest(session=s, raw=raw, config=CONFIG)
            s.commit()
            stored = s.get_one(MailMessage, outcome.message_id)
            assert stored.problems[0].startswith("上限を超えたため")
            parts = s.scalars(
                select(MailAttachment).where(MailAttachment.message_id == stored.id)
            ).all()
            assert len(parts) == 320
            assert sum(1 for p in parts if p.sha256 == "") == 20
            assert s.get_one(MailRaw, stored.id).data == raw

    def test_long_subject_is_cut_for_the_ticket_but_kept_on_the_message(
        self, world: Database
    ) -> None:
        subject = "長い件名" * 200
        with world.factory() as s:
            outcome = ingest(session=s, raw=_mail("x@example.jp", subject, "本文"), config=CONFIG)
            s.commit()
            assert len(s.get_one(Ticket, outcome.ticket_id).subject) <= 300
            assert s.get_one(MailMessage, outcome.message_id).subject == subject
