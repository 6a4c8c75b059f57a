"""Alembic migrations; `support db upgrade` or `support.migrations.upgrade()` runs them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for this package's migrations and a database URL."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation treats % specially; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision`."""
    command.upgrade(alembic_config(url), revision)


@cache
def current_heads() -> frozenset[str]:
    """Return the head revisions the code expects."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
