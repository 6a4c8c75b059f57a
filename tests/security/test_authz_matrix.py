"""Every route of the OpenAPI schema, called by every role and without login, as the matrix says."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from support.config import Settings
from support.ivr.router import router as ivr_router
from tests.conftest import Database
from tests.security.authz_cases import ROLES, build_world, fresh_headers, params_for
from tests.security.authz_matrix import ALLOW, BODIES, DENY, HIDDEN, LOGIN, MATRIX, PUBLIC

_STATUS = {DENY: 403, HIDDEN: 404, LOGIN: 401}
_TWILIO_TOKEN = "authz-matrix-token"
_PUBLIC = "https://desk.example.jp"


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """Settings whose login throttle lets the matrix log every role in (and out) again."""
    return Settings(
        database_url=database.url,
        data_dir=tmp_path / "data",
        cookie_secure=False,
        login_rate_limit=1000,
        public_base_url=_PUBLIC,
        twilio_auth_token=SecretStr(_TWILIO_TOKEN),
    )


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
            given = BODIES.get(route, {})
            body = given(world.params) if callable(given) else given
            if method not in ("POST", "PUT", "PATCH"):
                body = None
            for role in ROLES:
                url = path.format(**params_for(client, world, route))
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


# Lists filter instead of refusing: (url, world parameter, who sees the record, who must not).
_LISTS = (
    (
        "/api/tickets",
        "ticket_id",
        ("municipality", "supplier"),
        ("other_municipality", "other_supplier"),
    ),
    (
        "/api/orders",
        "order_id",
        ("municipality", "supplier"),
        ("other_municipality", "other_supplier"),
    ),
    ("/api/donors", "donor_id", ("municipality",), ("other_municipality",)),
    ("/api/kb/articles", "article_id", ("municipality",), ("other_municipality",)),
    ("/api/incidents", "incident_id", ("municipality",), ("other_municipality",)),
    ("/api/donor-requests", "request_id", ("municipality",), ("other_municipality",)),
)


def _ids(body: object) -> set[str]:
    rows = body["items"] if isinstance(body, dict) else body
    assert isinstance(rows, list)
    return {str(row["id"]) for row in rows}


class TestScopedLists:
    def test_lists_show_the_record_in_scope_and_hide_it_outside(
        self, client: TestClient, database: Database
    ) -> None:
        world = build_world(client, database)
        for url, param, inside, outside in _LISTS:
            record = world.params[param]
            for role in inside:
                response = client.get(url, headers=world.headers[role])
                assert response.status_code == 200, (url, role, response.text)
                assert record in _ids(response.json()), (url, role)
            for role in outside:
                response = client.get(url, headers=world.headers[role])
                assert response.status_code == 200, (url, role, response.text)
                assert record not in _ids(response.json()), (url, role)


class TestTwilioWebhooks:
    def test_every_webhook_refuses_what_twilio_did_not_sign(
        self, client: TestClient, database: Database
    ) -> None:
        # Outside the OpenAPI schema: no login, only Twilio's signature of our public URL.
        world = build_world(client, database)
        paths = [r.path for r in ivr_router.routes if isinstance(r, APIRoute)]
        assert len(paths) >= 5, paths
        form = {"CallSid": "CA" + "0" * 32, "QueueTime": "1"}
        validator = RequestValidator(_TWILIO_TOKEN)
        wrong = validator.compute_signature(f"{_PUBLIC}/ivr/elsewhere", form)
        wrong_token = RequestValidator("another-token").compute_signature(f"{_PUBLIC}/x", form)
        for path in paths:
            for role in ROLES:
                for signature in (None, "", wrong, wrong_token):
                    headers = dict(world.headers[role])
                    if signature is not None:
                        headers["X-Twilio-Signature"] = signature
                    response = client.post(path, data=form, headers=headers)
                    assert response.status_code == 403, (path, role, signature)
                    kind = response.headers["content-type"]
                    assert kind.startswith("application/problem+json"), (path, role)
        # The same request signed for its own URL passes the check.
        signed = validator.compute_signature(f"{_PUBLIC}/ivr/queue-wait", form)
        ok = client.post("/ivr/queue-wait", data=form, headers={"X-Twilio-Signature": signed})
        assert ok.status_code == 200, ok.text
