"""A fresh, empty database of the backend under test, to restore into."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Database
from tests.services.postgres import PostgresServer


@pytest.fixture
def empty_url(database: Database, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a new database holding no table, on the same backend."""
    if database.backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database()
