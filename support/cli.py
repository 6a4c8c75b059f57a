"""The `support` command: serve, worker, db, demo, user."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from support.adapters.ports import MailSender
from support.config import Settings
from support.errors import SupportError
from support.logs import configure_logging

log = logging.getLogger("support.cli")


def settings_from_env() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SUPPORT_" + "_".join(str(p) for p in first["loc"]).upper()
        raise click.UsageError(f"環境変数 {name} が不正です: {first['msg']}") from exc
    configure_logging(settings.log_level)
    return settings


def _migrate(settings: Settings) -> None:
    if settings.log_level != "DEBUG":
        # Alembic narrates every plugin it loads; only problems are worth a log line here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    from support.migrations import upgrade

    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from support.app import create_app

    _migrate(settings)
    app = create_app(settings)
    log.info("serving", extra={"host": host, "port": port})
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ふるさと納税コンタクトセンター基盤 support のコマンド."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Migrate the database, then serve the API and the console."""
    _serve(settings_from_env(), host, port)


def smtp_sender(settings: Settings) -> MailSender | None:
    """Return the SMTP adapter, or None when no SMTP server is configured."""
    if not settings.smtp_host:
        return None
    from support.adapters.smtp import SmtpMailSender

    return SmtpMailSender(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        security=settings.smtp_security,
    )


@cli.command()
@click.option("--once", is_flag=True, help="Run the due jobs, then exit.")
@click.option("--idle-seconds", default=1.0, show_default=True, type=click.FloatRange(0.01, 60))
def worker(once: bool, idle_seconds: float) -> None:
    """Run background work: mail fetching (IDLE), acknowledgements, maintenance."""
    from support.cli_mail import imap_fetcher, sent_archive
    from support.db import make_engine, make_session_factory
    from support.mail.poller import build_pollers, start_pollers
    from support.worker import build_runner, schedule_maintenance

    settings = settings_from_env()
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    from support.app import build_adapters

    runner = build_runner(
        factory,
        settings,
        smtp_sender(settings),
        search=build_adapters(settings).search,
        archive=sent_archive(settings),
    )
    if once:
        schedule_maintenance(factory)
        click.echo(f"ran {runner.run_until_idle()} jobs")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pollers = build_pollers(settings, imap_fetcher)
    for poller in pollers:
        poller.stop = stop
    start_pollers(pollers)
    log.info("worker started", extra={"worker_id": runner.worker_id, "pollers": len(pollers)})
    while not stop.is_set():
        schedule_maintenance(factory)
        runner.run_until_idle(max_jobs=100)
        stop.wait(idle_seconds)
    log.info("worker stopped")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_from_env()
    _migrate(settings)
    click.echo("database is up to date")


def _load_world(settings: Settings, path: Path) -> dict[str, Any]:
    from support.db import make_engine, make_session_factory, transaction
    from support.tickets.world import load_world, read_world

    world = read_world(path)
    _migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            counts = load_world(session=session, world=world)
    finally:
        engine.dispose()
    return {"created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged}


@cli.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def demo(ctx: click.Context, host: str, port: int) -> None:
    """Load the bundled demo world and demo users, then serve."""
    if ctx.invoked_subcommand is not None:
        return
    from support.cli_kb import import_faq
    from support.db import make_engine, make_session_factory, transaction
    from support.demo import bundled_faq_path, bundled_world_path, ensure_demo_users

    settings = settings_from_env()
    summary = _load_world(settings, bundled_world_path())
    with bundled_faq_path().open(encoding="utf-8") as faq:
        articles = import_faq(faq, settings)
    engine = make_engine(settings.resolved_database_url)
    credentials_file = settings.data_dir / "demo-credentials.json"
    with transaction(make_session_factory(engine)) as session:
        logins = ensure_demo_users(session=session, credentials_file=credentials_file)
    engine.dispose()
    click.echo(f"demo world loaded: {json.dumps(summary['created'], ensure_ascii=False)}")
    click.echo(f"demo FAQ: {articles.created} new, {articles.unchanged} unchanged articles")
    click.echo(f"demo logins (also in {credentials_file}):")
    for username, password in logins.items():
        click.echo(f"  {username:12} {password}")
    click.echo(f"API docs: http://{host}:{port}/docs")
    _serve(settings, host, port)


@demo.command("load")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def demo_load(path: Path) -> None:
    """Import a world file (municipalities, suppliers, donors, orders); idempotent."""
    summary = _load_world(settings_from_env(), path)
    click.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))


@cli.group()
def user() -> None:
    """People who log in."""


@user.command("add")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator", "supervisor", "admin", "municipality", "supplier"]),
)
@click.option("--municipality", default=None, help="Municipality id, for the municipality role.")
@click.option("--supplier", default=None, help="Supplier id, for the supplier role.")
@click.option("--display-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(
    username: str,
    role: str,
    municipality: str | None,
    supplier: str | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Create a user; the password is prompted for, or read from standard input."""
    from support.auth import service as auth_service
    from support.auth.models import RoleName
    from support.db import make_engine, make_session_factory, transaction

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("パスワード", hide_input=True, confirmation_prompt=True)
    settings = settings_from_env()
    _migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        created = auth_service.create_user(
            session=session,
            username=username,
            password=password,
            role=RoleName(role),
            display_name=display_name,
            municipality_id=municipality,
            supplier_id=supplier,
        )
        click.echo(f"user {created.username} created (id {created.id}, role {created.role})")
    engine.dispose()


@user.command("list")
def user_list() -> None:
    """List users."""
    from support.auth import service as auth_service
    from support.db import make_engine, make_session_factory, transaction

    settings = settings_from_env()
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        for u in auth_service.list_users(session=session):
            org = u.municipality_id or u.supplier_id or "-"
            click.echo(f"{u.id}\t{u.username}\t{u.role}\t{org}\t{'active' if u.active else '-'}")
    engine.dispose()


def _register_groups() -> None:
    from support.cli_backup import backup
    from support.cli_import import import_
    from support.cli_ivr import ivr
    from support.cli_kb import kb
    from support.cli_mail import mail
    from support.cli_municipality import municipality
    from support.cli_report import report

    cli.add_command(ivr)
    cli.add_command(kb)
    cli.add_command(mail)
    cli.add_command(report)
    cli.add_command(backup)
    cli.add_command(import_)
    cli.add_command(municipality)


_register_groups()


def main(argv: list[str] | None = None) -> None:
    """Run the command; expected errors exit 2 with a one-line reason."""
    try:
        cli.main(args=argv, prog_name="support", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except SupportError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
