"""Migrations: they build the schema the models describe, on both backends, and go back."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from support.db import make_engine
from support.metadata import target_metadata
from support.migrations import alembic_config, upgrade
from tests.conftest import Database


class TestMigrations:
    def test_migrated_schema_matches_the_models(self, database: Database) -> None:
        with database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), target_metadata)
        assert diff == []

    def test_upgrade_is_idempotent(self, database: Database) -> None:
        upgrade(database.url)
        upgrade(database.url)
        assert "orders" in inspect(database.engine).get_table_names()

    def test_downgrade_to_base_and_back(self, tmp_path: object) -> None:
        from pathlib import Path

        from alembic import command

        assert isinstance(tmp_path, Path)
        url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
        upgrade(url)
        command.downgrade(alembic_config(url), "base")
        engine = make_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert "audit_events" in inspect(engine).get_table_names()
        engine.dispose()
