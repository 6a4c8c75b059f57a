"""`support import orders FILE --mapping MAP`: orders and donations from a portal CSV export."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("import")
def import_() -> None:
    """Import data exported by donation portals."""


@import_.command("orders")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The portal's column mapping file (YAML), e.g. examples/import/choice.yaml.",
)
def import_orders(file: Path, mapping_path: Path) -> None:
    """Upsert orders, donations and donors; bad rows are listed (line: reason) and skipped."""
    from support.auth import audit
    from support.auth.actor import Actor
    from support.auth.models import RoleName
    from support.cli import settings_from_env
    from support.db import make_engine, make_session_factory
    from support.tickets.order_import import import_orders as run
    from support.tickets.order_import import load_mapping

    mapping = load_mapping(mapping_path)
    settings = settings_from_env()
    engine = make_engine(settings.resolved_database_url)

    def problem(line: int, reason: str) -> None:
        click.echo(f"{file.name}:{line}: {reason}", err=True)

    try:
        stream = file.open("rb")
    except OSError as exc:
        raise click.UsageError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        with stream, make_session_factory(engine)() as session:
            report = run(
                session=session,
                stream=stream,
                mapping=mapping,
                name=file.name,
                on_problem=problem,
            )
            actor = Actor(user_id=None, username="cli:import", role=RoleName.ADMIN)
            # One audit entry per import: donors' personal data was written in bulk.
            audit.record(
                session,
                actor,
                action="import",
                resource_type="orders_csv",
                resource_id=file.name[:60],
                detail={
                    "portal": mapping.portal,
                    "rows": report.rows,
                    "bad_rows": report.bad_rows,
                    "created": report.counts.created,
                    "updated": report.counts.updated,
                },
            )
            session.commit()
    finally:
        engine.dispose()
    counts = report.counts
    click.echo(
        f"{file.name}: {report.rows} rows, orders created {counts.created.get('orders', 0)}, "
        f"updated {counts.updated.get('orders', 0)}, "
        f"unchanged {counts.unchanged.get('orders', 0)}; "
        f"donations created {counts.created.get('donations', 0)}; "
        f"bad rows {report.bad_rows}, duplicates {report.duplicates}"
    )
    if report.bad_rows:
        sys.exit(1)  # loaded, except the rows listed above
