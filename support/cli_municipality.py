"""`support municipality export|erase|import`: contract end for one municipality."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def municipality() -> None:
    """Contract end: return (export) and erase one municipality's records."""


@municipality.command("export")
@click.argument("municipality_id")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Empty or new directory for the JSON lines, files and manifest.",
)
def export_command(municipality_id: str, out: Path) -> None:
    """Write every record and file of one municipality, with a checksummed manifest."""
    from support.cli import _migrate, settings_from_env
    from support.db import make_engine
    from support.lifecycle.contract import export_municipality

    settings = settings_from_env()
    _migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        result = export_municipality(engine, municipality_id, out)
    finally:
        engine.dispose()
    summary = {
        "municipality": municipality_id,
        "out": str(out),
        "rows": result.counts,
        "context_rows": result.context_counts,
        "files": result.files,
        "manifest_sha256": result.manifest_sha256,
    }
    click.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))


@municipality.command("erase")
@click.argument("municipality_id")
@click.option("--confirm", is_flag=True, help="Really erase; without it nothing is done.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The export returned to the municipality; its checksums are verified first.",
)
@click.option(
    "--certificate",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the erasure certificate PDF (default: erasure-ID.pdf here).",
)
def erase_command(
    municipality_id: str, confirm: bool, export_dir: Path | None, certificate: Path | None
) -> None:
    """Erase one municipality everywhere (database, search index) and write a certificate."""
    if not confirm:
        raise click.UsageError(
            f"erasing {municipality_id} cannot be undone; run it again with --confirm"
        )
    from support.app import build_adapters
    from support.cli import _migrate, settings_from_env
    from support.db import make_engine
    from support.lifecycle.contract import erase_municipality

    settings = settings_from_env()
    _migrate(settings)
    target = certificate or Path(f"erasure-{municipality_id}.pdf")
    if target.parent and not target.parent.is_dir():
        raise click.UsageError(f"no such directory for the certificate: {target.parent}")
    engine = make_engine(settings.resolved_database_url)
    search = build_adapters(settings).search
    try:
        erasure = erase_municipality(
            engine,
            municipality_id,
            search=search,
            export_dir=export_dir,
            font_path=settings.report_font,
        )
    finally:
        search.close()
        engine.dispose()
    target.write_bytes(erasure.certificate)
    summary = {
        "municipality": municipality_id,
        "erased": erasure.result.counts,
        "index_documents": erasure.result.index_documents,
        "kept_context": erasure.result.kept_context,
        "certificate": str(target),
    }
    click.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))


@municipality.command("import")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
def import_command(directory: Path) -> None:
    """Load an export (checksums verified) into this database, all or nothing."""
    from support.cli import _migrate, settings_from_env
    from support.db import make_engine
    from support.lifecycle.contract import import_municipality

    settings = settings_from_env()
    _migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        inserted = import_municipality(engine, directory)
    finally:
        engine.dispose()
    click.echo(json.dumps({"inserted": inserted}, ensure_ascii=False, sort_keys=True))
