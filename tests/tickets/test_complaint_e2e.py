"""End to end, once per municipality of world.json: a donor's mail opens a complaint, linked to
its order and supplier; the policy verdict is shown; the supplier is notified through a real
SMTP server and answers; the complaint is resolved and appears in that city's report only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.adapters.smtp import SmtpMailSender
from support.auth.models import RoleName
from support.calendar import JST
from support.config import Settings
from support.mail.ingest import MailboxConfig, ingest
from support.tickets.models import Donor, Order, Supplier, TicketEvent
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.reports import ReportMonth, build_monthly_report
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import load_demo_world, login_as
from tests.services.smtp_sink import SmtpSink

POLICIES = load_policies(default_policy_dir())
CITIES = ("ise", "yokohama", "chiyoda", "shizuoka")
CONFIG = MailboxConfig(
    our_addresses=frozenset(f"support-{m}@furusato-desk.example.jp" for m in CITIES),
    municipality_by_address={f"support-{m}@furusato-desk.example.jp": m for m in CITIES},
)


@dataclass(frozen=True)
class Scenario:
    city: str
    order_no: str
    category: str
    complaint: str


SCENARIOS = [
    # 伊勢市: ordered 12/22, still not shipped: past the 7-day deadline.
    Scenario("ise", "ORD-2025-099397", "配送遅延", "伊勢うどんがまだ届きません"),
    # 横浜市: the voucher was delivered; the city forbids reissuing it.
    Scenario("yokohama", "ORD-2025-023129", "利用券", "電子クーポンを紛失したので再発行してほしい"),
    # 千代田区: a damaged gift; the supplier bears replacement (the carrier is cleared).
    Scenario("chiyoda", "ORD-2025-023235", "破損", "レターセットが折れて届きました"),
    # 静岡市: a late delivery, but the city sets no shipping deadline.
    Scenario("shizuoka", "ORD-2025-023260", "配送遅延", "わさび漬けが届かない"),
]


def _mail(sender: str, to: str, subject: str, body: str, reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="example.ne.jp")
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = f"<{reply_to}>"
    msg.set_content(body)
    return msg.as_bytes()


def _check_verdict(scenario: Scenario, verdict: dict[str, Any]) -> None:
    if scenario.city == "ise":
        assert verdict["deadline"]["breached"] is True
        assert verdict["deadline"]["deadline"] == "2025-12-29"
    elif scenario.city == "yokohama":
        assert verdict["reissue"]["allowed"] is False
        assert verdict["proposed_reply"]["template"] == "voucher_reissue_refusal"
        assert "再発行には応じられません" in verdict["proposed_reply"]["body"]
    elif scenario.city == "chiyoda":
        assert verdict["liability"]["bearer"] in ("supplier", "undetermined")
        assert verdict["liability"]["needs_confirmation"] is True
    else:
        assert verdict["deadline"]["deadline"] is None
        assert verdict["deadline"]["breached"] is False


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.city for s in SCENARIOS])
def test_a_complaint_runs_end_to_end(
    scenario: Scenario,
    client: TestClient,
    database: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    load_demo_world(database.factory)
    operator = login_as(client, database.factory, RoleName.OPERATOR)
    desk = f"support-{scenario.city}@furusato-desk.example.jp"
    with database.factory() as s:
        order = s.scalars(select(Order).where(Order.order_no == scenario.order_no)).one()
        donor = s.get_one(Donor, order.donor_id)
        supplier = s.get_one(Supplier, order.supplier_id)
        outcome = ingest(
            session=s,
            raw=_mail(
                donor.email or "",
                desk,
                scenario.complaint,
                f"注文番号 {scenario.order_no} の件です。{scenario.complaint}。{donor.name}",
            ),
            config=CONFIG,
        )
        s.commit()
    ticket_id = outcome.ticket_id
    base = f"/api/tickets/{ticket_id}"
    ticket = client.get(base, headers=operator).json()
    assert (ticket["municipality_id"], ticket["supplier_id"]) == (scenario.city, supplier.id)
    assert ticket["order_id"] == order.id and ticket["sla_due_at"] is not None

    changed = client.put(f"{base}/category", headers=operator, json={"category": scenario.category})
    assert changed.status_code == 200, changed.text
    verdict = client.get(f"{base}/verdict", headers=operator).json()
    _check_verdict(scenario, verdict)
    if verdict["liability"] is not None:
        confirmed = client.put(
            f"{base}/liability",
            headers=operator,
            json={"bearer": "supplier", "covers": ["再配送"], "carrier_at_fault": False},
        )
        assert confirmed.json()["confirmed_liability"]["bearer"] == "supplier"

    queued = client.post(f"{base}/supplier-notices", headers=operator, json={})
    assert queued.status_code == 202, queued.text
    with SmtpSink(tmp_path / "smtp") as sink:
        sender = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
        build_runner(database.factory, settings, sender).run_until_idle()
        received = sink.messages()
    assert [envelope["rcpt_tos"] for envelope, _ in received] == [[supplier.email]]
    sent = message_from_bytes(received[0][1], policy=policy.default)
    body = sent.get_body().get_content()  # type: ignore[union-attr]
    assert f"[#{ticket_id}]" in str(sent["Subject"]) and scenario.order_no in body
    assert donor.name not in body and (donor.email or "") not in body

    with database.factory() as s:
        answer = ingest(
            session=s,
            raw=_mail(
                supplier.email,
                desk,
                f"Re: {sent['Subject']}",
                "確認のうえ、本日再発送いたしました。",
                reply_to=str(sent["Message-ID"]).strip("<>"),
            ),
            config=CONFIG,
        )
        s.commit()
    assert answer.ticket_id == ticket_id
    resolved = client.post(f"{base}/resolve", headers=operator, json={"resolution": "対応完了"})
    assert resolved.json()["status"] == "closed"

    kinds = [e["kind"] for e in client.get(f"{base}/timeline", headers=operator).json()]
    for kind in (
        "opened",
        "category",
        "verdict",
        "supplier_notice_sent",
        "supplier_reply",
        "resolved",
    ):
        assert kind in kinds
    month = ReportMonth.parse(datetime.now(JST).strftime("%Y-%m"))
    with database.factory() as s:
        for city in CITIES:
            report = build_monthly_report(session=s, policy=POLICIES[city], month=month)
            ids = [row.ticket_id for row in report.rows]
            assert (ticket_id in ids) is (city == scenario.city), city
            if city == scenario.city:
                row = next(r for r in report.rows if r.ticket_id == ticket_id)
                assert row.status == "完了" and row.supplier == supplier.name
                assert donor.name.split()[0] not in row.summary
        assert s.scalars(select(TicketEvent.kind).where(TicketEvent.kind == "reopened")).all() == []
