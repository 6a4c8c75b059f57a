"""Every route of the OpenAPI schema, called by every role and without login, as the matrix says."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Database
from tests.security.authz_cases import ROLES, build_world, fresh_headers
from tests.security.authz_matrix import ALLOW, BODIES, DENY, HIDDEN, LOGIN, MATRIX, PUBLIC

_STATUS = {DENY: 403, HIDDEN: 404, LOGIN: 401}


def _routes(client: TestClient) -> list[str]:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    return [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]


def _fits(outcome: str, status: int) -> bool:
    if outcome == ALLOW:
        return status < 500 and status not in (401, 403, 404)
    if outcome == PUBLIC:
        return status < 500 and status not in (401, 403)
    return status == _STATUS[outcome]


class TestAuthorizationMatrix:
    def test_every_route_has_an_entry(self, client: TestClient) -> None:
        routes = _routes(client)
        missing = [r for r in routes if r not in MATRIX]
        assert not missing, (
            "routes without an authorization entry: add one line per route to "
            f"tests/security/authz_matrix.py MATRIX: {missing}"
        )
        stale = [r for r in MATRIX if r not in routes]
        assert not stale, f"MATRIX names routes the app no longer has: {stale}"

    def test_every_role_gets_what_the_matrix_says(
        self, client: TestClient, database: Database
    ) -> None:
        world = build_world(client, database)
        wrong: list[str] = []
        cases = 0
        for route in _routes(client):
            method, path = route.split(" ", 1)
            url = path.format(**world.params)
            body = BODIES.get(route, {}) if method in ("POST", "PUT", "PATCH") else None
            for role in ROLES:
                expected = MATRIX[route].expected(role)
                ending = path.endswith("/logout")
                headers = fresh_headers(client, world, role) if ending else world.headers[role]
                response = client.request(method, url, headers=headers, json=body)
                cases += 1
                if not _fits(expected, response.status_code):
                    wrong.append(f"{route} as {role}: {response.status_code}, expected {expected}")
                elif response.status_code in (401, 403, 404):
                    kind = response.headers.get("content-type", "")
                    if not kind.startswith("application/problem+json"):
                        wrong.append(f"{route} as {role}: {response.status_code} is not a problem")
        assert cases == len(MATRIX) * len(ROLES)
        assert not wrong, "\n".join(wrong)
