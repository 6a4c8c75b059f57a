"""Fixtures of the knowledge-base tests: the app with small public rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.adapters.fakes import InMemorySearchIndex
from support.adapters.ports import SearchIndex
from support.app import Adapters, create_app
from support.config import Settings
from tests.conftest import Database

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(database: Database, tmp_path: Path) -> Iterator[ClientFactory]:
    """Return a factory of started test clients; `index` and settings can be given."""
    started: list[TestClient] = []

    def make(index: SearchIndex, **overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "database_url": database.url,
            "data_dir": tmp_path / "data",
            "cookie_secure": False,
            "kb_public_burst": 3,
            "kb_public_rate_per_minute": 1,
            "trusted_proxies": ["10.0.0.1"],
        }
        values.update(overrides)
        client = TestClient(create_app(Settings(**values), adapters=Adapters(search=index)))
        client.__enter__()
        started.append(client)
        return client

    yield make
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def app_client(make_client: ClientFactory, search: InMemorySearchIndex) -> TestClient:
    """Return a client on the in-memory index, with a public burst of three searches."""
    return make_client(search)
