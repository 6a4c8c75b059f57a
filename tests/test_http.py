"""Health, readiness, request ids and OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.adapters.fakes import InMemorySearchIndex


class TestHealth:
    def test_healthz_says_ok(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_readyz_checks_database_and_search(self, client: TestClient) -> None:
        body = client.get("/readyz").json()
        assert body == {"status": "ready", "checks": {"database": True, "search": True}}

    def test_readyz_is_503_when_search_is_down(
        self, client: TestClient, search: InMemorySearchIndex
    ) -> None:
        search.healthy = False
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["search"] is False


class TestRequestIds:
    def test_every_response_carries_a_request_id(self, client: TestClient) -> None:
        assert len(client.get("/healthz").headers["x-request-id"]) >= 16

    def test_a_sane_incoming_request_id_is_kept(self, client: TestClient) -> None:
        response = client.get("/healthz", headers={"X-Request-ID": "lb-0123456789abcdef"})
        assert response.headers["x-request-id"] == "lb-0123456789abcdef"

    def test_a_hostile_request_id_is_replaced(self, client: TestClient) -> None:
        hostile = "abc\r\n<script>alert(1)</script>".encode("latin-1")
        response = client.get("/healthz", headers={"X-Request-ID": hostile})
        assert response.headers["x-request-id"].isalnum()

    def test_problem_bodies_carry_the_request_id(self, client: TestClient) -> None:
        response = client.get("/api/donors")
        assert response.json()["request_id"] == response.headers["x-request-id"]


class TestOpenApi:
    def test_openapi_lists_the_core_routes(self, client: TestClient) -> None:
        paths = client.get("/openapi.json").json()["paths"]
        for path in (
            "/api/auth/token",
            "/api/donors/{donor_id}",
            "/api/orders/{order_id}",
            "/api/audit",
            "/healthz",
            "/readyz",
        ):
            assert path in paths

    def test_docs_page_is_served(self, client: TestClient) -> None:
        assert client.get("/docs").status_code == 200
