"""The exact outbound message (hash, diff, MIME, charset), canned replies and the policy."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from support.adapters.ports import OutgoingMail, SendError
from support.adapters.smtp import SmtpMailSender
from support.errors import BadInput, NotFound
from support.mail.canned import list_canned, render_canned
from support.mail.guards import Evidence, Finding
from support.mail.outbound_checks import approval_reasons
from support.mail.outbound_message import (
    AttachmentFile,
    Threading,
    build_mime,
    choose_charset,
    message_hash,
    snapshot,
    unified_diff,
)
from support.mail.templates import DEFAULT_DIR
from tests.services.smtp_sink import SmtpSink

BASE = {
    "from_addr": "support-ise@desk.example.jp",
    "to": ["taro@example.ne.jp"],
    "cc": [],
    "bcc": ["archive@desk.example.jp"],
    "subject": "Re: 受領証明書について",
    "body": "山田 太郎 様\n\n再発行いたします。\n",
}
DATE = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _snap(**change: object) -> dict[str, object]:
    return snapshot(**(BASE | change))  # type: ignore[arg-type]


class TestMessageHash:
    def test_the_same_message_has_the_same_hash(self) -> None:
        assert message_hash(_snap()) == message_hash(_snap())

    @pytest.mark.parametrize(
        "change",
        [
            {"from_addr": "support@desk.example.jp"},
            {"to": ["taro@example.ne.jp", "hanako@example.ne.jp"]},
            {"cc": ["x@example.jp"]},
            {"bcc": []},
            {"subject": "Re: 受領証明書について "},
            {"body": "山田 太郎 様\n\n再発行いたします\n"},
            {"attachments": [AttachmentFile("a.pdf", "application/pdf", b"%PDF")]},
        ],
    )
    def test_any_change_gives_another_hash(self, change: dict[str, object]) -> None:
        assert message_hash(_snap(**change)) != message_hash(_snap())

    def test_attachment_bytes_count_not_just_names(self) -> None:
        one = _snap(attachments=[AttachmentFile("a.pdf", "application/pdf", b"1")])
        two = _snap(attachments=[AttachmentFile("a.pdf", "application/pdf", b"2")])
        assert message_hash(one) != message_hash(two)


class TestDiff:
    def test_shows_changed_lines_against_the_previous_version(self) -> None:
        diff = unified_diff(_snap(), _snap(body="山田 太郎 様\n\n本日郵送いたします。\n"))
        assert "-再発行いたします。" in diff and "+本日郵送いたします。" in diff
        assert " 山田 太郎 様" in diff

    def test_without_a_previous_version_everything_is_new(self) -> None:
        diff = unified_diff(None, _snap())
        assert "+To: taro@example.ne.jp" in diff and "+Bcc: archive@desk.example.jp" in diff


class TestCharset:
    @pytest.mark.parametrize(
        ("address", "expected"),
        [
            ("a@docomo.ne.jp", "iso-2022-jp"),
            ("a@EZweb.ne.jp", "iso-2022-jp"),
            ("a@sub.ezweb.ne.jp", "iso-2022-jp"),
            ("a@notdocomo.ne.jp", "utf-8"),
            ("a@gmail.com", "utf-8"),
        ],
    )
    def test_by_recipient_domain(self, address: str, expected: str) -> None:
        domains = ["docomo.ne.jp", "ezweb.ne.jp"]
        assert choose_charset([address], domains, "山田様") == expected

    def test_text_outside_jis_stays_utf8(self) -> None:
        assert choose_charset(["a@docomo.ne.jp"], ["docomo.ne.jp"], "髙橋様 ①") == "utf-8"

    def test_iso2022jp_mail_reads_back(self) -> None:
        raw = build_mime(
            snap=_snap(),
            attachments=[],
            message_id="reply-1.2.ab@desk.example.jp",
            threading=Threading("parent@example.ne.jp", ["root@x", "parent@example.ne.jp"]),
            date=DATE,
            charset="iso-2022-jp",
        )
        assert raw.isascii()
        mail = message_from_bytes(raw, policy=default)
        assert mail.get_content_charset() == "iso-2022-jp"
        assert mail["Subject"] == "Re: 受領証明書について"
        # On the wire lines end in CRLF; the 7bit body keeps them as they are.
        assert mail.get_content().replace("\r\n", "\n") == "山田 太郎 様\n\n再発行いたします。\n"
        assert mail["Bcc"] is None
        assert mail["In-Reply-To"] == "<parent@example.ne.jp>"
        assert mail["References"] == "<root@x> <parent@example.ne.jp>"

    def test_utf8_mail_with_a_japanese_attachment_name(self) -> None:
        raw = build_mime(
            snap=_snap(),
            attachments=[AttachmentFile("受領証明書.pdf", "application/pdf", b"%PDF-1.4")],
            message_id="m@x",
            threading=Threading(references=[f"r{n}@x" for n in range(30)]),
            date=DATE,
            charset="utf-8",
        )
        mail = message_from_bytes(raw, policy=default)
        assert [p.get_filename() for p in mail.iter_attachments()] == ["受領証明書.pdf"]
        assert len(mail["References"].split()) == 20 and mail["In-Reply-To"] is None


class TestCannedTemplates:
    def test_a_municipality_adds_and_overrides_replies(self, tmp_path: Path) -> None:
        (tmp_path / "mail" / "canned").mkdir(parents=True)
        (tmp_path / "mail" / "ise" / "canned").mkdir(parents=True)
        (tmp_path / "mail" / "canned" / "hello.txt.j2").write_text("{#- title: 共通 -#}共通")
        (tmp_path / "mail" / "canned" / "_part.txt.j2").write_text("部品")
        (tmp_path / "mail" / "ise" / "canned" / "hello.txt.j2").write_text(
            "{#- title: 伊勢 -#}伊勢"
        )
        listed = list_canned(municipality_id="ise", root=tmp_path)
        assert [(c.key, c.title, c.municipality_id) for c in listed] == [("hello", "伊勢", "ise")]
        text = render_canned("hello", {}, municipality_id="ise", root=tmp_path)
        assert text == "伊勢\n"

    def test_an_undefined_variable_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "mail" / "canned").mkdir(parents=True)
        (tmp_path / "mail" / "canned" / "x.txt.j2").write_text("{{ gift_name }} の件")
        with pytest.raises(BadInput, match="gift_name"):
            render_canned("x", {}, municipality_id=None, root=tmp_path)
        with pytest.raises(NotFound):
            render_canned("../x", {}, municipality_id=None, root=tmp_path)

    def test_every_bundled_reply_renders_with_and_without_a_donor(self) -> None:
        for municipality in ("ise", "yokohama", "chiyoda", "shizuoka"):
            for reply in list_canned(municipality_id=municipality, root=DEFAULT_DIR):
                for donor in ("山田 太郎", None):
                    context = {
                        "donor_name": donor,
                        "ticket_id": 1,
                        "subject": "件名",
                        "municipality_name": "伊勢市",
                        "desk_name": "窓口",
                        "order_no": None,
                        "donation_no": "D25-1",
                    }
                    text = render_canned(reply.key, context, municipality_id=municipality)
                    assert "窓口" in text and "None" not in text


def _finding(severity: str) -> Finding:
    return Finding("foreign_pii", severity, "x", Evidence("body", "x"))  # type: ignore[arg-type]


class TestApprovalPolicy:
    def test_the_city_alone_needs_no_approval(self) -> None:
        reasons = approval_reasons(
            kinds={"municipality", "internal"}, findings=[], required_for=["donor", "supplier"]
        )
        assert reasons == []

    def test_a_donor_or_a_block_needs_one(self) -> None:
        assert approval_reasons(kinds={"donor"}, findings=[], required_for=["donor"]) == ["donor"]
        assert approval_reasons(
            kinds={"internal"}, findings=[_finding("block")], required_for=["donor"]
        ) == ["block"]
        assert (
            approval_reasons(kinds={"internal"}, findings=[_finding("warn")], required_for=[]) == []
        )


class TestSmtpAdapterBeforeData:
    def test_calls_back_once_the_envelope_is_accepted(self, tmp_path: Path) -> None:
        calls: list[int] = []
        with SmtpSink(tmp_path / "sink") as sink:
            sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
            mail = OutgoingMail("a@x.jp", ["b@y.jp", "c@y.jp"], b"Subject: t\r\n\r\nhi\r\n", "m@x")
            sender.send(mail, before_data=lambda: calls.append(len(sink.messages())))
            assert calls == [0] and len(sink.messages()) == 1
            assert sink.messages()[0][0]["rcpt_tos"] == ["b@y.jp", "c@y.jp"]

    @pytest.mark.parametrize("security", ["starttls", "ssl"])
    def test_tls_and_auth_reach_the_server(self, tmp_path: Path, security: str) -> None:
        calls: list[str] = []
        with SmtpSink(tmp_path / "sink", security=security, user="desk", password="s3cret") as sink:
            context = sink.tls_client_context()
            good = SmtpMailSender(
                "127.0.0.1",
                sink.port,
                username="desk",
                password="s3cret",
                security=security,  # type: ignore[arg-type]
                timeout=10,
                tls_context=context,
            )
            mail = OutgoingMail("a@x.jp", ["b@y.jp"], b"Subject: t\r\n\r\nhi\r\n", "m@x")
            good.send(mail, before_data=lambda: calls.append("data"))
            bad = SmtpMailSender(
                "127.0.0.1",
                sink.port,
                username="desk",
                password="wrong",
                security=security,  # type: ignore[arg-type]
                timeout=10,
                tls_context=context,
            )
            with pytest.raises(SendError) as refused:
                bad.send(mail, before_data=lambda: calls.append("never"))
            # Our credentials, not the message: retried (once fixed), and nothing was delivered.
            assert not refused.value.permanent and not refused.value.reached_server
            assert calls == ["data"] and len(sink.messages()) == 1
