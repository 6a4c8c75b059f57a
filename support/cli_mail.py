"""`support mail ...`: parse files, fetch from IMAP."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from support.adapters.ports import SentArchive
from support.config import MailAccount, Settings

if TYPE_CHECKING:
    from support.adapters.imap import ImapMailFetcher

log = logging.getLogger("support.cli")


def imap_fetcher(account: MailAccount, *, sent_folder: str = "Sent") -> ImapMailFetcher:
    """Return the IMAP adapter for one configured account."""
    from support.adapters.imap import ImapMailFetcher

    return ImapMailFetcher(
        account.host,
        account.port,
        account.username,
        account.password.get_secret_value(),
        ssl=account.security == "ssl",
        starttls=account.security == "starttls",
        move_to=account.move_to,
        sent_folder=sent_folder,
    )


def sent_archive(settings: Settings) -> SentArchive | None:
    """Return the IMAP Sent folder of the configured account, or None without accounts."""
    accounts = settings.mail_accounts
    chosen = next((a for a in accounts if a.name == settings.sent_account), None)
    if chosen is None and not settings.sent_account and accounts:
        chosen = accounts[0]
    if chosen is None:
        return None
    return imap_fetcher(chosen, sent_folder=settings.sent_folder)


@click.group()
def mail() -> None:
    """The shared mailbox."""


@mail.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def mail_parse(files: tuple[Path, ...], as_json: bool) -> None:
    """Parse mail files (RFC 5322) and print what the inbox would show; never crashes."""
    from support.mail.parsing import parse_message
    from support.mail.summary import summarise

    unreadable = 0
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            unreadable += 1
            line = {"file": str(path), "problems": [f"cannot read file: {exc.strerror}"]}
            click.echo(json.dumps(line, ensure_ascii=False) if as_json else f"{path}: {line}")
            continue
        summary = summarise(str(path), parse_message(raw))
        if as_json:
            click.echo(json.dumps(summary, ensure_ascii=False))
        else:
            names = ", ".join(a["filename"] for a in summary["attachments"]) or "-"
            click.echo(
                f"{path}\t{summary['from']}\t{summary['subject']}\tattachments: {names}"
                f"\tauto: {summary['auto_kind'] or '-'}"
            )
    if unreadable:
        click.echo(f"error: {unreadable} file(s) could not be read", err=True)
        sys.exit(2)


@mail.command("fetch")
@click.option("--once", is_flag=True, help="One pass over every account and folder, then exit.")
def mail_fetch(once: bool) -> None:
    """Fetch new mail from the configured IMAP accounts into the shared inbox."""
    from support.cli import settings_from_env
    from support.mail.poller import build_pollers, run_pollers

    settings = settings_from_env()
    if not settings.mail_accounts:
        raise click.UsageError("SUPPORT_MAIL_ACCOUNTS にIMAPアカウントが設定されていません")
    pollers = build_pollers(settings, imap_fetcher)
    if once:
        total = sum(p.run_once() for p in pollers)
        click.echo(f"fetched {total} messages")
        return
    run_pollers(pollers)


@mail.command("check")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    required=True,
    help="Read drafts as JSON lines from standard input.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (default).")
def mail_check(from_stdin: bool, as_json: bool) -> None:
    """Run the misdirect checks on drafts ({"id", "ticket", "to", "cc", "bcc", ...} lines)."""
    from support.cli import settings_from_env
    from support.db import make_engine, make_session_factory
    from support.mail.directory import load_directory
    from support.mail.guards import DraftMail, TicketContext, check_draft

    settings = settings_from_env()
    engine = make_engine(settings.resolved_database_url)
    domains = {a.rpartition("@")[2].lower() for a in settings.mail_addresses}
    with make_session_factory(engine)() as session:
        directory = load_directory(session=session, internal_domains=domains)
    engine.dispose()
    bad = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            ticket = TicketContext.from_mapping(data["ticket"])
            draft = DraftMail.from_mapping(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            bad += 1
            click.echo(f"error: line {number}: {type(exc).__name__}: {exc}", err=True)
            continue
        findings = check_draft(draft, ticket, directory)
        out = {
            "id": data.get("id"),
            "findings": [
                {"code": f.code, "severity": f.severity, "detail": f.message} for f in findings
            ],
        }
        click.echo(json.dumps(out, ensure_ascii=False))
    if bad:
        click.echo(f"error: {bad} line(s) could not be read", err=True)
        sys.exit(2)
