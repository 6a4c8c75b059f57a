"""The complaint API: queue, category, orders, liability; problems for bad input and scope."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import AuditEvent, RoleName
from support.tickets.models import Order
from tests.conftest import Database
from tests.factories import load_demo_world, login_as


def _open(client: TestClient, headers: dict[str, str], order_id: int, category: str) -> int:
    response = client.post(
        "/api/tickets",
        headers=headers,
        json={"subject": "返礼品が傷んでいた", "category": category, "order_ids": [order_id]},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _order_id(database: Database, order_no: str) -> int:
    with database.factory() as s:
        return int(s.scalars(select(Order.id).where(Order.order_no == order_no)).one())


class TestComplaintApi:
    def test_the_queue_and_a_confirmed_liability(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        order = _order_id(database, "ORD-2025-000423")
        slow = _open(client, operator, order, "その他")
        fast = _open(client, operator, order, "品質")
        body = client.get("/api/queue?municipality_id=ise", headers=operator).json()
        assert [t["id"] for t in body["items"]] == [fast, slow]
        assert body["items"][0]["sla_due_at"] < body["items"][1]["sla_due_at"]
        assert body["per_page"] == 50 and body["has_more"] is False

    def test_an_unknown_category_is_a_problem_response(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        ticket = _open(client, operator, _order_id(database, "ORD-2025-000423"), "破損")
        response = client.put(
            f"/api/tickets/{ticket}/category", headers=operator, json={"category": "苦情"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        bad_status = client.get("/api/queue?status=done", headers=operator)
        assert bad_status.status_code == 422
        missing = client.post(
            f"/api/tickets/{ticket}/orders", headers=operator, json={"order_id": 999_999}
        )
        assert missing.status_code == 422
        assert client.get("/api/tickets/999999/verdict", headers=operator).status_code == 404

    def test_only_staff_work_complaints_and_confirm_liability(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        ticket = _open(client, operator, _order_id(database, "ORD-2025-000423"), "破損")
        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        supplier = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        for headers in (city, supplier):
            assert client.get("/api/queue", headers=headers).status_code == 403
            assert (
                client.put(
                    f"/api/tickets/{ticket}/liability",
                    headers=headers,
                    json={"bearer": "supplier"},
                ).status_code
                == 403
            )
        # Their own view of the ticket still carries the SLA dues.
        seen = client.get(f"/api/tickets/{ticket}", headers=city).json()
        assert seen["sla_due_at"] is not None

        before = client.get(f"/api/tickets/{ticket}/verdict", headers=operator).json()
        assert before["liability"]["is_suggestion"] and before["confirmed_liability"] is None
        response = client.put(
            f"/api/tickets/{ticket}/liability",
            headers=operator,
            json={"bearer": "carrier", "covers": ["再配送"], "carrier_at_fault": True},
        )
        after = response.json()
        assert after["confirmed_liability"]["bearer"] == "carrier"
        assert after["confirmed_liability"]["carrier_at_fault"] is True
        timeline = client.get(f"/api/tickets/{ticket}/timeline", headers=operator).json()
        assert [e["kind"] for e in timeline][-2:] == ["carrier_fault", "liability_confirmed"]

    def test_the_callers_number_is_read_through_an_audited_route(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        opened = client.post(
            "/api/tickets",
            headers=operator,
            json={
                "subject": "電話: 返礼品が届かない",
                "channel": "phone",
                "municipality_id": "ise",
                "category": "不着",
                "caller_number": "090-1234-5678",
                "callback_due": "2026-01-05T10:00:00+09:00",
            },
        )
        ticket = opened.json()
        assert "contact_phone" not in ticket and ticket["callback_due_at"] is not None
        contact = client.get(f"/api/tickets/{ticket['id']}/contact", headers=operator).json()
        assert contact["contact_phone"] == "09012345678"
        with database.factory() as s:
            actions = s.scalars(select(AuditEvent.action)).all()
        assert "read_contact" in actions
