"""The automatic acknowledgement: once per new ticket, rate-limited, never to robots."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from support.adapters.fakes import InMemoryMailSender
from support.adapters.ports import SendError
from support.adapters.smtp import SmtpMailSender
from support.mail.ack import AckRetry, AckSettings, send_ack
from support.mail.ingest import MailboxConfig, ingest
from support.mail.models import MailMessage
from tests.conftest import Database
from tests.factories import load_demo_world
from tests.services.smtp_sink import SmtpSink

OURS = "support-ise@furusato-desk.example.jp"
SETTINGS = AckSettings(
    mailbox=MailboxConfig(our_addresses=frozenset({OURS}), municipality_by_address={OURS: "ise"}),
    default_from="support@furusato-desk.example.jp",
)


def _inbound(
    db: Database,
    sender: str = "taro.yamada@example.ne.jp",
    *,
    headers: dict[str, str] | None = None,
    subject: str = "受領証明書について",
) -> int:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.jp")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content("再発行をお願いします。")
    with db.factory() as s:
        outcome = ingest(session=s, raw=msg.as_bytes(), config=SETTINGS.mailbox)
        s.commit()
    return outcome.message_id


def _ack(db: Database, message_id: int, sender: object) -> str:
    with db.factory() as s:
        return send_ack(
            session=s,
            message_id=message_id,
            sender=sender,  # type: ignore[arg-type]
            settings=SETTINGS,
        )


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


class TestAcknowledgement:
    def test_sends_once_with_the_ticket_number(self, world: Database) -> None:
        sender = InMemoryMailSender()
        message_id = _inbound(world)
        assert _ack(world, message_id, sender) == "sent"
        assert _ack(world, message_id, sender) == "sent"
        assert len(sender.sent) == 1
        mail = message_from_bytes(sender.sent[0].data, policy=default)
        with world.factory() as s:
            ticket_id = s.get_one(MailMessage, message_id).ticket_id
        assert f"[#{ticket_id}]" in str(mail["Subject"]) and "受付確認" in str(mail["Subject"])
        assert mail["Auto-Submitted"] == "auto-replied"
        assert mail["From"] == OURS and mail["To"] == "taro.yamada@example.ne.jp"
        body = mail.get_body(("plain",))
        assert body is not None and f"受付番号：{ticket_id}" in body.get_content()
        assert "伊勢市" in body.get_content()

    def test_at_most_one_per_sender_per_hour(self, world: Database) -> None:
        sender = InMemoryMailSender()
        assert _ack(world, _inbound(world, subject="一件目"), sender) == "sent"
        assert _ack(world, _inbound(world, subject="二件目"), sender) == "rate_limited"
        assert _ack(world, _inbound(world, "other@example.jp"), sender) == "sent"
        assert len(sender.sent) == 2

    @pytest.mark.parametrize(
        "headers", [{"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"}]
    )
    def test_never_to_automatic_mail(self, world: Database, headers: dict[str, str]) -> None:
        sender = InMemoryMailSender()
        assert _ack(world, _inbound(world, headers=headers), sender) == "skipped"
        assert sender.sent == []

    def test_never_to_our_own_address(self, world: Database) -> None:
        sender = InMemoryMailSender()
        assert _ack(world, _inbound(world, OURS), sender) == "skipped"

    def test_transient_failure_retries_and_then_sends_once(self, world: Database) -> None:
        sender = InMemoryMailSender()
        message_id = _inbound(world)
        sender.fail_with = SendError("connection refused", permanent=False)
        with pytest.raises(AckRetry):
            _ack(world, message_id, sender)
        sender.fail_with = None
        assert _ack(world, message_id, sender) == "sent"
        assert len(sender.sent) == 1

    def test_unknown_fate_is_in_doubt_and_never_resent(self, world: Database) -> None:
        sender = InMemoryMailSender()
        message_id = _inbound(world)
        sender.fail_with = SendError("disconnected", permanent=False, reached_server=True)
        assert _ack(world, message_id, sender) == "in_doubt"
        sender.fail_with = None
        assert _ack(world, message_id, sender) == "in_doubt"
        assert sender.sent == []

    def test_a_crash_mid_send_leaves_it_in_doubt(self, world: Database) -> None:
        class Crash(InMemoryMailSender):
            def send(self, mail: object) -> None:  # type: ignore[override]
                raise KeyboardInterrupt

        message_id = _inbound(world)
        with pytest.raises(KeyboardInterrupt):
            _ack(world, message_id, Crash())
        sender = InMemoryMailSender()
        assert _ack(world, message_id, sender) == "in_doubt" and sender.sent == []

    def test_permanent_failure_is_recorded(self, world: Database) -> None:
        sender = InMemoryMailSender()
        sender.fail_with = SendError("SMTP 550", permanent=True)
        message_id = _inbound(world)
        assert _ack(world, message_id, sender) == "failed"
        with world.factory() as s:
            ack = s.scalar(select(MailMessage).where(MailMessage.auto_kind == "ack"))
            assert ack is not None and ack.send_error == "SMTP 550"


class TestAgainstRealSmtp:
    def test_acknowledgement_arrives_at_the_smtp_server(
        self, world: Database, tmp_path: Path
    ) -> None:
        with SmtpSink(tmp_path / "smtp") as sink:
            sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
            assert _ack(world, _inbound(world), sender) == "sent"
            received = sink.messages()
        assert len(received) == 1
        envelope, raw = received[0]
        assert envelope["rcpt_tos"] == ["taro.yamada@example.ne.jp"]
        mail = message_from_bytes(raw, policy=default)
        assert "受付確認" in str(mail["Subject"])
        assert mail["In-Reply-To"] and mail["Message-ID"].startswith("<ack-")

    def test_smtp_down_is_a_transient_failure(self, world: Database, tmp_path: Path) -> None:
        sink = SmtpSink(tmp_path / "smtp")  # never started: nothing listens on its port
        sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=5)
        message_id = _inbound(world)
        with pytest.raises(AckRetry):
            _ack(world, message_id, sender)
        with SmtpSink(tmp_path / "smtp", port=sink.port) as live:
            assert _ack(world, message_id, sender) == "sent"
            assert len(live.messages()) == 1
