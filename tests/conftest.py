"""Fixtures shared by every test: the two databases and the app on top of them.

Every test that touches the database runs twice: on SQLite and on a throwaway PostgreSQL
server started on 127.0.0.1 for the session. Each backend is migrated once; tables are
emptied after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from support.adapters.fakes import InMemorySearchIndex
from support.app import Adapters, create_app
from support.config import Settings
from support.db import make_engine, make_session_factory
from support.logs import configure_logging
from support.metadata import target_metadata
from support.migrations import upgrade
from tests.services.postgres import PostgresServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WORLD_FILE = SHARED / "data" / "world.json"
BUNDLED_WORLD = Path(__file__).resolve().parents[1] / "support" / "demo" / "world.json"
# Tables whose rows come from migrations, not from tests.
_KEEP = {"roles", "alembic_version"}


def pytest_configure(config: pytest.Config) -> None:
    """Route every log line through the masked JSON handler, at the configured level."""
    configure_logging(os.environ.get("SUPPORT_LOG_LEVEL", "INFO"))


@dataclass
class Database:
    """A migrated database of one backend."""

    backend: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]

    def truncate(self) -> None:
        """Empty every table the tests fill."""
        tables = [t for t in reversed(target_metadata.sorted_tables) if t.name not in _KEEP]
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Start one PostgreSQL server for the whole run."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """Migrate one SQLite database file for the run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'support.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield Database("sqlite", url, engine, make_session_factory(engine))
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_db(pg_server: PostgresServer) -> Iterator[Database]:
    """Migrate one PostgreSQL database for the run."""
    url = pg_server.create_database("support_test")
    upgrade(url)
    engine = make_engine(url)
    yield Database("postgresql", url, engine, make_session_factory(engine))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Yield each backend in turn, emptied after the test."""
    db: Database = request.getfixturevalue(f"{request.param}_db")
    try:
        yield db
    finally:
        db.truncate()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """Yield a session on the backend under test; the test commits what it needs."""
    with database.factory() as s:
        yield s


@pytest.fixture
def search() -> InMemorySearchIndex:
    """Return an in-memory search index."""
    return InMemorySearchIndex()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """Return settings pointing at the backend under test."""
    return Settings(database_url=database.url, data_dir=tmp_path / "data", cookie_secure=False)


@pytest.fixture
def client(settings: Settings, search: InMemorySearchIndex) -> Iterator[TestClient]:
    """Yield an HTTP client for the app on the backend under test."""
    app = create_app(settings, adapters=Adapters(search=search))
    with TestClient(app) as test_client:
        yield test_client
