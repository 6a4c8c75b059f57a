"""Inputs the fuzzer found answered 500; each is now a 422 problem."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.auth.models import RoleName
from tests.conftest import Database
from tests.factories import load_demo_world, login_as


class TestFoundByFuzzing:
    def test_refuses_ids_beyond_the_database_integer(
        self, client: TestClient, database: Database
    ) -> None:
        admin = login_as(client, database.factory, RoleName.ADMIN)
        for url in (
            "/api/audit?before_id=9223372036854775808",
            "/api/inbox?assignee_id=2147483648",
        ):
            response = client.get(url, headers=admin)
            assert response.status_code == 422, url
            assert response.headers["content-type"].startswith("application/problem+json")
        split = client.post("/api/inbox/1/split", headers=admin, json={"message_ids": [2**40]})
        assert split.status_code == 422
        ticket = client.post(
            "/api/tickets", headers=admin, json={"subject": "件名", "order_id": 2**40}
        )
        assert ticket.status_code == 422

    def test_refuses_nul_in_query_strings_and_json(
        self, client: TestClient, database: Database
    ) -> None:
        admin = login_as(client, database.factory, RoleName.ADMIN)
        query = client.get("/api/orders?order_no=A%00B", headers=admin)
        assert query.status_code == 422
        assert "NUL" in query.json()["detail"]
        body = client.post(
            "/api/tickets",
            headers={**admin, "Content-Type": "application/json"},
            content=b'{"subject": "a\\u0000b"}',
        )
        assert body.status_code == 422 and "NUL" in body.json()["detail"]
        # A backslash followed by the text "u0000" is ordinary text.
        plain = client.post(
            "/api/tickets",
            headers={**admin, "Content-Type": "application/json"},
            content=b'{"subject": "a\\\\u0000b"}',
        )
        assert "NUL" not in plain.json()["detail"]  # refused later, for the missing municipality

    def test_refuses_outbound_numbers_beyond_the_database_integer(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        ticket = client.post(
            "/api/tickets", headers=admin, json={"subject": "件名", "municipality_id": "ise"}
        )
        assert ticket.status_code == 201, ticket.text
        url = f"/api/outbound/tickets/{ticket.json()['id']}/canned"
        approvals = client.get(f"/api/outbound/approvals?offset={2**63}", headers=admin)
        assert approvals.status_code == 422
        assert approvals.headers["content-type"].startswith("application/problem+json")
        for field in ("draft_id", "seen_version"):
            body: dict[str, object] = {"key": "general", "seen_version": 0, field: 2**63}
            canned = client.post(url, headers=admin, json=body)
            assert canned.status_code == 422, (field, canned.text)
