"""Supplier notices: only the personal data needed, sent at most once, the reply threaded back."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.fakes import InMemoryMailSender
from support.adapters.ports import SendError
from support.auth.actor import Actor
from support.auth.models import AuditEvent, RoleName
from support.errors import Conflict
from support.jobs import Job
from support.mail.ingest import MailboxConfig, ingest
from support.tickets import supplier_notice
from support.tickets.intake import TicketIntake, open_ticket
from support.tickets.models import Donor, Order, Supplier, SupplierNotice, Ticket, TicketEvent
from support.tickets.report_mail import ReportMailRetry, ReportMailSettings
from tests.conftest import Database
from tests.factories import load_demo_world

STAFF = Actor(user_id=None, username="op", role=RoleName.OPERATOR)
DESK = "support-ise@furusato-desk.example.jp"
SETTINGS = supplier_notice.NoticeSettings(
    mail=ReportMailSettings(from_addr=DESK), fax_gateway="{fax}@fax-gw.example.jp"
)
CONFIG = MailboxConfig(our_addresses=frozenset({DESK}), municipality_by_address={DESK: "ise"})


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _complaint(s: Session, order_no: str = "ORD-2025-000423") -> Ticket:
    order = s.scalars(select(Order).where(Order.order_no == order_no)).one()
    donor = s.get_one(Donor, order.donor_id)
    return open_ticket(
        session=s,
        intake=TicketIntake(
            channel="mail",
            subject=f"{donor.name}です。うどんの袋が破れていました {donor.phone}",
            category="破損",
            order_ids=[order.id],
        ),
    )


def _body(data: bytes) -> str:
    parsed = message_from_bytes(data, policy=policy.default)
    return parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


class TestSupplierNotice:
    def test_the_notice_names_the_order_and_item_but_not_the_donor(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _complaint(s)
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=ticket, settings=SETTINGS
            )
            s.commit()
            donor = s.get_one(Donor, ticket.donor_id)
            assert notice.recipient == s.get_one(Supplier, "sup-01").email
            assert "ORD-2025-000423" in notice.body and "伊勢うどん" in notice.body
            for personal in (donor.name.split()[0], donor.phone, donor.address, donor.email):
                assert personal and personal not in notice.body
            assert f"[#{ticket.id}]" in notice.subject and not notice.includes_address
            assert s.scalars(select(Job.kind)).all() == [supplier_notice.SUPPLIER_NOTICE]

    def test_a_redelivery_adds_name_and_address_only_and_is_audited(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _complaint(s)
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=ticket, settings=SETTINGS, request="redelivery"
            )
            donor = s.get_one(Donor, ticket.donor_id)
            assert donor.name in notice.body and (donor.address or "") in notice.body
            assert (donor.phone or "-") not in notice.body and (
                donor.email or "-"
            ) not in notice.body
            audit = s.scalars(select(AuditEvent)).one()
            assert (audit.action, audit.donor_id) == ("disclose_to_supplier", donor.id)

    def test_fax_goes_through_the_gateway_address(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _complaint(s)
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=ticket, settings=SETTINGS, via="fax"
            )
            assert notice.recipient == "0596012211@fax-gw.example.jp"

    def test_a_ticket_without_an_order_cannot_be_forwarded(self, world: Database) -> None:
        with world.factory() as s:
            ticket = open_ticket(
                session=s, intake=TicketIntake(channel="web", subject="x", municipality_id="ise")
            )
            with pytest.raises(Conflict):
                supplier_notice.request_notice(
                    session=s, actor=STAFF, ticket=ticket, settings=SETTINGS
                )

    def test_the_notice_is_sent_once_even_when_the_job_runs_twice(self, world: Database) -> None:
        sender = InMemoryMailSender()
        with world.factory() as s:
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=_complaint(s), settings=SETTINGS
            )
            s.commit()
            outcomes = [
                supplier_notice.send_notice(
                    session=s, notice_id=notice.id, sender=sender, settings=SETTINGS
                )
                for _ in range(2)
            ]
            assert outcomes == ["sent", "sent"] and len(sender.sent) == 1
            assert f"<{notice.message_id}>".encode() in sender.sent[0].data
            kinds = s.scalars(select(TicketEvent.kind).order_by(TicketEvent.id)).all()
            assert kinds == ["opened", "supplier_notice_queued", "supplier_notice_sent"]

    def test_a_transient_failure_retries_and_an_interrupted_send_is_never_repeated(
        self, world: Database
    ) -> None:
        sender = InMemoryMailSender()
        sender.fail_with = SendError("421 try later", permanent=False, reached_server=False)
        with world.factory() as s:
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=_complaint(s), settings=SETTINGS
            )
            s.commit()
            with pytest.raises(ReportMailRetry):
                supplier_notice.send_notice(
                    session=s, notice_id=notice.id, sender=sender, settings=SETTINGS
                )
            assert notice.status == "queued"
            notice.status = "sending"  # a worker died in the SMTP transaction
            s.commit()
            sender.fail_with = None
            outcome = supplier_notice.send_notice(
                session=s, notice_id=notice.id, sender=sender, settings=SETTINGS
            )
            assert outcome == "in_doubt" and sender.sent == []


def _reply(notice: SupplierNotice, sender: str, *, thread: bool, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = DESK
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="isuzugawa-farm.example.jp")
    if thread:
        msg["In-Reply-To"] = f"<{notice.message_id}>"
        msg["References"] = f"<{notice.message_id}>"
    msg.set_content("代替品を本日発送しました。")
    return msg.as_bytes()


class TestSupplierReply:
    @pytest.mark.parametrize("thread", [True, False], ids=["in-reply-to", "subject-tag"])
    def test_the_suppliers_reply_joins_the_ticket(self, world: Database, thread: bool) -> None:
        with world.factory() as s:
            ticket = _complaint(s)
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=ticket, settings=SETTINGS
            )
            s.commit()
            supplier = s.get_one(Supplier, "sup-01")
            subject = "Re: 件名" if thread else f"Re: [#{ticket.id}] ご連絡"
            outcome = ingest(
                session=s,
                raw=_reply(notice, supplier.email, thread=thread, subject=subject),
                config=CONFIG,
            )
            s.commit()
            assert outcome.ticket_id == ticket.id and not outcome.new_ticket
            assert notice.replied_at is not None
            kinds = s.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))
            assert "supplier_reply" in list(kinds)

    def test_a_stranger_quoting_the_tag_opens_a_new_ticket(self, world: Database) -> None:
        with world.factory() as s:
            ticket = _complaint(s)
            notice = supplier_notice.request_notice(
                session=s, actor=STAFF, ticket=ticket, settings=SETTINGS
            )
            s.commit()
            outcome = ingest(
                session=s,
                raw=_reply(notice, "someone@else.example", thread=False, subject=f"[#{ticket.id}]"),
                config=CONFIG,
            )
            assert outcome.ticket_id != ticket.id and notice.replied_at is None
