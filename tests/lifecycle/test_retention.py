"""Retention: expired closed tickets go with their mail; legal holds and younger ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support.auth.models import RoleName
from support.errors import BadInput
from support.lifecycle import retention
from support.lifecycle.models import PurgeRun
from support.mail.ingest import ingest
from support.mail.models import MailAttachment, MailMessage, MailRaw
from support.tickets.models import Ticket
from tests.conftest import Database
from tests.factories import load_demo_world, login_as
from tests.lifecycle.test_contract_end import CONFIG, _donors_of, _mail

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _closed(db: Database, municipality: str, donor_index: int, age_days: int) -> int:
    donor = _donors_of(municipality)[0][donor_index]
    with db.factory() as s:
        outcome = ingest(session=s, raw=_mail(donor, municipality), config=CONFIG)
        ticket = s.get_one(Ticket, outcome.ticket_id)
        ticket.status = "closed"
        ticket.last_activity_at = NOW - timedelta(days=age_days)
        s.commit()
        return ticket.id


class TestRetentionPurge:
    def test_purges_expired_tickets_with_their_mail_but_not_held_or_younger(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        expired = _closed(database, "ise", 0, 3 * 365 + 10)  # ise keeps 3 years
        held = _closed(database, "ise", 1, 3 * 365 + 10)
        young = _closed(database, "ise", 2, 365)
        yokohama = _closed(database, "yokohama", 0, 3 * 365 + 10)  # default: 5 years
        supervisor = login_as(client, database.factory, RoleName.SUPERVISOR)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        body = {"ticket_id": held, "reason": "訴訟対応のため保全"}
        assert client.post("/api/legal-holds", headers=operator, json=body).status_code == 403
        hold = client.post("/api/legal-holds", headers=supervisor, json=body)
        assert hold.status_code == 201, hold.text
        missing = client.post(
            "/api/legal-holds", headers=supervisor, json={"ticket_id": 999999, "reason": "x"}
        )
        assert missing.status_code == 404

        rules = retention.load_rules()
        with database.factory() as s:
            report = retention.purge(session=s, rules=rules, now=NOW)
            s.commit()
        with database.factory() as s:
            left = set(s.scalars(select(Ticket.id)))
            assert expired not in left and {held, young, yokohama} <= left
            assert not s.scalars(
                select(MailMessage.id).where(MailMessage.ticket_id == expired)
            ).all()
            assert s.scalar(select(func.count()).select_from(MailRaw)) == 3
            assert s.scalar(select(func.count()).select_from(MailAttachment)) == 3
            [run] = s.scalars(select(PurgeRun)).all()
            assert run.kind == "closed_tickets" and run.municipality_id == "ise"
            assert run.counts["tickets"] == 1 and run.counts["mail_raw"] == 1
            assert run.held == 1
        assert report.runs[0]["counts"]["mail_messages"] == 1

        released = client.post(f"/api/legal-holds/{hold.json()['id']}/release", headers=supervisor)
        assert released.status_code == 200
        again = client.post(f"/api/legal-holds/{hold.json()['id']}/release", headers=supervisor)
        assert again.status_code == 409
        with database.factory() as s:
            retention.purge(session=s, rules=rules, now=NOW)
            s.commit()
            assert held not in set(s.scalars(select(Ticket.id)))

    def test_refuses_rules_with_an_unknown_kind(self, tmp_path: Path) -> None:
        path = tmp_path / "retention.yaml"
        path.write_text(
            "kinds:\n  closed_tickets: {label: x, table: tickets, age_column: created_at,"
            " municipality_column: municipality_id, days: 10}\n"
            "municipalities:\n  ise: {recordingz: 5}\n",
            encoding="utf-8",
        )
        with pytest.raises(BadInput, match="recordingz"):
            retention.load_rules(path)
