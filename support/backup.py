"""Whole-database backups: one archive with the data and a manifest, restored only into emptiness.

An archive is an uncompressed tar of two members: `manifest.json` first (format, backend,
migration revision, each table's row count and content checksum, the data member's size and
SHA-256), then the data: a SQLite copy taken with SQLite's online backup API, or a PostgreSQL
custom-format dump taken by pg_dump at the same exported snapshot the checksums were read in.
Restore checks the archive whole before touching the database, writes into the configured
database only when it holds no table, and compares every table with the manifest afterwards;
a restore that does not match is undone.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from support import backup_pg
from support.backup_manifest import TableDigest, alembic_revision, compare, database_digests
from support.db import make_engine, utcnow
from support.errors import SupportError
from support.logs import mask_pii
from support.migrations import alembic_config

log = logging.getLogger("support.backup")

FORMAT = "support-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_NAMES = {"sqlite": "data/support.sqlite3", "postgresql": "data/support.pgdump"}
_CHUNK = 1 << 20
_MAX_MANIFEST_BYTES = 4 << 20


class BackupError(SupportError):
    """The archive is unusable here, or the target database is not empty."""

    status = 422
    title = "バックアップを処理できません"
    code = "backup_refused"


@dataclass(frozen=True)
class DataMember:
    """The archive member holding the database itself."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside the data and checked on restore."""

    backend: str
    alembic_revision: str | None
    tables: dict[str, TableDigest]
    data: DataMember
    created_at: str
    server_version: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        """Return the number of rows over every table."""
        return sum(t.rows for t in self.tables.values())

    def to_json(self) -> bytes:
        """Return the manifest as indented UTF-8 JSON."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse a manifest; raise BackupError when it is not one this code can restore."""
        try:
            doc = json.loads(raw.decode("utf-8"))
            if doc.get("format") != FORMAT:
                raise BackupError(
                    "support のバックアップではありません (manifest の format が違います)"
                )
            if doc.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"バックアップ形式のバージョン {doc.get('format_version')} には対応していません"
                )
            return cls(
                backend=str(doc["backend"]),
                alembic_revision=doc["alembic_revision"],
                tables={
                    str(name): TableDigest(rows=int(t["rows"]), sha256=str(t["sha256"]))
                    for name, t in doc["tables"].items()
                },
                data=DataMember(
                    name=str(doc["data"]["name"]),
                    bytes=int(doc["data"]["bytes"]),
                    sha256=str(doc["data"]["sha256"]),
                ),
                created_at=str(doc["created_at"]),
                server_version=str(doc.get("server_version", "")),
            )
        except BackupError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError("manifest.json が壊れています") from exc


@contextmanager
def _database_errors() -> Iterator[None]:
    """Turn a database that cannot be reached or written into a one-line BackupError."""
    try:
        yield
    except (OperationalError, sqlite3.Error) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
        raise BackupError(f"データベースを使えません: {mask_pii(first[0])[:300]}") from exc


def backend_of(url: str) -> str:
    """Return "sqlite" or "postgresql" for a database URL; refuse anything else."""
    name = make_url(url).get_backend_name()
    if name not in DATA_NAMES:
        raise BackupError(f"{name} のデータベースのバックアップには対応していません")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("SQLite のデータベースファイルが設定されていません")
    return Path(database)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _digests_of(url: str, metadata: MetaData) -> tuple[dict[str, TableDigest], str | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return database_digests(conn, metadata), alembic_revision(conn)
    finally:
        engine.dispose()


def _server_version(conn: Connection) -> str:
    if conn.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    return str(conn.execute(text("SELECT current_setting('server_version')")).scalar_one())


# --- create ---------------------------------------------------------------------------------


def _snapshot_sqlite(url: str, work: Path, metadata: MetaData) -> Manifest:
    source = _sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"SQLite のデータベース {source} がありません")
    copy = work / "support.sqlite3"
    src = sqlite3.connect(source)
    dst = sqlite3.connect(copy)
    try:
        # One step (pages=-1): the copy is one consistent read; writers keep going under WAL.
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()
    tables, revision = _digests_of(f"sqlite:///{copy}", metadata)
    return Manifest(
        backend="sqlite",
        alembic_revision=revision,
        tables=tables,
        data=DataMember(DATA_NAMES["sqlite"], copy.stat().st_size, _sha256_file(copy)),
        created_at=utcnow().isoformat(),
        server_version=f"SQLite {sqlite3.sqlite_version}",
    )


def _snapshot_postgresql(url: str, work: Path, metadata: MetaData, bindir: Path | None) -> Manifest:
    tools = backup_pg.find_pg_bindir(bindir)
    dump_file = work / "support.pgdump"
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            # The checksums and pg_dump read the same exported snapshot, so the manifest
            # describes exactly the dumped rows even while the service keeps writing.
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            backup_pg.dump(tools, url, dump_file, snapshot=snapshot)
            tables = database_digests(conn, metadata)
            revision = alembic_revision(conn)
            version = _server_version(conn)
            conn.rollback()
    finally:
        engine.dispose()
    return Manifest(
        backend="postgresql",
        alembic_revision=revision,
        tables=tables,
        data=DataMember(
            DATA_NAMES["postgresql"], dump_file.stat().st_size, _sha256_file(dump_file)
        ),
        created_at=utcnow().isoformat(),
        server_version=version,
    )


def _write_archive(out: Path, manifest: Manifest, data_file: Path) -> None:
    partial = out.with_name(out.name + ".partial")
    raw = manifest.to_json()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mode, info.mtime = len(raw), 0o600, int(time.time())
                tar.addfile(info, io.BytesIO(raw))
                data = tarfile.TarInfo(manifest.data.name)
                data.size, data.mode, data.mtime = manifest.data.bytes, 0o600, info.mtime
                with open(data_file, "rb") as src:
                    tar.addfile(data, src)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def create_backup(
    *, url: str, metadata: MetaData, out: Path, pg_bindir: Path | None = None
) -> Manifest:
    """Back up the whole database at `url` into the archive `out` (written atomically, 0600)."""
    backend = backend_of(url)
    if out.is_dir():
        raise BackupError(f"{out} はディレクトリです")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} がありません")
    started = time.perf_counter()
    with (
        _database_errors(),
        tempfile.TemporaryDirectory(prefix=".support-backup-", dir=out.parent) as tmp,
    ):
        work = Path(tmp)
        if backend == "sqlite":
            manifest = _snapshot_sqlite(url, work, metadata)
        else:
            manifest = _snapshot_postgresql(url, work, metadata, pg_bindir)
        _write_archive(out, manifest, work / Path(manifest.data.name).name)
    log.info(
        "backup created",
        extra={
            "backend": backend,
            "tables": len(manifest.tables),
            "rows": manifest.total_rows,
            "bytes": out.stat().st_size,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return manifest


# --- read and check an archive -------------------------------------------------------------


def _member_file(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{member.name} はファイルではありません")
    return handle


def _copy_checked(src: IO[bytes], write: Callable[[bytes], object], member: DataMember) -> None:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        write(chunk)
    if size != member.bytes:
        raise BackupError(f"バックアップが途中で切れています ({size} / {member.bytes} バイト)")
    if digest.hexdigest() != member.sha256:
        raise BackupError("バックアップのデータが manifest のチェックサムと一致しません")


def verify_archive(archive: Path) -> Manifest:
    """Check the archive's layout, size and data checksum; return its manifest."""
    with _open_archive(archive) as (tar, manifest, member):
        _copy_checked(_member_file(tar, member), lambda _chunk: None, manifest.data)
        return manifest


@contextmanager
def _open_archive(archive: Path) -> Iterator[tuple[tarfile.TarFile, Manifest, tarfile.TarInfo]]:
    if not archive.is_file():
        raise BackupError(f"{archive} がありません")
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = tar.getmembers()
            if not members or members[0].name != MANIFEST_NAME or not members[0].isfile():
                raise BackupError("manifest.json で始まる support のバックアップではありません")
            if members[0].size > _MAX_MANIFEST_BYTES:
                raise BackupError("manifest.json が大きすぎます")
            manifest = Manifest.from_json(_member_file(tar, members[0]).read())
            data = [m for m in members[1:] if m.name == manifest.data.name and m.isfile()]
            if len(members) != 2 or len(data) != 1:
                raise BackupError("バックアップの中身が manifest と一致しません")
            member = data[0]
            # A cut inside the end-of-archive blocks loses no data, yet a file that is not
            # exactly as long as its own tar layout was not written whole: refuse it.
            end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            end += 2 * tarfile.BLOCKSIZE
            expected = -(-end // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
            if archive.stat().st_size < expected:
                raise BackupError("バックアップが途中で切れています")
            if archive.stat().st_size > expected:
                raise BackupError("バックアップの末尾に余分なデータがあります")
            yield tar, manifest, member
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(
            f"バックアップを読めません (途中で切れているか壊れています): {exc}"
        ) from exc


def _extract_checked(archive: Path, work: Path) -> tuple[Manifest, Path]:
    with _open_archive(archive) as (tar, manifest, member):
        if member.size != manifest.data.bytes:
            raise BackupError("バックアップのデータの大きさが manifest と一致しません")
        target = work / Path(manifest.data.name).name
        with open(target, "wb") as dst:
            _copy_checked(_member_file(tar, member), dst.write, manifest.data)
    return manifest, target


# --- restore -------------------------------------------------------------------------------


def _check_revision(manifest: Manifest) -> None:
    if manifest.alembic_revision is None:
        raise BackupError("バックアップにマイグレーションのリビジョンがありません")
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {s.revision for s in script.walk_revisions()}
    unknown = sorted(set(manifest.alembic_revision.split(",")) - known)
    if unknown:
        raise BackupError(
            f"このバージョンの support が知らないリビジョン {','.join(unknown)} のバックアップです"
        )


def _tables_present(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            else:
                query = (
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')"
                    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
                )
            return sorted(conn.execute(text(query)).scalars())
    finally:
        engine.dispose()


def _refuse_unless_empty(url: str) -> None:
    if make_url(url).get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return
    present = _tables_present(url)
    if present:
        raise BackupError(
            f"復元先のデータベースが空ではありません (テーブル {len(present)} 個); "
            "空のデータベースを用意してください"
        )


def _restore_sqlite(url: str, data_file: Path) -> None:
    target = _sqlite_path(url)
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} がありません")
    src = sqlite3.connect(data_file)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()


def _empty_again(url: str) -> None:
    """Undo a restore that did not verify, so the database is as empty as it was."""
    if backend_of(url) == "sqlite":
        dst = sqlite3.connect(_sqlite_path(url))
        empty = sqlite3.connect(":memory:")
        try:
            empty.backup(dst)
        finally:
            empty.close()
            dst.close()
        return
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            for name in names:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def verify_database(url: str, metadata: MetaData, manifest: Manifest) -> list[str]:
    """Return the tables of the database at `url` that differ from the manifest."""
    tables, revision = _digests_of(url, metadata)
    problems = compare(manifest.tables, tables)
    if revision != manifest.alembic_revision:
        problems.append(f"alembic_version: {revision} (期待 {manifest.alembic_revision})")
    return problems


def restore_backup(
    *,
    url: str,
    metadata: MetaData,
    archive: Path,
    pg_bindir: Path | None = None,
    jobs: int = 1,
) -> Manifest:
    """Restore `archive` into the empty database at `url`, then verify every table."""
    backend = backend_of(url)
    started = time.perf_counter()
    scratch = archive.parent if backend == "postgresql" else _sqlite_path(url).parent
    if not scratch.is_dir():
        raise BackupError(f"{scratch} がありません")
    phases: dict[str, float] = {}
    with _database_errors():
        manifest = _restore_and_verify(url, metadata, archive, scratch, pg_bindir, jobs, phases)
    log.info(
        "backup restored",
        extra={
            "backend": backend,
            "tables": len(manifest.tables),
            "rows": manifest.total_rows,
            "seconds": round(time.perf_counter() - started, 3),
            **{f"{name}_seconds": round(value, 3) for name, value in phases.items()},
        },
    )
    return manifest


def _restore_and_verify(
    url: str,
    metadata: MetaData,
    archive: Path,
    scratch: Path,
    pg_bindir: Path | None,
    jobs: int,
    phases: dict[str, float],
) -> Manifest:
    """Check, restore, analyze and verify; record each phase's seconds in `phases`."""
    backend = backend_of(url)
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    with tempfile.TemporaryDirectory(prefix=".support-restore-", dir=scratch) as tmp:
        manifest, data_file = _extract_checked(archive, Path(tmp))
        lap("check")
        if manifest.backend != backend:
            raise BackupError(
                f"{manifest.backend} のバックアップは {backend} のデータベースに復元できません"
            )
        _check_revision(manifest)
        _refuse_unless_empty(url)
        if backend == "sqlite":
            _restore_sqlite(url, data_file)
        else:
            tools = backup_pg.find_pg_bindir(pg_bindir)
            try:
                backup_pg.restore(tools, url, data_file, jobs=jobs)
            except backup_pg.PgToolError:
                _empty_again(url)
                raise
        lap("load")
    if backend == "postgresql":
        # Fresh tables have no statistics; the planner needs them before the service starts.
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        engine.dispose()
        lap("analyze")
    problems = verify_database(url, metadata, manifest)
    lap("verify")
    if problems:
        _empty_again(url)
        raise BackupError(
            f"復元したデータが manifest と一致しないため取り消しました: {'; '.join(problems[:3])}"
        )
    return manifest
