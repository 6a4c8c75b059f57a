"""Bad input gets a clear 4xx problem response and changes nothing."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support.auth.models import RoleName, User
from support.tickets.models import Donor, Ticket
from tests.conftest import Database
from tests.factories import load_demo_world, login_as


def _donor_snapshot(database: Database, donor_id: str) -> dict[str, object]:
    with database.factory() as s:
        donor = s.get_one(Donor, donor_id)
        return {
            c: getattr(donor, c)
            for c in ("name", "kana", "email", "phone", "postal_code", "address", "updated_at")
        }


def _assert_problem(response: object, status: int) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["title"]
    return body


class TestMalformedBodies:
    @pytest.fixture
    def staff(self, client: TestClient, database: Database) -> dict[str, str]:
        load_demo_world(database.factory)
        return login_as(client, database.factory, RoleName.OPERATOR)

    def test_malformed_json_is_400(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        before = _donor_snapshot(database, "don-001")
        response = client.patch(
            "/api/donors/don-001",
            content='{"kana": "ヤ'.encode(),
            headers={**staff, "content-type": "application/json"},
        )
        body = _assert_problem(response, 400)
        assert body["code"] == "malformed_json"
        assert _donor_snapshot(database, "don-001") == before

    def test_unknown_field_is_422_and_names_it(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        before = _donor_snapshot(database, "don-001")
        response = client.patch(
            "/api/donors/don-001", headers=staff, json={"kana": "ヤマダ", "is_vip": True}
        )
        body = _assert_problem(response, 422)
        assert any(e["loc"][-1] == "is_vip" for e in body["errors"])  # type: ignore[attr-defined]
        assert _donor_snapshot(database, "don-001") == before

    @pytest.mark.parametrize(
        "payload",
        [
            {"kana": 42},
            {"email": "not-an-address"},
            {"postal_code": "12-34"},
            {"phone": "abc"},
            {"name": ""},
            [1, 2, 3],
            "just a string",
        ],
    )
    def test_wrong_types_are_422_and_write_nothing(
        self, client: TestClient, database: Database, staff: dict[str, str], payload: object
    ) -> None:
        before = _donor_snapshot(database, "don-001")
        response = client.patch("/api/donors/don-001", headers=staff, json=payload)
        _assert_problem(response, 422)
        assert _donor_snapshot(database, "don-001") == before

    def test_rejected_input_is_not_echoed(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        response = client.patch(
            "/api/donors/don-001", headers=staff, json={"email": "secret-person@@example"}
        )
        assert "secret-person" not in response.text

    def test_oversize_body_is_413(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        before = _donor_snapshot(database, "don-001")
        huge = json.dumps({"address": "あ" * 600_000}).encode()
        assert len(huge) > 1_048_576
        response = client.patch(
            "/api/donors/don-001",
            content=huge,
            headers={**staff, "content-type": "application/json"},
        )
        body = _assert_problem(response, 413)
        assert body["code"] == "payload_too_large"
        assert _donor_snapshot(database, "don-001") == before

    def test_oversize_body_without_length_is_413(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(20):
                yield b"x" * 100_000

        response = client.post(
            "/api/tickets", content=chunks(), headers={**staff, "content-type": "application/json"}
        )
        _assert_problem(response, 413)

    def test_unknown_ids_are_404(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        for path in ("/api/donors/don-999", "/api/orders/999999", "/api/tickets/424242"):
            _assert_problem(client.get(path, headers=staff), 404)
        _assert_problem(
            client.patch("/api/donors/don-999", headers=staff, json={"kana": "ア"}), 404
        )

    def test_id_of_the_wrong_type_is_422(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        _assert_problem(client.get("/api/orders/abc", headers=staff), 422)
        _assert_problem(client.get("/api/orders/99999999999999999999", headers=staff), 422)

    def test_unknown_route_and_method_are_problems(self, client: TestClient) -> None:
        _assert_problem(client.get("/api/nothing-here"), 404)
        _assert_problem(client.delete("/healthz"), 405)

    def test_ticket_for_unknown_order_writes_nothing(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/tickets", headers=staff, json={"subject": "件名", "order_id": 987654}
        )
        _assert_problem(response, 422)
        with database.factory() as s:
            assert s.scalar(select(func.count()).select_from(Ticket)) == 0


class TestUserCreation:
    def test_duplicate_username_is_409_and_nothing_half_written(
        self, client: TestClient, database: Database
    ) -> None:
        admin = login_as(client, database.factory, RoleName.ADMIN)
        body = {"username": "sato", "password": "correct-horse-battery", "role": "operator"}
        assert client.post("/api/users", headers=admin, json=body).status_code == 201
        _assert_problem(client.post("/api/users", headers=admin, json=body), 409)
        with database.factory() as s:
            assert (
                s.scalar(select(func.count()).select_from(User).where(User.username == "sato")) == 1
            )

    @pytest.mark.parametrize(
        "body",
        [
            {"username": "a", "password": "short", "role": "operator"},
            {"username": "b", "password": "correct-horse-battery", "role": "municipality"},
            {
                "username": "c",
                "password": "correct-horse-battery",
                "role": "supplier",
                "supplier_id": "sup-404",
            },
            {
                "username": "d",
                "password": "correct-horse-battery",
                "role": "operator",
                "municipality_id": "ise",
            },
            {"username": "e", "password": "correct-horse-battery", "role": "emperor"},
        ],
    )
    def test_invalid_user_is_422(
        self, client: TestClient, database: Database, body: dict[str, str]
    ) -> None:
        load_demo_world(database.factory)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        _assert_problem(client.post("/api/users", headers=admin, json=body), 422)
        with database.factory() as s:
            assert (
                s.scalar(
                    select(func.count()).select_from(User).where(User.username == body["username"])
                )
                == 0
            )

    def test_operators_cannot_create_users(self, client: TestClient, database: Database) -> None:
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        body = {"username": "x1", "password": "correct-horse-battery", "role": "admin"}
        _assert_problem(client.post("/api/users", headers=operator, json=body), 403)
