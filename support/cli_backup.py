"""`support backup create|restore|show`: whole-database archives with a verified manifest."""

from __future__ import annotations

from pathlib import Path

import click

_PG_BINDIR = click.option(
    "--pg-bindir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SUPPORT_PG_BINDIR",
    default=None,
    help="Directory of pg_dump/pg_restore (default: the newest /usr/lib/postgresql/*/bin).",
)


@click.group()
def backup() -> None:
    """Back up the database, or restore a backup into an empty database."""


@backup.command("create")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Archive file to write."
)
@_PG_BINDIR
def backup_create(out: Path, pg_bindir: Path | None) -> None:
    """Write the whole configured database and its manifest into one archive."""
    from support.backup import create_backup
    from support.cli import settings_from_env
    from support.metadata import target_metadata

    settings = settings_from_env()
    manifest = create_backup(
        url=settings.resolved_database_url, metadata=target_metadata, out=out, pg_bindir=pg_bindir
    )
    click.echo(
        f"{out}: {manifest.backend} revision {manifest.alembic_revision}, "
        f"{len(manifest.tables)} tables, {manifest.total_rows} rows"
    )


@backup.command("restore")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="PostgreSQL: parallel pg_restore jobs (more than 1 gives up the single transaction).",
)
@_PG_BINDIR
def backup_restore(archive: Path, jobs: int, pg_bindir: Path | None) -> None:
    """Restore an archive into the configured database, which must be empty; then verify it."""
    from support.backup import restore_backup
    from support.cli import settings_from_env
    from support.metadata import target_metadata

    settings = settings_from_env()
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    manifest = restore_backup(
        url=settings.resolved_database_url,
        metadata=target_metadata,
        archive=archive,
        pg_bindir=pg_bindir,
        jobs=jobs,
    )
    click.echo(
        f"restored {archive}: {len(manifest.tables)} tables, {manifest.total_rows} rows, "
        "every table matches the manifest"
    )


@backup.command("show")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
def backup_show(archive: Path) -> None:
    """Check an archive's data against its manifest and print the manifest (JSON)."""
    from support.backup import verify_archive

    click.echo(verify_archive(archive).to_json().decode())
