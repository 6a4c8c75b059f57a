"""`support kb ...`: import, export, search (one query or a batch) and reindex the FAQ."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

import click
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from support.adapters.ports import SearchIndex
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.config import Settings

if TYPE_CHECKING:
    from support.kb.schemas import ImportResult

_CLI_ACTOR = Actor(user_id=None, username="cli", role=RoleName.ADMIN)
_MAX_LINE_CHARS = 1_000_000


@dataclass
class _Engine:
    factory: sessionmaker[Session]
    index: SearchIndex


@contextmanager
def _engine(settings: Settings) -> Iterator[_Engine]:
    """Migrate, open the database and the configured search index once; close both after."""
    from support.app import build_adapters
    from support.cli import _migrate
    from support.db import make_engine, make_session_factory

    _migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    index = build_adapters(settings).search
    try:
        yield _Engine(make_session_factory(engine), index)
    finally:
        index.close()
        engine.dispose()


def _settings() -> Settings:
    from support.cli import settings_from_env

    return settings_from_env()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "line"
    return f"{where}: {err.get('msg')}"


def _read_json_lines(handle: IO[str], what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        if len(line) > _MAX_LINE_CHARS:
            raise click.UsageError(f"{what} line {number}: longer than {_MAX_LINE_CHARS} chars")
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"{what} line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise click.UsageError(f"{what} line {number}: not a JSON object")
        yield number, data


@click.group()
def kb() -> None:
    """The FAQ knowledge base."""


@kb.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def kb_import(file: IO[str]) -> None:
    """Import FAQ articles from JSON lines (faq.jsonl); all of the file or nothing."""
    result = import_faq(file, _settings())
    click.echo(f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}")


def import_faq(file: IO[str], settings: Settings) -> ImportResult:
    """Validate FAQ lines and import them in one transaction; bad input is a UsageError."""
    from support.db import transaction
    from support.kb import service
    from support.kb.schemas import ImportRow

    rows = []
    try:
        for number, data in _read_json_lines(file, "faq"):
            try:
                rows.append(ImportRow.model_validate(data))
            except ValidationError as exc:
                raise click.UsageError(f"faq line {number}: {_first_error(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise click.UsageError("faq file is not UTF-8") from exc
    if not rows:
        raise click.UsageError("faq file holds no article")
    with _engine(settings) as engine, transaction(engine.factory) as session:
        return service.import_rows(session=session, index=engine.index, actor=_CLI_ACTOR, rows=rows)


@kb.command("export")
@click.option("--drafts", is_flag=True, help="Also drafts, with a status field.")
def kb_export(drafts: bool) -> None:
    """Write the published articles as JSON lines (faq.jsonl format) to standard output."""
    from support.kb import service

    with _engine(_settings()) as engine, engine.factory() as session:
        for row in service.export_rows(session=session, include_drafts=drafts):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@kb.command("reindex")
def kb_reindex() -> None:
    """Rebuild the search index from the published articles."""
    from support.db import transaction
    from support.kb.indexing import reindex_all

    with _engine(_settings()) as engine, transaction(engine.factory) as session:
        count = reindex_all(session=session, index=engine.index)
    click.echo(f"indexed {count} articles")


@kb.command("search")
@click.argument("query", required=False)
@click.option("--municipality", default=None, help="The asker's municipality id, e.g. ise.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option(
    "--stdin",
    "batch",
    is_flag=True,
    help='Batch: read JSON lines {"q", "municipality"}; write one {"q", "ids"} line each.',
)
def kb_search(
    query: str | None, municipality: str | None, top: int, as_json: bool, batch: bool
) -> None:
    """Search the published FAQ, one question or a batch from standard input."""
    from support.db import transaction
    from support.kb import service
    from support.kb.indexing import catch_up

    if batch == (query is not None):
        raise click.UsageError("give either a QUERY or --stdin")
    queries: list[tuple[str, str | None]]
    if batch:
        try:
            lines = list(_read_json_lines(sys.stdin, "stdin"))
        except UnicodeDecodeError as exc:
            raise click.UsageError("stdin is not UTF-8") from exc
        queries = [_batch_query(n, data) for n, data in lines]
    else:
        queries = [(query or "", municipality)]
    with _engine(_settings()) as engine:
        with transaction(engine.factory) as session:
            catch_up(session=session, index=engine.index)
        with engine.factory() as session:
            for q, where in queries:
                hits = service.search(
                    session=session, index=engine.index, query=q, municipality=where, top=top
                )
                if batch:
                    line = {"q": q, "ids": [h.id for h in hits]}
                    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                elif as_json:
                    out = {"q": q, "ids": [h.id for h in hits], "hits": [asdict(h) for h in hits]}
                    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                else:
                    for rank, hit in enumerate(hits, start=1):
                        click.echo(f"{rank}. [{hit.id}] {hit.title} ({hit.score:.2f})")
                        click.echo(f"   {hit.answer_short}")
                    if not hits:
                        click.echo("該当する記事はありません")
            sys.stdout.flush()


def _batch_query(number: int, data: dict[str, Any]) -> tuple[str, str | None]:
    q = data.get("q")
    where = data.get("municipality")
    if not isinstance(q, str):
        raise click.UsageError(f'stdin line {number}: "q" must be a string')
    if where is not None and not isinstance(where, str):
        raise click.UsageError(f'stdin line {number}: "municipality" must be a string or null')
    return q, where or None
