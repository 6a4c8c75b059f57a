"""A misdirected mail becomes an incident: donors and items found, municipality told, report."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.adapters.fakes import InMemoryMailSender
from support.adapters.smtp import SmtpMailSender
from support.auth.models import RoleName
from support.config import Settings
from support.db import utcnow
from support.lifecycle import incidents
from support.lifecycle.models import Incident, IncidentNotice
from support.mail.models import MailMessage, MailRaw
from support.tickets.models import Order, Ticket
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import load_demo_world, login_as
from tests.lifecycle.test_contract_end import CONFIG, _donors_of
from tests.services.debian import DebianPackageMissing, ensure_installed
from tests.services.smtp_sink import SmtpSink

CONTACT = "furusato@city-ise.example.jp"


def _misdirected(db: Database) -> tuple[int, dict[str, Any], str]:
    """Store an ise ticket and a sent reply that went to the wrong person; return its id."""
    from support.mail.ingest import ingest

    donor = _donors_of("ise")[0][0]
    with db.factory() as s:
        inbound = EmailMessage()
        inbound["From"] = donor["email"]
        inbound["To"] = "support-ise@furusato-desk.example.jp"
        inbound["Subject"] = "配送について"
        inbound["Message-ID"] = "<q-1@example.ne.jp>"
        inbound.set_content("届きません")
        ingest(session=s, raw=inbound.as_bytes(), config=CONFIG)
        ticket = s.scalars(select(Ticket)).one()
        order = s.scalars(select(Order).where(Order.donor_id == donor["id"])).first()
        assert order is not None
        reply = EmailMessage()
        reply["From"] = "support-ise@furusato-desk.example.jp"
        reply["To"] = "someone-else@example.com"
        reply["Subject"] = "Re: 配送について"
        reply.set_content(
            f"{donor['name']} 様\n注文番号 {order.order_no} の返礼品は、{donor['address']} へ"
            "再発送いたします。"
        )
        reply.add_attachment(
            f"連絡先 {donor['phone']}".encode(),
            maintype="text",
            subtype="plain",
            filename="送り状.txt",
        )
        data = reply.as_bytes()
        message = MailMessage(
            ticket_id=ticket.id,
            direction="outbound",
            dedupe_key="reply-1",
            message_id="reply-1@furusato-desk.example.jp",
            from_addr="support-ise@furusato-desk.example.jp",
            to_addrs=["someone-else@example.com"],
            subject=str(reply["Subject"]),
            text=reply.get_body(("plain",)).get_content(),  # type: ignore[union-attr]
            raw_size=len(data),
            send_status="sent",
            sent_at=utcnow(),
        )
        s.add(message)
        s.flush()
        s.add(MailRaw(message_id=message.id, data=data))
        s.commit()
        return message.id, donor, order.order_no


def _pdf_text(pdf: bytes) -> str:
    try:
        ensure_installed("poppler-utils", "pdftotext")
    except DebianPackageMissing as exc:
        pytest.skip(str(exc))
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode("utf-8")


class TestMisdirectedMail:
    def test_notice_reaches_the_contact_and_the_report_lists_donor_and_items(
        self, client: TestClient, database: Database, settings: Settings, tmp_path: Path
    ) -> None:
        load_demo_world(database.factory)
        message_id, donor, order_no = _misdirected(database)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        opened = client.post(
            f"/api/incidents/from-mail/{message_id}",
            headers=operator,
            json={"cause": "宛先の選択を誤った", "wrong_recipients": ["someone-else@example.com"]},
        )
        assert opened.status_code == 201, opened.text
        incident = opened.json()
        assert incident["kind"] == "misdirected_mail" and incident["municipality_id"] == "ise"
        [item] = incident["items"]
        assert item["donor_id"] == donor["id"]
        assert {"氏名", "住所", "注文番号", "電話番号"} <= set(item["data_items"])
        assert "添付ファイル: 送り状.txt" in item["data_items"]
        assert "メールアドレス" not in item["data_items"]
        again = client.post(
            f"/api/incidents/from-mail/{message_id}", headers=operator, json={"cause": "x"}
        )
        assert again.status_code == 409

        with SmtpSink(tmp_path / "smtp") as sink:
            sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
            runner = build_runner(database.factory, settings, sender)
            runner.run_until_idle()
            runner.run_until_idle()
            received = sink.messages()
        [(envelope, raw)] = received  # at most once
        assert envelope["rcpt_tos"] == [CONTACT]
        mail = message_from_bytes(raw, policy=policy.default)
        assert "漏えい等事故" in str(mail["Subject"])
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "影響を受けた寄附者: 1 名" in body and "氏名(1名)" in body
        for secret in (donor["name"], donor["email"], donor["phone"], donor["address"]):
            assert secret not in body and secret.encode() not in raw
        assert "速報の期限" in body and "確報の期限" in body

        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        other = login_as(
            client, database.factory, RoleName.MUNICIPALITY, municipality_id="yokohama"
        )
        url = f"/api/incidents/{incident['id']}/report.pdf"
        assert client.get(url, headers=other).status_code == 404
        pdf = client.get(url, headers=city)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        text = _pdf_text(pdf.content)
        for expected in (
            donor["id"],
            "氏名",
            "住所",
            "注文番号",
            "宛先の選択を誤った",
            "速報",
            "確報",
        ):
            assert expected in text, expected
        assert "経緯" in text and "原因" in text and "影響範囲" in text and "再発防止策" in text

        listed = client.get("/api/incidents", headers=city).json()
        assert [i["id"] for i in listed] == [incident["id"]]
        assert client.get("/api/incidents", headers=other).json() == []

    def test_overdue_reports_are_escalated_once_and_closing_stops_it(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        opened = client.post(
            "/api/incidents",
            headers=admin,
            json={"municipality_id": "ise", "title": "USB メモリの紛失", "cause": "持ち出し"},
        )
        assert opened.status_code == 201, opened.text
        body = opened.json()
        discovered = body["discovered_at"]
        assert body["overdue"] == []
        with database.factory() as s:
            incident = s.get_one(Incident, body["id"])
            assert incident.final_due_at - incident.discovered_at == timedelta(days=30)
            assert incident.prelim_due_at - incident.discovered_at == timedelta(days=3)
            later = incident.discovered_at + timedelta(days=4)
            assert incidents.check_deadlines(session=s, now=later) == 1
            assert incidents.check_deadlines(session=s, now=later) == 0  # once per report
            s.commit()
        sender = InMemoryMailSender()
        build_runner(database.factory, settings, sender).run_until_idle()
        subjects = sorted(m.data.split(b"Subject: ")[1].split(b"\n")[0] for m in sender.sent)
        assert len(sender.sent) == 2  # the notice and the 速報 escalation
        assert all(CONTACT in m.recipients for m in sender.sent)
        assert any(settings.mail_from in m.recipients for m in sender.sent)
        assert subjects
        done = client.post(
            f"/api/incidents/{body['id']}/reports",
            headers=admin,
            json={"kind": "final", "measures": "持ち出し禁止を徹底"},
        )
        assert done.status_code == 200 and done.json()["status"] == "closed"
        with database.factory() as s:
            far = s.get_one(Incident, body["id"]).discovered_at + timedelta(days=40)
            assert incidents.check_deadlines(session=s, now=far) == 0
            kinds = sorted(s.scalars(select(IncidentNotice.kind)))
        assert kinds == ["escalation_prelim", "notice"]
        assert discovered
