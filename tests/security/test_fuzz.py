"""Schemathesis against the OpenAPI schema: generated requests, valid or not, never get a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from support.auth.models import RoleName
from tests.conftest import Database
from tests.factories import load_demo_world, login_as

# Examples per operation and mode: 89 operations x 2 modes x 5 (about 790 requests once the
# operations with nothing to make invalid are left out), about 15 s per backend; lower it
# rather than let the run grow when routes are added.
EXAMPLES = 5
# Routes that end the caller's session would log the fuzzer out halfway.
SKIP = {("POST", "/api/auth/logout")}


def _fuzz(client: TestClient, headers: dict[str, str]) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[str] = []
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        for mode in ("positive", "negative"):
            strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, data=st.data())
            def run(case: Any, data: Any) -> None:
                nonlocal cases
                cases += 1
                try:
                    status = case.call(headers=headers).status_code
                except Exception as exc:  # noqa: BLE001 - an unhandled error is a 500
                    status = 500
                    failures.append(f"{case.method} {case.formatted_path}: {exc!r}")
                    return
                if status >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {status}: {case.as_curl_command()}"
                    )

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): the positive run covers it.
                assert mode == "negative", operation.path
    return cases, failures


class TestFuzz:
    def test_no_generated_request_gets_a_server_error(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        headers = login_as(client, database.factory, RoleName.ADMIN)
        cases, failures = _fuzz(client, headers)
        print(f"fuzz: {cases} generated requests")
        assert cases > 300
        assert not failures, "\n".join(failures[:20])
