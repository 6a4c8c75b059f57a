"""Reveal on purpose (reason in the audit trail) and the audit export a municipality inspects."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import AuditEvent, RoleName
from tests.conftest import Database
from tests.factories import load_demo_world, login_as
from tests.lifecycle.test_contract_end import _donors_of


class TestRevealAndAuditExport:
    def test_reveal_needs_a_reason_is_scoped_and_lands_in_the_municipality_export(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        donor = _donors_of("ise")[0][0]
        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        other = login_as(
            client, database.factory, RoleName.MUNICIPALITY, municipality_id="yokohama"
        )
        supplier = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        admin = login_as(client, database.factory, RoleName.ADMIN)
        url = f"/api/donors/{donor['id']}/reveal"
        assert client.post(url, headers=city, json={}).status_code == 422
        assert client.post(url, headers=other, json={"reason": "問い合わせ対応"}).status_code == 404
        assert client.post(url, headers=supplier, json={"reason": "配送のため"}).status_code == 403
        shown = client.post(
            url,
            headers=city,
            json={"reason": "寄附者からの電話に折り返すため", "fields": ["phone"]},
        )
        assert shown.status_code == 200
        assert shown.json() == {"id": donor["id"], "phone": donor["phone"]}
        with database.factory() as s:
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "reveal")).one()
            assert event.detail == {"reason": "寄附者からの電話に折り返すため", "fields": ["phone"]}

        exported = client.get("/api/audit/municipalities/ise?format=csv", headers=city)
        assert exported.status_code == 200
        assert exported.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][0] == "日時"
        assert any(r[3] == "reveal" and r[8] == "寄附者からの電話に折り返すため" for r in rows)
        assert donor["phone"] not in exported.text
        pdf = client.get("/api/audit/municipalities/ise?format=pdf", headers=admin)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert client.get("/api/audit/municipalities/ise", headers=other).status_code == 404
        hidden = client.get("/api/audit/municipalities/yokohama", headers=other)
        assert hidden.status_code == 200
        assert not any("reveal" in line for line in hidden.text.splitlines()[1:])
