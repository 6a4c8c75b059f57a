"""`support report monthly ...`: a municipality's monthly report to a file."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def report() -> None:
    """Reports to municipalities."""


@report.command("monthly")
@click.option("--municipality", required=True, help="Municipality id, e.g. ise.")
@click.option("--month", required=True, help="Month in Japan time, YYYY-MM.")
@click.option(
    "--format", "fmt", type=click.Choice(["pdf", "html", "csv"]), default="pdf", show_default=True
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write ('-' for standard output).",
)
def report_monthly(municipality: str, month: str, fmt: str, out: Path) -> None:
    """Write one municipality's report of one month (its tickets only)."""
    from support.cli import settings_from_env
    from support.db import make_engine, make_session_factory
    from support.tickets.policy import default_policy_dir, load_policies
    from support.tickets.report_store import render
    from support.tickets.reports import ReportMonth, build_monthly_report, policy_for

    settings = settings_from_env()
    parsed = ReportMonth.parse(month)
    policy = policy_for(load_policies(settings.policy_dir or default_policy_dir()), municipality)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            built = build_monthly_report(session=session, policy=policy, month=parsed)
    finally:
        engine.dispose()
    data = render(built, fmt, font_path=settings.report_font)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise click.UsageError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"{out}: {built.municipality_name} {built.month.label} {built.total}件 ({fmt})")
