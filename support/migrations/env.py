"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from support.db import make_engine
from support.metadata import target_metadata

config = context.config


def run_migrations_online() -> None:
    """Run every pending migration in one connection."""
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"  # noqa: S101 - programming error, not input
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
